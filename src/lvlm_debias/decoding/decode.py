"""Generating answers with one decoding method of ``decoding.methods.DECODING_METHODS`` (naive, VCD, VDD-None,
VDD-Unk, VDD-Both, or one you register) under one decoding configuration, in batches.

The generation tables' settings and method order (:data:`SETTINGS`, :func:`setting_methods`) are read by jobs that
load no model, so torch, transformers and the model code are imported inside the functions that generate."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from tqdm.auto import tqdm

from lvlm_debias.decoding.base import DecodingParameters, GenerationBatch
from lvlm_debias.decoding.methods import NAIVE, decoding_method
from lvlm_debias.decoding.sampling import DecodingConfig
from lvlm_debias.inputs.images import load_image
from lvlm_debias.inputs.noise import stable_seed
from lvlm_debias.models.prompts import build_prompt

if TYPE_CHECKING:  # annotations only
    from PIL import Image
    from transformers import PreTrainedModel, ProcessorMixin

#: the decoding settings a generation run compares: the sweep's default, and its best sampling configuration
SETTINGS = ("default", "best")

log = logging.getLogger(__name__)


def decoding_setting(setting: str, sweep: Mapping, summary: pd.DataFrame | None, benchmark: str) -> DecodingConfig:
    """The configuration of ``setting``: "default" is ``sweep.default``; "best" is the best sampling configuration
    that the decoding sweep found for ``benchmark`` (``summary``: the rows of results/<model>/decoding.csv)."""
    if setting == "default":
        return DecodingConfig(**sweep.get("default", {}))
    if setting != "best":
        raise ValueError(f"unknown decoding setting {setting!r}; known: {list(SETTINGS)}")
    if summary is None:
        raise ValueError("the 'best' decoding setting needs the decoding sweep's summary table (decoding.csv)")
    rows = summary[summary["benchmark"] == benchmark]
    if rows.empty:
        raise ValueError(f"the decoding summary has no row for benchmark {benchmark!r}: {list(summary['benchmark'])}")
    return DecodingConfig.from_name(rows["best_sampling_config"].iloc[0])


def generate_texts(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    prompts: Sequence[str],
    images: Sequence[Image.Image],
    image_keys: Sequence[str],
    method: str,
    config: DecodingConfig,
    parameters: DecodingParameters,
    *,
    max_new_tokens: int,
    batch_size: int,
    seed: int,
) -> list[str]:
    """The generated text of each (prompt, image) under decoding method ``method`` (``DECODING_METHODS``) with its
    ``parameters``, and ``config``.

    Sampling is seeded per batch by ``(seed, method, config, first image key)``, and VCD's noise per image by
    ``(seed, "vcd-noise", image key)``, so a rerun gives the same texts.
    """
    import torch

    from lvlm_debias.inputs.probes import probe_inputs, probe_seeds
    from lvlm_debias.models.families import family_of

    decoder = decoding_method(method)
    if not len(prompts) == len(images) == len(image_keys):
        raise ValueError(f"{len(prompts)} prompts, {len(images)} images and {len(image_keys)} image keys")
    if max_new_tokens < 1 or batch_size < 1:
        raise ValueError(f"max_new_tokens and batch_size must be >= 1, got {max_new_tokens} and {batch_size}")
    texts: list[str] = []
    family = family_of(model)
    batches = tqdm(range(0, len(prompts), batch_size), desc=f"{method} {config.name}", unit="batch", mininterval=2)
    with torch.inference_mode():
        for start in batches:
            rows = slice(start, start + batch_size)
            batch_prompts, batch_images = list(prompts[rows]), list(images[rows])
            inputs = family.to_device(model, probe_inputs(processor, batch_prompts, NAIVE, batch_images))
            noise_seeds = probe_seeds("vcd-noise", seed, list(image_keys[rows]))
            batch = GenerationBatch(model, processor, batch_prompts, batch_images, noise_seeds)
            kwargs = decoder.generate_kwargs(batch, config, parameters)
            torch.manual_seed(stable_seed(seed, method, config.name, image_keys[start]))
            out = decoder.generate(batch, inputs, kwargs, max_new_tokens)
            length = inputs["input_ids"].shape[1]
            texts += [t.strip() for t in processor.tokenizer.batch_decode(out[:, length:], skip_special_tokens=True)]
    return texts


def setting_methods(methods: Sequence[str], setting: str, settings: Sequence[str]) -> list[str]:
    """The ``methods`` decoded at ``setting``: all of them at the first of the config's ``settings``; at the others,
    those whose answers depend on the sampling setting (``DecodingMethod.samples``; OPERA's would repeat)."""
    kept = [m for m in methods if setting == settings[0] or decoding_method(m).samples]
    if len(kept) < len(methods):
        log.info("setting %s: %s decoded at %s only (not sampled)", setting,
                 sorted(set(methods) - set(kept)), settings[0])  # fmt: skip
    return kept


def decode_records(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    records: Sequence[Mapping],
    image_root: str | Path,
    template: str,
    methods: Sequence[str],
    setting: str,
    config: DecodingConfig,
    parameters: DecodingParameters,
    *,
    max_new_tokens: int,
    batch_size: int,
    seed: int,
) -> pd.DataFrame:
    """Columns ``setting``, ``config``, ``method``, ``question_id``, ``image``, ``text``: every question record
    (``question_id``, ``image``, ``text``) answered under each of ``methods`` with :func:`generate_texts`. Images are
    read a chunk of batches at a time (once for all methods), so a large benchmark does not sit in memory; the texts do
    not depend on it (sampling is seeded per batch, and chunks hold whole batches)."""
    prompts = [build_prompt(template, r["text"]) for r in records]
    keys = [str(r["image"]) for r in records]
    chunk = batch_size * max(1, 512 // batch_size)
    texts: dict[str, list[str]] = {method: [] for method in methods}
    for start in range(0, len(records), chunk):  # each chunk's images are read once, for every method
        rows = slice(start, start + chunk)
        images = [load_image(Path(image_root), r) for r in records[rows]]
        for method in methods:
            texts[method] += generate_texts(
                model, processor, prompts[rows], images, keys[rows], method, config, parameters,
                max_new_tokens=max_new_tokens, batch_size=batch_size, seed=seed,
            )  # fmt: skip
    frames = [
        pd.DataFrame(
            {
                "setting": setting,
                "config": config.name,
                "method": method,
                "question_id": [r["question_id"] for r in records],
                "image": keys,
                "text": texts[method],
            }
        )
        for method in methods
    ]
    if not frames:
        return pd.DataFrame(columns=["setting", "config", "method", "question_id", "image", "text"])
    return pd.concat(frames, ignore_index=True)


def decode_with_entry(
    model_dir: str,
    entry: Mapping,
    records: Sequence[Mapping],
    image_root: str | Path,
    setting: str,
    decoding: Mapping,
    *,
    sweep: Mapping,
    summary: str | Path | None,
    benchmark: str,
    max_new_tokens: int,
    batch_size: int,
    seed: int,
) -> pd.DataFrame:
    """What a generation job runs: :func:`decode_records` at ``setting`` (:func:`decoding_setting`, with the decoding
    sweep's ``summary`` table read from its path for "best", on ``benchmark``), with the model of a config ``entry``
    (loaded from ``model_dir``) and its prompt, for the ``methods`` and the :class:`DecodingParameters` (``alpha``,
    ``beta``) of a config's ``generation`` section (``decoding``, as the schema filled it)."""
    from lvlm_debias.models.load import load_entry

    config = decoding_setting(setting, sweep, pd.read_csv(summary) if summary else None, benchmark)
    log.info("setting %s: %s", setting, config.name)
    methods = setting_methods(decoding["methods"], setting, decoding.get("settings", SETTINGS))
    model, processor = load_entry(model_dir, entry)
    return decode_records(
        model, processor, records, image_root, entry["prompt"], methods, setting, config,
        DecodingParameters.from_section(decoding), max_new_tokens=max_new_tokens, batch_size=batch_size, seed=seed,
    )  # fmt: skip
