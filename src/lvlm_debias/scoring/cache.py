"""The logit cache of a benchmark source: each distinct (image, question) pair scored once, each image's prefix
computed once, and every split's table gathered from it.

- :func:`score_pairs`: the per-image probes (naive, noise) of a shard's batches of pairs
  (:func:`lvlm_debias.scoring.pairs.image_batches`), one prefix pass per image and probe
  (:func:`lvlm_debias.scoring.prefix.prefix_logits`) where the model family allows it; a query-token family
  (InstructBLIP, whose Q-Former reads the question) runs whole prompts, and the log says so. The naive probe's
  first-position distribution is stored (``FirstToken``, keyed by pair id), and with the official reading on, what
  that needs (``LogitStore``).
- The other probes (none, unk, zero, one: their input depends on the prompt alone) run once per distinct prompt of
  the whole source (:func:`~lvlm_debias.scoring.score.score_questions` on the pairs).
- :func:`~lvlm_debias.scoring.gather.split_tables` (model-free, beside the other gathering): a split's label
  probabilities, stored distributions and logit cache, its questions given their pair's rows: the same tables as
  scoring the split alone.
- :func:`logit_store`: the pass that fills the logit store (``scoring.store``) for the official reading.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, ProcessorMixin

from lvlm_debias.decoding.sampling import pad_labels, stored_topk
from lvlm_debias.inputs.images import load_image
from lvlm_debias.inputs.probes import PROBES, get_probe, probe_inputs, probe_seeds
from lvlm_debias.models.load import load_entry
from lvlm_debias.models.prompts import IMAGE_PLACEHOLDER, build_prompt, without_image_line
from lvlm_debias.scoring.first_token import FirstToken, FirstTokenSpec
from lvlm_debias.scoring.labels import label_probs
from lvlm_debias.scoring.pairs import Pairs, distinct_pairs, image_batches, shard_batches
from lvlm_debias.scoring.prefix import PromptIds, prefix_logits, shares_prefix
from lvlm_debias.scoring.score import next_token_logits, probe_frame, score_questions, token_label_index
from lvlm_debias.scoring.store import LogitStore, decoded_label_index

log = logging.getLogger(__name__)


def pair_questions(pairs: Sequence[Mapping]) -> list[dict]:
    """Pairs as question records (``question_id`` = pair id), for the functions that score questions."""
    return [{"question_id": p["pair_id"], "image": p["image"], "text": p["text"], "label": p["label"]} for p in pairs]


def prefix_applies(processor: ProcessorMixin, template: str) -> bool:
    """Whether a prompt's image prefix can be shared: a placeholder model, and a template that puts the image before
    the question (else the prefix would hold the question)."""
    return shares_prefix(processor) and template.index(IMAGE_PLACEHOLDER) < template.index("{question}")


@torch.inference_mode()
def score_pairs(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    pairs: Sequence[Mapping],
    batches: Sequence[Sequence[int]],
    image_root: Path,
    *,
    template: str,
    labels: Mapping[str, Sequence[str]],
    probes: Sequence[str],
    top_k: int,
    seed: int,
    store: FirstTokenSpec,
) -> tuple[pd.DataFrame, FirstToken, dict[str, int]]:
    """Rows ``question_id`` (the pair id), ``probe``, ``label``, ``p_<label>`` of the image ``probes`` of the pairs
    in ``batches`` (indices into ``pairs``), the naive probe's stored distributions, and the passes: per probe the
    prefix passes (images) and ``<probe> rows`` the suffix rows. The Noise probe's noise is seeded by (seed, image),
    as in every other path."""
    unknown = [p for p in probes if not get_probe(p).per_image]
    if unknown:
        per_image = [name for name, p in PROBES.items() if p.per_image]
        raise ValueError(f"score_pairs scores the image probes {per_image}; got {unknown}")
    token_labels = token_label_index(processor, labels)
    shared = prefix_applies(processor, template)
    if not shared:
        log.info(
            "%s: the image prefix cannot be shared (its image tokens depend on the question, or the template puts the "
            "question first): each question runs its whole prompt",
            type(processor).__name__,
        )
    ids = PromptIds(processor) if shared else None
    probs: dict[str, list[torch.Tensor]] = {p: [] for p in probes}
    stored, passes = [], {p: 0 for p in probes} | {f"{p} rows": 0 for p in probes}
    order = [i for batch in batches for i in batch]
    for batch in tqdm(batches, desc="pairs", unit="batch", mininterval=2):
        rows = [pairs[i] for i in batch]
        images = list(dict.fromkeys(r["image"] for r in rows))
        loaded = {name: load_image(image_root, {"image": name, "question_id": f"pair of {name}"}) for name in images}
        prompts = {name: [build_prompt(template, r["text"]) for r in rows if r["image"] == name] for name in images}
        for probe in probes:
            if shared:
                seeds = probe_seeds(probe, seed, images)
                logits = prefix_logits(
                    model, processor, ids, [loaded[n] for n in images], [prompts[n] for n in images], probe, seeds
                )
                passes[probe] += len(images)
            else:
                seeds = probe_seeds(probe, seed, [r["image"] for r in rows])
                texts = [build_prompt(template, r["text"]) for r in rows]
                inputs = probe_inputs(processor, texts, probe, [loaded[r["image"]] for r in rows], seeds)
                logits = next_token_logits(model, inputs)
                passes[probe] += len(rows)
            passes[f"{probe} rows"] += len(rows)
            if shared:  # rows come out grouped by image: put them back in batch order
                logits = logits[_grouped_order(rows, images)]
            probs[probe].append(label_probs(logits, token_labels, len(labels), top_k).cpu())
            if probe == "naive":
                stored.append(store.take(logits))
    chosen = [pairs[i] for i in order]
    questions = pair_questions(chosen)
    frames = [
        probe_frame(questions, p, torch.cat(probs[p]) if probs[p] else torch.zeros(0, len(labels)), labels)
        for p in probes
    ]
    first = FirstToken.concat(stored).with_ids([p["pair_id"] for p in chosen]) if stored else store.empty()
    return pd.concat(frames, ignore_index=True), first, passes


def _grouped_order(rows: Sequence[Mapping], images: Sequence[str]) -> torch.Tensor:
    """For each row of a batch, its position among the rows grouped by image (images in ``images`` order)."""
    grouped = [i for name in images for i, r in enumerate(rows) if r["image"] == name]
    position = torch.empty(len(rows), dtype=torch.long)
    position[torch.tensor(grouped)] = torch.arange(len(rows))
    return position


def load_pairs(questions_by_split: Mapping[str, Sequence[Mapping]], batch_size: int) -> tuple[Pairs, list[list[int]]]:
    """The source's distinct pairs and their fixed batches."""
    pairs = distinct_pairs(questions_by_split)
    return pairs, image_batches(pairs.pairs, batch_size)


