import json
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from harness.bench.stats import (
    CI_LEVEL,
    MAX_CI_WIDTH_FRACTION,
    bootstrap_medians,
    is_unstable,
    level_shift,
    level_shift_warning,
    median_ci,
    stability_warnings,
    summarize,
)


def test_summary_of_known_samples():
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s.n == 5
    assert s.median == 3.0
    assert s.mean == pytest.approx(22.0)
    assert s.min == 1.0 and s.max == 100.0
    assert s.outliers == 1  # 100 is far beyond Tukey's fence
    assert s.ci_low <= s.median <= s.ci_high


def test_trimmed_mean_ignores_the_tails():
    x = list(np.linspace(1, 2, 100)) + [1000.0]
    s = summarize(x)
    assert s.trimmed_mean < 2.0 < s.mean


# ----------------------------------------------------------------------------------------------
# The CI of the median from order statistics


def _scipy_ci(x):
    ci = scipy.stats.quantile_test(x, q=float(np.median(x)), p=0.5).confidence_interval(0.95)
    return ci.low, ci.high


@pytest.mark.parametrize("n", [6, 7, 8, 9, 10, 11, 20, 21, 39, 40, 100, 101, 1000, 1001])
def test_the_median_ci_is_scipys_quantile_test_interval(n):
    rng = np.random.default_rng(n)
    x = rng.lognormal(0.0, 0.3, n)  # skewed, like latencies
    low, high, level = median_ci(x)
    assert (low, high) == _scipy_ci(x) and level == CI_LEVEL
    assert low <= np.median(x) <= high


@pytest.mark.parametrize("n", [6, 7, 30, 31, 500])
def test_the_median_ci_with_ties_is_scipys_too(n):
    x = np.round(np.random.default_rng(n).normal(2.0, 0.1, n), 1)  # a handful of values
    assert len(set(x)) < n
    low, high, _ = median_ci(x)
    assert (low, high) == _scipy_ci(x)
    assert median_ci([1.5] * n) == (1.5, 1.5, CI_LEVEL)


def test_known_intervals_worked_by_hand():
    # n = 6: the number below the median is Binomial(6, 1/2); [x(1), x(6)] misses it only when
    # all six fall on one side, 2/64, so it covers 96.9%, and no narrower pair reaches 95%.
    assert median_ci([5, 1, 4, 2, 6, 3]) == (1.0, 6.0, CI_LEVEL)
    # n = 10: [x(2), x(9)] covers 1 - 2 * 11/1024 = 97.9%; [x(3), x(8)] only 89%.
    assert median_ci(range(1, 11)) == (2.0, 9.0, CI_LEVEL)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_below_six_samples_the_interval_is_the_range_at_the_confidence_it_reaches(n):
    x = [3.0, 1.0, 2.0, 5.0, 4.0][:n]
    assert all(np.isnan(_scipy_ci(x)))  # scipy: no interval reaches 95%
    low, high, level = median_ci(x)
    assert (low, high) == (min(x), max(x))
    assert level == pytest.approx(1 - 2 * 0.5 ** n)  # 0 for one sample, 75% for three
    s = summarize(x)
    assert (s.ci_low, s.ci_high, s.ci_level) == (low, high, level)


def test_the_median_ci_covers_the_true_median_at_least_95_percent_of_the_time():
    rng = np.random.default_rng(42)
    trials, n = 2000, 101
    hits = 0
    for _ in range(trials):
        x = rng.exponential(1.0, n)  # true median ln 2
        low, high, _ = median_ci(x)
        hits += low <= np.log(2) <= high
    binom = scipy.stats.binom(n, 0.5)
    r = int(binom.ppf(0.025))  # 1-based order statistics of the interval, as scipy's
    s = int(binom.isf(0.025)) + 1
    exact = binom.cdf(s - 1) - binom.cdf(r - 1)
    assert exact >= 0.95
    assert abs(hits / trials - exact) < 0.015


# ----------------------------------------------------------------------------------------------
# Bootstrap medians without resampling (compare's ratio CI)


