"""Paired, stratified bootstrap intervals over questions, and the verdict they allow on a claimed direction.

A statistic of a run (a difference of F1 between two methods, a share of attention, a CHAIR difference, ...) is
written as a function of per-item **weights**: item i of stratum s counted ``w[s][i]`` times. With every weight 1 it
is the run's own value (the estimate). One bootstrap resample draws, in every stratum s (a benchmark split, a subset),
``n_s`` items uniformly with replacement from its ``n_s`` items, and sets ``w[s][i]`` = how often item i was drawn
(so ``sum_i w[s][i] = n_s``). Both sides of a difference are computed from the same weights: the resample is
**paired**, so what the two sides share (the same questions) cancels.

With ``theta*_1 .. theta*_B`` the statistic on B resamples, the **percentile interval** at ``level`` (0.95) is

    [ Q_{(1 - level) / 2}(theta*),  Q_{(1 + level) / 2}(theta*) ]

Q the empirical quantile (numpy's "linear" interpolation). The resamples come from ``numpy.random.default_rng(seed)``
in a fixed order, so the same seed gives the same interval.

The **verdict** on a claim that the statistic lies above (``direction`` +1) or below (-1) a ``null`` value (0 for a
difference): "yes" when the whole interval lies on the claimed side, "no" when it lies wholly on the other side, and
"inconclusive" when it spans the null value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: verdicts on a claim, from an interval
YES, NO, INCONCLUSIVE = "yes", "no", "inconclusive"
#: resamples drawn at a time (memory: chunk x items per stratum)
CHUNK = 250


@dataclass(frozen=True)
class Interval:
    """A statistic's ``estimate`` (all weights 1) and its percentile bootstrap interval ``[low, high]`` at ``level``
    from ``resamples`` resamples."""

    estimate: float
    low: float
    high: float
    level: float = 0.95
    resamples: int = 0

    def scaled(self, factor: float) -> Interval:
        """The same interval with every value times ``factor`` (e.g. 100 for points); a negative factor swaps the
        ends."""
        low, high = sorted((self.low * factor, self.high * factor))
        return Interval(self.estimate * factor, low, high, self.level, self.resamples)


def resample_counts(sizes: Sequence[int], n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` bootstrap resamples of strata of ``sizes`` items: per stratum an (n, size) integer array whose row b
    counts how often each item was drawn in resample b (each row sums to the stratum's size)."""
    out = []
    for size in sizes:
        drawn = rng.integers(0, size, size=(n, size))
        offsets = (np.arange(n) * size)[:, None]
        out.append(np.bincount((drawn + offsets).ravel(), minlength=n * size).reshape(n, size))
    return out


Statistic = Callable[[Sequence[np.ndarray]], np.ndarray]


def paired_bootstrap(
    statistic: Statistic,
    sizes: Sequence[int],
    seed: int,
    resamples: int,
    level: float = 0.95,
) -> Interval | list[Interval]:
    """The percentile bootstrap interval of ``statistic`` (module docstring) over strata of ``sizes`` items.

    ``statistic(weights)`` gets one (R, n_s) weight array per stratum (R resamples at a time) and returns R values,
    or an (R, k) array for k statistics of the same resamples (then one interval each, in a list). The estimate is
    the statistic at weights 1. Raises ``ValueError`` naming a bad ``sizes``, ``resamples`` or ``level``, or a
    statistic that is not finite on some resample (it must define every case, e.g. 0/0).
    """
    sizes = [int(s) for s in sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be one positive item count per stratum; got {sizes}")
    if int(resamples) != resamples or resamples < 1:
        raise ValueError(f"resamples must be a positive integer; got {resamples!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1; got {level!r}")
    estimate = np.asarray(statistic([np.ones((1, s)) for s in sizes]), dtype=float)
    vector = estimate.ndim == 2
    estimate = estimate.reshape(1, -1)
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, resamples, CHUNK):
        n = min(CHUNK, resamples - start)
        value = np.asarray(statistic(resample_counts(sizes, n, rng)), dtype=float).reshape(n, -1)
        if value.shape[1] != estimate.shape[1]:
            raise ValueError(f"the statistic gave {value.shape[1]} values a resample, {estimate.shape[1]} at weights 1")
        values.append(value)
    thetas = np.concatenate(values)
    bad = int((~np.isfinite(thetas)).any(axis=1).sum())
    if bad or not np.isfinite(estimate).all():
        raise ValueError(f"the statistic is not finite at weights 1 or on {bad} of {resamples} resamples")
    lows = np.quantile(thetas, (1 - level) / 2, axis=0)
    highs = np.quantile(thetas, (1 + level) / 2, axis=0)
    out = [
        Interval(float(e), float(lo), float(hi), level, int(resamples))
        for e, lo, hi in zip(estimate[0], lows, highs, strict=True)
    ]
    return out if vector else out[0]


def verdict(interval: Interval, direction: int = 1, null: float = 0.0, inclusive: bool = False) -> str:
    """ "yes" when ``interval`` lies wholly on the claimed side of ``null`` (``direction`` +1: above, -1: below), "no"
    when it lies wholly on the other side, "inconclusive" when it spans ``null``.

    The claimed side is strict (an interval touching ``null`` is inconclusive) unless ``inclusive``: then the claim
    holds at ``null`` itself ("matches or beats": ``low >= null``), and only an interval wholly past it says no.
    """
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1; got {direction!r}")
    low, high = (interval.low - null, interval.high - null)
    if direction == -1:
        low, high = -high, -low
    if low > 0 or (inclusive and low >= 0):
        return YES
    if high < 0:
        return NO
    return INCONCLUSIVE


def weighted_mean(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``sum_i w_i x_i / sum_i w_i`` per resample (rows of ``weights``); ``values`` (n,) or (n, k)."""
    return (weights @ values) / weights.sum(axis=1, keepdims=values.ndim == 2)


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """``F1 = 2 TP / (2 TP + FP + FN)`` elementwise (= 2PR / (P + R)); 0 where the denominator is 0, as
    ``metrics.pope`` reports an undefined ratio."""
    tp, fp, fn = (np.asarray(a, dtype=float) for a in (tp, fp, fn))
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros(np.broadcast(tp, denominator).shape), where=denominator > 0)
