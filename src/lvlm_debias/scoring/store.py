"""What the first-token methods need of each question, stored once by the scoring pass: the logit cache.

Per question: the naive first position's top-K logits (descending) and the label each of those tokens decodes to;
the logits of the VDD reference inputs (None: image tokens removed; Unk: the image token replaced by ``<unk>``) *on the
same token ids*; and for the official code's reference inputs (None rebuilt without the ``<image>\\n`` text, Unk)
their own top-K logits, labels and log-normalisers. From these, contrastive first steps (VDD at any ``alpha`` and
``beta``, :mod:`lvlm_debias.analysis.contrast_grid`) and the official reading (:mod:`lvlm_debias.scoring.official`) are
derived without the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, ProcessorMixin

from lvlm_debias.atomic import atomic_path
from lvlm_debias.decoding.sampling import pad_labels, stored_topk
from lvlm_debias.inputs.probes import probe_inputs
from lvlm_debias.models.prompts import without_image_line
from lvlm_debias.scoring.score import next_token_logits

#: the reference inputs the official code reads for its POPE/MME calibration: None (the prompt rebuilt without the
#: ``<image>\\n`` text) and Unk (the image token replaced by ``<unk>``)
REFERENCE_INPUTS = ("none", "unk")
#: stored entries that are not one row per question
SCALARS = ("temperatures", "vocab_size")
#: what is stored of each reference input's own distribution
PARTS = ("logits", "label", "log_z")


def decoded_label_index(tokenizer, labels: Mapping[str, Sequence[str]]) -> np.ndarray:
    """For each vocabulary id, the index of the label its decoded text spells (``decode(id).lower().strip()``, the
    official code's matching), or -1."""
    index = {word.strip().lower(): k for k, words in enumerate(labels.values()) for word in words}
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return np.array([index.get(t.lower().strip(), -1) for t in texts], dtype=np.int8)


@dataclass(frozen=True)
class LogitStore:
    """Per question (rows, in ``question_id`` order): ``naive_logits`` (N, K) the naive top-K logits, descending;
    ``naive_label`` (N, K) the label index of each of those tokens (-1: none); ``naive_log_z`` (N, T); ``at_<r>``
    (N, K) reference ``r``'s logits on the naive top-K ids (r: none, unk; the VDD branches); and for each reference
    input ``r`` of ``REFERENCE_INPUTS``: ``<r>_logits``, ``<r>_label`` (N, K) and ``<r>_log_z`` (N, T), its own
    top-K. ``log_z`` columns are ``logsumexp(logits / T)`` over the whole vocabulary at each of ``temperatures``."""

    arrays: Mapping[str, np.ndarray]

    @property
    def question_id(self) -> np.ndarray:
        return self.arrays["question_id"]

    @property
    def temperatures(self) -> np.ndarray:
        return self.arrays["temperatures"]

    def __len__(self) -> int:
        return len(self.question_id)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def log_z(self, name: str, temperature: float) -> np.ndarray:
        """``<name>_log_z`` at ``temperature``; one that was not stored fails naming the stored ones."""
        hits = np.flatnonzero(np.isclose(self.temperatures, temperature, rtol=0, atol=1e-12))
        if not len(hits):
            raise ValueError(
                f"temperature {temperature!r} was not stored; stored: {self.temperatures.tolist()} "
                "(add it to the config before scoring, or rerun the scoring rule)"
            )
        return self.arrays[f"{name}_log_z"][:, hits[0]]

    @staticmethod
    def concat(parts: Sequence[LogitStore]) -> LogitStore:
        """The rows of ``parts`` one after another (stored at the same temperatures)."""
        if not parts:
            raise ValueError("no logit-cache parts to concatenate")
        temps = parts[0].temperatures
        if any(not np.array_equal(p.temperatures, temps) for p in parts):
            raise ValueError("logit-cache parts were stored at different temperatures")
        keys = [k for k in parts[0].arrays if k not in SCALARS]
        out = {k: np.concatenate([p.arrays[k] for p in parts]) for k in keys}
        return LogitStore({**out, **{k: parts[0].arrays[k] for k in SCALARS}})

    @staticmethod
    def gather(parts: Sequence[LogitStore], question_ids: Sequence[int]) -> LogitStore:
        """The shards' rows (empty shards skipped) in ``question_ids`` order; a missing row fails, naming how many."""
        return LogitStore.concat([p for p in parts if len(p)] or list(parts[:1])).select(question_ids)

    def select(self, question_ids: Sequence[int]) -> LogitStore:
        """The rows of ``question_ids``, in that order; fails naming how many are missing."""
        order = pd.Index(self.question_id).get_indexer(list(question_ids))
        if (order < 0).any():
            raise ValueError(f"{int((order < 0).sum())} questions have no stored logits")
        return LogitStore({k: (v if k in SCALARS else v[order]) for k, v in self.arrays.items()})

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` atomically."""
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **self.arrays)

    @staticmethod
    def load(path: str | Path) -> LogitStore:
        try:
            with np.load(path) as data:
                return LogitStore({k: data[k] for k in data.files})
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot read the stored logit cache {path}: {err}") from err


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
