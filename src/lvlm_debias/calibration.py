"""Post-hoc debiasing of classification by a content-free reference (the paper's calibration)."""

from __future__ import annotations

import numpy as np

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