@pytest.mark.parametrize("x", [
    [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0],  # odd
    [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0, 3.5],  # even
    [1.0, 1.0, 2.0, 2.0, 2.0, 3.0],  # ties
])
def test_bootstrap_medians_have_the_distribution_of_resampled_medians(x):
    draws = 200_000
    ours = bootstrap_medians(x, resamples=draws, seed=1)
    rng = np.random.default_rng(2)
    brute = np.median(np.asarray(x)[rng.integers(0, len(x), size=(draws, len(x)))], axis=1)
    for value in np.unique(np.concatenate([ours, brute])):
        assert np.mean(ours <= value) == pytest.approx(np.mean(brute <= value), abs=0.006)


def test_bootstrap_medians_are_reproducible_and_cheap_on_long_runs():
    x = np.random.default_rng(0).lognormal(0.0, 0.1, 60_000)
    first = bootstrap_medians(x, seed=3)
    assert np.array_equal(first, bootstrap_medians(x, seed=3)) and first.size == 2000
    assert np.percentile(x, 45) < first.min() <= first.max() < np.percentile(x, 55)
    assert np.all(bootstrap_medians([2.5], resamples=10) == 2.5)


def test_stable_samples_give_no_warning():
    rng = np.random.default_rng(0)
    s = summarize(rng.normal(5.0, 0.05, 500))
    assert stability_warnings(s) == []
    assert not is_unstable(s)


def test_wide_interval_is_flagged_with_the_reason():
    rng = np.random.default_rng(0)
    s = summarize(rng.uniform(1, 10, 20))
    warnings = stability_warnings(s)
    assert is_unstable(s)
    assert any("confidence interval" in w and f"{MAX_CI_WIDTH_FRACTION:.0%}" in w for w in warnings)
    assert any("standard deviation" in w for w in warnings)


def test_too_few_samples_are_flagged():
    s = summarize([1.0, 1.0, 1.0])
    assert any("only 3 timed samples" in w for w in stability_warnings(s))


def test_empty_or_negative_samples_are_refused():
    with pytest.raises(ValueError, match="empty"):
        summarize([])
    with pytest.raises(ValueError):
        summarize([1.0, -1.0])


def _levels(pattern, block=50, seed=0):
    """Samples in time order: `block` samples per entry of `pattern`, each at that level, 2% noise."""
    rng = np.random.default_rng(seed)
    return [float(v) for level in pattern for v in level * (1 + 0.02 * rng.standard_normal(block))]


def test_a_core_shared_with_another_guest_is_named_from_a_recorded_trace():
    trace = json.loads((Path(__file__).parent / "data" / "latency_shared_core.json").read_text())
    shift = level_shift(trace["trials"])
    assert shift is not None and shift.switches >= 2
    assert 0.80 < shift.fast_ms < 0.90 and 1.30 < shift.slow_ms < 1.50
    warning = level_shift_warning(trace["trials"])
    assert "two levels" in warning and "shared the core" in warning


def test_switching_drift_and_steady_samples_are_told_apart():
    # 20 levels of 50 samples: each block the detector cuts holds exactly one level.
    switching = [_levels([1.0, 1.0, 1.6, 1.6, 1.0] * 4, seed=s) for s in range(2)]
    shift = level_shift(switching)
    assert shift.switches >= 4 and shift.fast_ms == pytest.approx(1.0, rel=0.02)
    assert shift.slow_ms == pytest.approx(1.6, rel=0.02) and shift.slow_share == pytest.approx(2 / 5)
    assert "shared the core" in level_shift_warning(switching)

    drift = [_levels([1.0] * 12 + [1.3] * 12)]
    assert level_shift(drift).switches == 1
    assert "moved once and stayed" in level_shift_warning(drift)

    steady = [_levels([1.0] * 24, seed=s) for s in range(3)]
    assert level_shift(steady) is None and level_shift_warning(steady) is None
    # 10% apart is ordinary noise on a phone, not a level shift.
    assert level_shift([_levels([1.0, 1.1] * 12)]) is None
    # Too few samples to cut into blocks: no verdict rather than a guess.
    assert level_shift([[1.0, 2.0, 1.0, 2.0]]) is None
