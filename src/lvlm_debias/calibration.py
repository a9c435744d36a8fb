"""Post-hoc debiasing of classification by a content-free reference (the paper's calibration)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from lvlm_debias.settings import registered_in

#: added to the normalised reference before dividing, as the paper's code does.
REFERENCE_EPS = 1e-4


def normalise(p: np.ndarray) -> np.ndarray:
    """``p / sum(p)`` over the last axis (a plain division, not a softmax); rows with no mass become uniform."""
    p = np.asarray(p, dtype=np.float64)
    total = p.sum(axis=-1, keepdims=True)
    uniform = np.full_like(p, 1.0 / p.shape[-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, p / np.where(total > 0, total, 1.0), uniform)


def calibrate(p: np.ndarray, p_ref: np.ndarray) -> np.ndarray:
    """``q = normalise(W p + b)`` with ``W = diag(p_ref)^-1``, ``b = 0``: ``q_y ∝ p_y / p_ref,y`` over the last axis.

    Shapes (..., K); ``p_ref`` broadcasts against ``p`` and must be positive.
    """
    p = np.asarray(p, dtype=np.float64)
    p_ref = np.asarray(p_ref, dtype=np.float64)
    if np.any(p_ref <= 0):
        raise ValueError("p_ref must be positive in every entry; add a small epsilon (see reference())")
    return normalise(p / p_ref)


def reference(p_ref_raw: np.ndarray, eps: float = REFERENCE_EPS) -> np.ndarray:
    """The reference as the paper's code uses it: the raw label probabilities normalised, then ``eps`` added."""
    return normalise(p_ref_raw) + eps


def reference_both(p_none_raw: np.ndarray, p_unk_raw: np.ndarray, eps: float = REFERENCE_EPS) -> np.ndarray:
    """The Both reference: raw None and Unk label probabilities summed, normalised, then ``eps`` added."""
    return reference(np.asarray(p_none_raw) + np.asarray(p_unk_raw), eps)


def reference_batch(p_raw: np.ndarray, weights: np.ndarray | None = None, eps: float = REFERENCE_EPS) -> np.ndarray:
    """Batch calibration's reference (Zhou et al., 2024): the mean over a split's questions of their normalised
    label distributions, ``p_ref = sum_i w_i normalise(p_i) / sum_i w_i + eps``, with every ``w_i`` 1 by default.

    ``p_raw`` (N, K) raw label probabilities; ``weights`` (N,) gives one reference (K,), (R, N) one per row (R, K),
    as a bootstrap resample counts its questions. The mean of normalised rows is itself normalised.
    """
    p = normalise(p_raw)
    if weights is None:
        return p.mean(axis=0) + eps
    weights = np.asarray(weights, dtype=np.float64)
    return (weights @ p) / weights.sum(axis=-1, keepdims=True) + eps


def _single(p_raw: np.ndarray, refs_raw: Sequence[np.ndarray], weights: np.ndarray | None) -> np.ndarray:
    return reference(refs_raw[0])


def _both(p_raw: np.ndarray, refs_raw: Sequence[np.ndarray], weights: np.ndarray | None) -> np.ndarray:
    return reference_both(*refs_raw)


def _batch(p_raw: np.ndarray, refs_raw: Sequence[np.ndarray], weights: np.ndarray | None) -> np.ndarray:
    return reference_batch(p_raw, weights)


@dataclass(frozen=True)
class CalibrationMethod:
    """A post-hoc calibration method: ``q = calibrate(normalise(p), p_ref)``, ``q_y ∝ p_y / p_ref,y``, with
    ``p_ref = reference(p_raw, refs_raw, weights)`` from the raw label probabilities of the question under the
    reference ``probes`` (each question its own p_ref) or, when ``per_split``, from the split's naive distributions
    (one p_ref per split; under bootstrap ``weights`` (R, N) one per resample). ``reference`` None is naive:
    ``q = normalise(p)``."""

    name: str
    probes: tuple[str, ...] = ()
    reference: Callable[[np.ndarray, Sequence[np.ndarray], np.ndarray | None], np.ndarray] | None = None
    per_split: bool = False

    def q(self, p_raw: np.ndarray, refs_raw: Sequence[np.ndarray] = (), weights: np.ndarray | None = None):
        """The calibrated label distributions of ``p_raw`` (N, K), given the raw probabilities of each of ``probes``
        on the same questions (N, K each): (N, K), or (R, N, K) for a ``per_split`` method under ``weights`` (R, N)."""
        if len(refs_raw) != len(self.probes):
            raise ValueError(f"calibration {self.name!r} reads probes {self.probes}, got {len(refs_raw)} references")
        p = normalise(p_raw)
        if self.reference is None:
            return p
        p_ref = self.reference(np.asarray(p_raw), [np.asarray(r) for r in refs_raw], weights)
        if self.per_split and weights is not None and np.ndim(weights) == 2:
            return calibrate(p[None], p_ref[:, None, :])
        return calibrate(p, p_ref)


#: registered name -> calibration method: the paper's three references (None, Unk, Both: the normalised sum of
#: the raw None and Unk probabilities), the other content-free images, contextual calibration (Zhao et al., 2021:
#: p_ref the answer distribution when "N/A" is asked in place of the question, with no image: the na probe) and
#: batch calibration (Zhou et al., 2024).
#: config/schema.yaml's ``calibration.references`` enum holds the same names after naive
#: (``tests/test_calibration_table.py`` keeps them equal).
CALIBRATION_METHODS: dict[str, CalibrationMethod] = {
    method.name: method
    for method in (
        CalibrationMethod("naive"),
        CalibrationMethod("none", ("none",), _single),
        CalibrationMethod("unk", ("unk",), _single),
        CalibrationMethod("both", ("none", "unk"), _both),
        CalibrationMethod("noise", ("noise",), _single),
        CalibrationMethod("zero", ("zero",), _single),
        CalibrationMethod("one", ("one",), _single),
        CalibrationMethod("contextual", ("na",), _single),
        CalibrationMethod("batch", (), _batch, per_split=True),
    )
}


def calibration_method(name: str) -> CalibrationMethod:
    """The registered calibration method ``name``, or a ValueError naming the known ones."""
    if name not in CALIBRATION_METHODS:
        raise ValueError(f"unknown calibration method {name!r}; known methods: {list(CALIBRATION_METHODS)}")
    return CALIBRATION_METHODS[name]


@contextmanager
def registered(method: CalibrationMethod) -> Iterator[CalibrationMethod]:
    """``CALIBRATION_METHODS`` with ``method`` added for the ``with`` block, then as before (a name already
    registered fails)."""
    with registered_in(CALIBRATION_METHODS, method.name, method, "calibration method") as entry:
        yield entry
