"""Batched first-position scoring of questions under each probe, with text-only references computed once per prompt."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm
from transformers import PreTrainedModel, ProcessorMixin

from lvlm_debias.inputs.images import load_image
from lvlm_debias.inputs.probes import check_probes, get_probe, probe_inputs, probe_prompt, probe_seeds
from lvlm_debias.models.families import family_of
from lvlm_debias.models.prompts import build_prompt
from lvlm_debias.scoring.first_token import FirstToken, FirstTokenSpec
from lvlm_debias.scoring.labels import YES_NO, label_of_token, label_probs

__all__ = [
    "YES_NO",
    "next_token_logits",
    "probe_frame",
    "score_prompts",
    "score_questions",
    "token_label_index",
]

log = logging.getLogger(__name__)


@torch.inference_mode()
def next_token_logits(model: PreTrainedModel, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Logits (N, V) of the next token after each left-padded row of ``inputs``."""
    family = family_of(model)
    batch = family.to_device(model, inputs)
    position_ids = family.positions(batch["attention_mask"], batch, model)
    out = family.forward(model, batch, position_ids=position_ids, use_cache=False, logits_to_keep=1)
    return out.logits[:, -1].float()


def token_label_index(processor: ProcessorMixin, labels: Mapping[str, Sequence[str]]) -> torch.Tensor:
    """For each vocabulary id of the processor's tokenizer, the index of the label it spells, or -1."""
    tokenizer = processor.tokenizer
    return label_of_token(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))), labels)


def score_prompts(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    prompts: Sequence[str],
    probe: str,
    labels: Mapping[str, Sequence[str]],
    *,
    images: Sequence[Image.Image] | None = None,
    noise_seeds: Sequence[int] | None = None,
    top_k: int,
    batch_size: int,
    store: FirstTokenSpec | None = None,
    desc: str | None = None,
) -> tuple[torch.Tensor, FirstToken | None]:
    """Raw label probabilities (len(prompts), len(labels)) under ``probe``, in batches of ``batch_size`` rows.

    With ``store``, also the first-position distribution (top tokens and log-normalisers) of every row.
    """
    token_labels = token_label_index(processor, labels)
    out, stored = [], []
    for start in tqdm(range(0, len(prompts), batch_size), desc=desc or probe, unit="batch", mininterval=2):
        rows = slice(start, start + batch_size)
        inputs = probe_inputs(
            processor,
            prompts[rows],
            probe,
            None if images is None else images[rows],
            None if noise_seeds is None else noise_seeds[rows],
        )
        logits = next_token_logits(model, inputs)
        out.append(label_probs(logits, token_labels, len(labels), top_k).cpu())
        if store is not None:
            stored.append(store.take(logits))
    probs = torch.cat(out) if out else torch.zeros(0, len(labels))
    return probs, (FirstToken.concat(stored) if store is not None and stored else None)


def probe_frame(questions: Sequence[Mapping], probe: str, probs: torch.Tensor, labels: Mapping) -> pd.DataFrame:
    """Rows ``question_id``, ``probe``, ``label`` and ``p_<label>`` of one probe's raw label probabilities."""
    frame = pd.DataFrame(
        {
            "question_id": [q["question_id"] for q in questions],
            "probe": probe,
            "label": [q["label"] for q in questions],
        }
    )
    for k, name in enumerate(labels):
        frame[f"p_{name}"] = probs[:, k].numpy().astype(np.float64)
    return frame


def score_questions(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    questions: Sequence[Mapping],
    image_root: Path,
    *,
    template: str,
    labels: Mapping[str, Sequence[str]],
    probes: Sequence[str],
    top_k: int,
    batch_size: int,
    seed: int = 0,
    store: FirstTokenSpec | None = None,
) -> tuple[pd.DataFrame, FirstToken | None, dict[str, int]]:
    """One row per question and probe: ``question_id``, ``probe``, ``label`` and raw ``p_<label>`` for each label.

    Probes that depend on the image (``Probe.per_image``: naive, noise) run once per question, in order, in batches
    of ``batch_size``; the others run once per distinct prompt, since their input depends on the prompt text alone.
    A seeded probe's noise is seeded by ``(seed, probe, image)``, so it does not depend on batching or sharding.
    With ``store``, the naive probe's first-position distribution is returned too. The third value counts forward
    passes (rows) per probe.
    """
    check_probes(probes)
    prompts = [build_prompt(template, q["text"]) for q in questions]
    frames, passes, first_token = [], {}, None
    images = None
    for probe in probes:
        if get_probe(probe).per_image:
            if images is None:
                images = [load_image(image_root, q) for q in questions]
            seeds = probe_seeds(probe, seed, [q["image"] for q in questions])
            probs, stored = score_prompts(
                model,
                processor,
                prompts,
                probe,
                labels,
                images=images,
                noise_seeds=seeds,
                top_k=top_k,
                batch_size=batch_size,
                store=store if probe == "naive" else None,
            )
            if stored is not None:
                first_token = stored.with_ids([q["question_id"] for q in questions])
            passes[probe] = len(prompts)
        else:
            asked = [probe_prompt(template, q["text"], probe) for q in questions]
            distinct = list(dict.fromkeys(asked))
            distinct_probs, _ = score_prompts(
                model, processor, distinct, probe, labels, top_k=top_k, batch_size=batch_size
            )
            row_of = {prompt: i for i, prompt in enumerate(distinct)}
            probs = distinct_probs[[row_of[p] for p in asked]]
            passes[probe] = len(distinct)
            log.info(
                "probe %s: %d forward passes for %d questions (%d saved by the per-prompt reference cache)",
                probe,
                len(distinct),
                len(prompts),
                len(prompts) - len(distinct),
            )
        frames.append(probe_frame(questions, probe, probs, labels))
    return pd.concat(frames, ignore_index=True), first_token, passes