def score_shard_with_entry(
    model_dir: str,
    entry: Mapping,
    questions_by_split: Mapping[str, Sequence[Mapping]],
    image_root: Path,
    *,
    shard: int,
    shards: int,
    labels: Mapping[str, Sequence[str]],
    probes: Sequence[str],
    top_k: int,
    batch_size: int,
    seed: int,
    store: FirstTokenSpec,
    logits: bool,
) -> tuple[pd.DataFrame, FirstToken, dict[str, int], LogitStore | None]:
    """What a scoring shard of a benchmark source runs: its batches of the source's distinct pairs under the image
    ``probes``, with the model of a config ``entry`` (loaded from ``model_dir``), and with ``logits`` their logit
    cache (:func:`logit_store`)."""
    pairs, batches = load_pairs(questions_by_split, batch_size)
    mine = shard_batches(batches, shard, shards)
    n = sum(len(b) for b in mine)
    asked = sum(len(v) for v in questions_by_split.values())
    log.info(
        "shard %d of %d: %d of the source's %d distinct pairs (%d questions over %d splits), %d batches",
        shard, shards, n, len(pairs.pairs), asked, len(questions_by_split), len(mine),
    )  # fmt: skip
    model, processor = load_entry(model_dir, entry)
    scores, first, passes = score_pairs(
        model, processor, pairs.pairs, mine, image_root,
        template=entry["prompt"], labels=labels, probes=probes, top_k=top_k, seed=seed, store=store,
    )  # fmt: skip
    if not logits:
        return scores, first, passes, None
    stored = batch_logit_store(model, processor, pairs.pairs, mine, first, entry["prompt"], labels)
    return scores, first, passes, stored


def batch_logit_store(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    pairs: Sequence[Mapping],
    batches: Sequence[Sequence[int]],
    first: FirstToken,
    template: str,
    labels: Mapping[str, Sequence[str]],
) -> LogitStore:
    """The logit cache (:func:`logit_store`) of the pairs in ``batches`` (indices into
    ``pairs``), whose naive distributions ``first`` holds in batch order. Its reference passes run the same fixed
    batches as the image probes, so that the bits do not depend on the shard count."""
    chosen = [pairs[i] for b in batches for i in b]
    prompts = [build_prompt(template, p["text"]) for p in chosen]
    ends = np.cumsum([len(b) for b in batches], dtype=np.int64)
    positions = [range(int(end) - len(b), int(end)) for b, end in zip(batches, ends, strict=True)]
    return logit_store(
        model, processor, prompts, first.question_id, first.top_ids, first.top_logits, first.log_z, labels,
        first.temperatures, batches=positions,
    )  # fmt: skip


