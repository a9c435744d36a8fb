"""Accuracy by Naive confidence bin: where a debiasing method gains or loses against Naive."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

EDGES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
NAIVE = "naive"
#: slack for a normalised row whose maximum rounds slightly above the last edge.
_EPS = 1e-6


def _check(naive_q: np.ndarray, method_q: Mapping[str, np.ndarray], gold: Sequence[int], edges: Sequence[float]):
    naive_q = np.asarray(naive_q, dtype=float)
    if naive_q.ndim != 2 or naive_q.shape[1] < 2:
        raise ValueError(f"naive_q must have shape (N, K) with K >= 2; got {naive_q.shape}")
    if not np.allclose(naive_q.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("naive_q rows must be normalised (sum to 1)")
    if NAIVE in method_q:
        raise ValueError(f"method_q must not contain {NAIVE!r}: naive_q is passed on its own")
    qs = {name: np.asarray(q, dtype=float) for name, q in method_q.items()}
    for name, q in qs.items():
        if q.shape != naive_q.shape:
            raise ValueError(f"method {name!r} has q of shape {q.shape}; naive_q has {naive_q.shape}")
    gold = np.asarray(gold)
    if gold.shape != (naive_q.shape[0],):
        raise ValueError(f"gold must hold one label index per question ({naive_q.shape[0]}); got shape {gold.shape}")
    if gold.size and (not np.issubdtype(gold.dtype, np.integer) or gold.min() < 0 or gold.max() >= naive_q.shape[1]):
        raise ValueError(f"gold must be label indices in [0, {naive_q.shape[1]}); got {sorted(set(gold.tolist()))[:5]}")
    edges = [float(e) for e in edges]
    if len(edges) < 2 or any(a >= b for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError(f"edges must be at least two strictly increasing numbers; got {edges}")
    if edges[-1] < 1.0:
        raise ValueError(f"the last edge must be at least 1.0 so that every confidence has a bin; got {edges[-1]}")
    return naive_q, qs, gold, edges


def confidence_bins(
    naive_q: np.ndarray,
    method_q: Mapping[str, np.ndarray],
    gold: Sequence[int],
    edges: Sequence[float] = EDGES,
    min_count: int = 20,
) -> pd.DataFrame:
    """Accuracy of Naive and of each method per bin of Naive confidence ``conf = max_k naive_q[i, k]``.

    Bin j holds ``edges[j] <= conf < edges[j+1]``, the last bin also ``conf == edges[-1]``. With K labels
    ``conf >= 1/K``; questions with ``conf < edges[0]`` (possible when K > 2) go to a first bin "<edges[0]" with
    ``lo = 1/K``, which appears only when it holds a question. One row per (bin, method), ``naive`` first:
    ``n`` (questions in the bin), ``accuracy = mean(argmax q == gold)`` (NaN when n = 0), ``naive_accuracy``,
    ``gain = accuracy - naive_accuracy``, ``enough = n >= min_count``. Empty bins are kept.
    """
    naive_q, qs, gold, edges = _check(naive_q, method_q, gold, edges)
    conf = naive_q.max(axis=1)
    if conf.size and conf.max() > edges[-1] + _EPS:
        raise ValueError(f"a Naive confidence of {conf.max()} lies above the last edge {edges[-1]}")
    right = {NAIVE: naive_q.argmax(axis=1) == gold} | {name: q.argmax(axis=1) == gold for name, q in qs.items()}
    bins = [(f"{lo:g}-{hi:g}", lo, hi, (conf >= lo) & (conf < hi)) for lo, hi in zip(edges, edges[1:], strict=False)]
    label, lo, hi, _ = bins[-1]
    bins[-1] = (label, lo, hi, conf >= lo)
    below = conf < edges[0]
    if below.any():
        bins.insert(0, (f"<{edges[0]:g}", 1 / naive_q.shape[1], edges[0], below))
    rows = []
    for label, lo, hi, members in bins:
        n = int(members.sum())
        naive_acc = float(right[NAIVE][members].mean()) if n else float("nan")
        for method, ok in right.items():
            acc = float(ok[members].mean()) if n else float("nan")
            rows.append(
                {
                    "bin": label,
                    "lo": lo,
                    "hi": hi,
                    "method": method,
                    "n": n,
                    "accuracy": acc,
                    "naive_accuracy": naive_acc,
                    "gain": acc - naive_acc,
                    "enough": n >= min_count,
                }
            )
    return pd.DataFrame(rows)
