"""What the first-token methods need of each question, stored once by the scoring pass: the logit cache.

Per question: the naive first position's top-K logits (descending) and the label each of those tokens decodes to;
the logits of the VDD reference inputs (None: image tokens removed; Unk: the image token replaced by ``<unk>``) *on the
same token ids*; and for the official code's reference inputs (None rebuilt without the ``<image>\\n`` text, Unk)
their own top-K logits, labels and log-normalisers. From these, contrastive first steps (VDD at any ``alpha`` and
``beta``, :mod:`lvlm_debias.analysis.contrast_grid`) and the official reading (:mod:`lvlm_debias.scoring.official`) are
derived without the model. The scoring pass that fills it is ``scoring.cache.logit_store``; this module, read by
jobs that load no model, imports no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lvlm_debias.atomic import atomic_path

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
