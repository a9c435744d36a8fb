"""The paired bootstrap: hand-worked and analytically known intervals, pairing, strata, seeds and verdicts."""

import numpy as np
import pytest

from lvlm_debias.metrics.bootstrap import (
    Interval,
    f1_from_counts,
    paired_bootstrap,
    resample_counts,
    verdict,
    weighted_mean,
)


def _mean(values):
    values = np.asarray(values, dtype=float)
    return lambda w: weighted_mean(w[0], values)


def test_two_point_sample_by_hand():
    """Sample {0, 1}: a resample's mean is 0 (both draws 0, p = 1/4), 1/2 (p = 1/2) or 1 (p = 1/4), so the 2.5 %
    and 97.5 % quantiles of the resampled means are 0 and 1 and the estimate is 1/2."""
    interval = paired_bootstrap(_mean([0, 1]), [2], seed=0, resamples=4000)
    assert (interval.estimate, interval.low, interval.high) == (0.5, 0.0, 1.0)
    assert (interval.level, interval.resamples) == (0.95, 4000)


def test_mean_of_a_known_sample_matches_the_normal_interval():
    """The resampled mean of n values has variance s^2 / n (s^2 the sample's variance, ddof 0), and for large n is
    close to normal: the 95 % interval is about mean -/+ 1.96 s / sqrt(n)."""
    x = np.random.default_rng(1).exponential(size=400)
    interval = paired_bootstrap(_mean(x), [len(x)], seed=2, resamples=4000)
    half = 1.96 * x.std() / np.sqrt(len(x))
    assert interval.estimate == pytest.approx(x.mean())
    assert interval.low == pytest.approx(x.mean() - half, abs=0.15 * half)
    assert interval.high == pytest.approx(x.mean() + half, abs=0.15 * half)


def test_both_sides_of_a_difference_see_the_same_resample():
    """Two methods that agree on every question: their difference is 0 in every paired resample. Checked to fail
    without the pairing: resampling each side on its own gives about [-0.10, +0.10] here."""
    a = np.random.default_rng(3).integers(0, 2, size=200).astype(float)
    interval = paired_bootstrap(
        lambda w: weighted_mean(w[0], a) - weighted_mean(w[0], a.copy()), [200], seed=0, resamples=2000
    )
    assert (interval.low, interval.high) == (0.0, 0.0)


def test_strata_are_resampled_within_themselves():
    """Each stratum keeps its own size in every resample; a statistic of stratum means gets the strata's spread."""
    counts = resample_counts([3, 5], 50, np.random.default_rng(0))
    assert [c.shape for c in counts] == [(50, 3), (50, 5)]
    assert (counts[0].sum(axis=1) == 3).all() and (counts[1].sum(axis=1) == 5).all()
    # stratum 0 is constant 0, stratum 1 constant 1: the mean of the two stratum means is 1/2 in every resample
    # (pooling the 8 items into one stratum would vary it)
    interval = paired_bootstrap(lambda w: (weighted_mean(w[0], np.zeros(3)) + weighted_mean(w[1], np.ones(5))) / 2,
                                [3, 5], seed=0, resamples=2000)  # fmt: skip
    assert (interval.estimate, interval.low, interval.high) == (0.5, 0.5, 0.5)


def test_seeded_vector_statistics():
    x = np.random.default_rng(4).normal(size=(60, 2))
    both = lambda w: weighted_mean(w[0], x)  # noqa: E731  (two statistics of the same resamples)
    first, second = paired_bootstrap(both, [60], seed=7, resamples=500)
    alone = paired_bootstrap(_mean(x[:, 0]), [60], seed=7, resamples=500)
    assert (first.estimate, first.low, first.high) == pytest.approx((alone.estimate, alone.low, alone.high))
    assert second.estimate == pytest.approx(x[:, 1].mean())
    assert paired_bootstrap(_mean(x[:, 0]), [60], seed=8, resamples=500) != first


def test_verdicts():
    """A large sure difference is "yes", a zero effect "inconclusive", a sure effect the other way "no"."""
    rng = np.random.default_rng(5)
    sure = paired_bootstrap(_mean(rng.normal(1.0, 0.1, size=200)), [200], seed=0, resamples=2000)
    zero = paired_bootstrap(_mean(np.tile([-1.0, 1.0], 100)), [200], seed=0, resamples=2000)
    assert verdict(sure) == "yes" and verdict(sure, direction=-1) == "no"
    assert zero.estimate == 0 and zero.low < 0 < zero.high and verdict(zero) == "inconclusive"
    assert verdict(Interval(0.3, 0.2, 0.4), null=0.5) == "no" and verdict(Interval(0.7, 0.6, 0.8), null=0.5) == "yes"
    # touching the null value: inconclusive, unless the claim holds at it ("matches or beats")
    assert verdict(Interval(0.0, 0.0, 0.0)) == "inconclusive"
    assert verdict(Interval(0.0, 0.0, 0.1), inclusive=True) == "yes"
    assert verdict(Interval(-0.1, -0.2, -0.01), inclusive=True) == "no"
    assert Interval(0.1, -0.2, 0.3).scaled(-100) == Interval(-10.0, -30.0, 20.0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"sizes must be one positive item count per stratum; got \[3, 0\]"):
        paired_bootstrap(_mean([1, 2, 3]), [3, 0], seed=0, resamples=2000)
    with pytest.raises(ValueError, match="resamples must be a positive integer; got 0"):
        paired_bootstrap(_mean([1, 2]), [2], seed=0, resamples=0)
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1; got 95"):
        paired_bootstrap(_mean([1, 2]), [2], seed=0, level=95, resamples=2000)
    with pytest.raises(ValueError, match="not finite at weights 1 or on"), np.errstate(all="ignore"):
        paired_bootstrap(lambda w: w[0][:, 0] / (w[0][:, 0] * 0), [2], seed=0, resamples=2000)
    with pytest.raises(ValueError, match="direction must be"):
        verdict(Interval(0, 0, 0), direction=0)


def test_f1_from_counts_matches_precision_and_recall():
    p, r = 6 / 9, 6 / 10
    assert f1_from_counts(6, 3, 4) == pytest.approx(2 * p * r / (p + r))
    assert f1_from_counts(np.array([0.0]), np.array([0.0]), np.array([0.0])).tolist() == [0.0]
