"""The stored first-position distribution of each question: the top tokens' ids and logits, and the log-normaliser
over the whole vocabulary at each sweep temperature. Decoding sweeps are derived from it without rerunning the model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lvlm_debias.atomic import atomic_path
from lvlm_debias.decoding.sampling import stored_topk

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class FirstTokenSpec:
    """What to keep of each first-position distribution: the ``top`` largest logits (the config's
    ``scoring.store_top``) and ``log_z`` per temperature."""

    top: int
    temperatures: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        if self.top < 1:
            raise ValueError(f"first-token top must be >= 1, got {self.top!r}")
        bad = [t for t in self.temperatures if not t > 0]
        if bad:
            raise ValueError(f"sweep temperatures must be > 0, got {bad}")

    def empty(self) -> FirstToken:
        """No stored distributions (an empty shard)."""
        return FirstToken(
            np.zeros(0, dtype=np.int64),
            np.zeros((0, self.top), dtype=np.int64),
            np.zeros((0, self.top)),
            np.zeros((0, len(self.temperatures))),
            np.asarray(self.temperatures, dtype=np.float64),
        )

    def take(self, logits: torch.Tensor) -> FirstToken:
        """The stored part of next-token ``logits`` (N, V)."""
        ids, top_logits, log_z = stored_topk(logits, self.top, list(self.temperatures))
        return FirstToken(
            question_id=np.full(len(ids), -1, dtype=np.int64),
            top_ids=ids,
            top_logits=top_logits,
            log_z=log_z,
            temperatures=np.asarray(self.temperatures, dtype=np.float64),
        )


@dataclass(frozen=True)
class FirstToken:
    """Per question: ``top_ids`` and ``top_logits`` (N, K), sorted by descending logit; ``log_z`` (N, T) =
    ``logsumexp(logits / T)`` over the whole vocabulary for each of ``temperatures`` (T,)."""

    question_id: np.ndarray
    top_ids: np.ndarray
    top_logits: np.ndarray
    log_z: np.ndarray
    temperatures: np.ndarray

    def with_ids(self, question_ids: Sequence[int]) -> FirstToken:
        if len(question_ids) != len(self.top_ids):
            raise ValueError(f"{len(question_ids)} question ids for {len(self.top_ids)} stored distributions")
        return FirstToken(
            np.asarray(question_ids, dtype=np.int64), self.top_ids, self.top_logits, self.log_z, self.temperatures
        )

    def select(self, question_ids: Sequence[int]) -> FirstToken:
        """The stored distributions of ``question_ids``, in that order; fails naming how many are missing."""
        order = pd.Index(self.question_id).get_indexer(list(question_ids))
        if (order < 0).any():
            raise ValueError(f"{int((order < 0).sum())} questions have no stored first-token distribution")
        return FirstToken(
            self.question_id[order], self.top_ids[order], self.top_logits[order], self.log_z[order], self.temperatures
        )

    def log_z_at(self, temperature: float) -> np.ndarray:
        """``log_z`` at one of the stored temperatures; another temperature cannot be derived exactly, so it fails."""
        hits = np.flatnonzero(np.isclose(self.temperatures, temperature, rtol=0, atol=1e-12))
        if not len(hits):
            raise ValueError(
                f"temperature {temperature!r} was not stored; stored: {self.temperatures.tolist()} "
                "(add it to sweep.temperatures and rerun the scoring rule)"
            )
        return self.log_z[:, hits[0]]

    @staticmethod
    def concat(parts: Sequence[FirstToken]) -> FirstToken:
        if not parts:
            raise ValueError("no first-token parts to concatenate")
        temperatures = parts[0].temperatures
        if any(not np.array_equal(p.temperatures, temperatures) for p in parts):
            raise ValueError("first-token parts were stored at different temperatures")
        return FirstToken(
            np.concatenate([p.question_id for p in parts]),
            np.concatenate([p.top_ids for p in parts]),
            np.concatenate([p.top_logits for p in parts]),
            np.concatenate([p.log_z for p in parts]),
            temperatures,
        )

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` atomically (temporary file in the same folder, then rename)."""
        with atomic_path(path, suffix=".npz") as tmp:  # np.savez adds ".npz" to a name without it
            np.savez(tmp, **{k: getattr(self, k) for k in self.__dataclass_fields__})

    @staticmethod
    def load(path: str | Path) -> FirstToken:
        try:
            with np.load(path) as data:
                return FirstToken(**{k: data[k] for k in FirstToken.__dataclass_fields__})
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f"cannot read stored first-token distributions {path}: {err}") from err
