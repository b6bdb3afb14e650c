import json
from pathlib import Path

import numpy as np
import pytest

from harness.bench.stats import (
    MAX_CI_WIDTH_FRACTION,
    bootstrap_median_ci,
    is_unstable,
    level_shift,
    level_shift_warning,
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


def test_bootstrap_ci_is_reproducible_and_narrows_with_more_samples():
    rng = np.random.default_rng(0)
    small = rng.normal(10, 1, 30)
    large = rng.normal(10, 1, 3000)
    assert bootstrap_median_ci(small, seed=1) == bootstrap_median_ci(small, seed=1)
    lo_s, hi_s = bootstrap_median_ci(small)
    lo_l, hi_l = bootstrap_median_ci(large)
    assert (hi_l - lo_l) < (hi_s - lo_s) / 3
    assert lo_l <= np.median(large) <= hi_l
    assert abs(lo_l - 10) < 0.2 and abs(hi_l - 10) < 0.2


def test_bootstrap_ci_covers_the_true_median_about_95_percent_of_the_time():
    rng = np.random.default_rng(42)
    hits = 0
    trials = 200
    for _ in range(trials):
        x = rng.exponential(1.0, 101)  # skewed, like latencies; true median ln 2
        lo, hi = bootstrap_median_ci(x, resamples=500, seed=int(rng.integers(1 << 30)))
        hits += lo <= np.log(2) <= hi
    assert 0.88 <= hits / trials <= 0.99


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