def references_with_entry(
    model_dir: str,
    entry: Mapping,
    questions_by_split: Mapping[str, Sequence[Mapping]],
    image_root: Path,
    *,
    labels: Mapping[str, Sequence[str]],
    probes: Sequence[str],
    top_k: int,
    batch_size: int,
    seed: int,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The prompt-only probes of a benchmark source's distinct pairs (rows keyed by pair id), once per distinct
    prompt of the whole source."""
    pairs = distinct_pairs(questions_by_split)
    model, processor = load_entry(model_dir, entry)
    scores, _, passes = score_questions(
        model, processor, pair_questions(pairs.pairs), image_root,
        template=entry["prompt"], labels=labels, probes=probes, top_k=top_k, batch_size=batch_size, seed=seed,
    )  # fmt: skip
    return scores, passes


@torch.inference_mode()
def logit_store(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    prompts: Sequence[str],
    question_ids: Sequence[int],
    naive_ids: np.ndarray,
    naive_logits: np.ndarray,
    naive_log_z: np.ndarray,
    labels: Mapping[str, Sequence[str]],
    temperatures: Sequence[float],
    *,
    batch_size: int | None = None,
    batches: Sequence[Sequence[int]] | None = None,
) -> LogitStore:
    """What the official reading needs of these questions, given their naive top-K (``naive_ids``, ``naive_logits``,
    sorted descending, and ``naive_log_z``): the None and Unk logits on those ids and the top-K of each reference
    input. ``batches`` (positions into ``prompts``; without them, runs of ``batch_size``: give one of the two) fix
    which questions share a forward pass, so that a caller whose batches do not depend on how the work was split
    gets the same bits; within a batch each text-only input runs once per distinct prompt."""
    token_label = pad_labels(
        decoded_label_index(processor.tokenizer, labels), model.config.get_text_config().vocab_size
    )
    n, k = naive_ids.shape
    if batches is None:
        if batch_size is None:
            raise ValueError("logit_store needs batch_size or batches")
        batches = [range(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    arrays: dict[str, np.ndarray] = {
        "question_id": np.asarray(question_ids, dtype=np.int64),
        "naive_logits": naive_logits,
        "naive_label": token_label[naive_ids],
        "naive_log_z": naive_log_z,
        "temperatures": np.asarray(temperatures, dtype=np.float64),
        "vocab_size": np.asarray(0),
    }
    # input -> (probe, texts, the VDD branch it gives logits on the naive ids for, the reference it gives the top-K of)
    runs = {
        "none": ("none", list(prompts), "at_none", None),
        "unk": ("unk", list(prompts), "at_unk", "unk"),
        "none_text": ("none", [without_image_line(p) for p in prompts], None, "none"),
    }
    for _, _, branch, reference in runs.values():
        if branch:
            arrays[branch] = np.zeros((n, k))
        if reference:
            arrays[f"{reference}_logits"] = np.zeros((n, k))
            arrays[f"{reference}_label"] = np.zeros((n, k), np.int8)
            arrays[f"{reference}_log_z"] = np.zeros((n, len(temperatures)))
    for batch in tqdm(batches, desc="official references", unit="batch", mininterval=2):
        batch = np.asarray(list(batch), dtype=np.int64)
        if not len(batch):
            continue
        for probe, texts, branch, reference in runs.values():
            asked = [texts[i] for i in batch]
            distinct = list(dict.fromkeys(asked))
            rows = np.array([distinct.index(t) for t in asked], dtype=np.int64)
            logits = next_token_logits(model, probe_inputs(processor, distinct, probe)).double().cpu()
            arrays["vocab_size"] = np.asarray(logits.shape[-1])
            if branch:
                arrays[branch][batch] = np.take_along_axis(logits.numpy()[rows], naive_ids[batch], axis=1)
            if reference:
                ids, values, lz = stored_topk(logits, k, list(temperatures))
                arrays[f"{reference}_logits"][batch] = values[rows]
                arrays[f"{reference}_label"][batch] = token_label[ids][rows]
                arrays[f"{reference}_log_z"][batch] = lz[rows]
    return LogitStore(arrays)
