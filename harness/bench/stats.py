"""Statistics over raw latency samples, and the stability verdict that goes with them.

Runners only measure; every figure the harness prints is computed here from the stored samples,
so it can be recomputed from the database at any time. The stability check is a pure function
returning sentences (pyperf's approach): a number that should not be trusted says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

CI_LEVEL = 0.95
# A median whose 95% CI is wider than this fraction of the median is flagged unstable.
MAX_CI_WIDTH_FRACTION = 0.05
# A coefficient of variation above this flags the run unstable too: a spread this wide means the
# machine was busy or throttling, even if many samples made the CI of the median narrow.
MAX_CV = 0.20
BOOTSTRAP_RESAMPLES = 2000
# Tukey's fences: a sample beyond 1.5 IQR from the quartiles counts as an outlier.
OUTLIER_IQR_FACTOR = 1.5


@dataclass(frozen=True)
class SampleStats:
    """Summary of one set of timed samples (milliseconds)."""

    n: int
    median: float
    mean: float
    std: float
    cv: float
    p90: float
    p99: float
    min: float
    max: float
    trimmed_mean: float  # mean of the samples between the 10th and 90th percentiles
    ci_low: float
    ci_high: float
    ci_level: float
    outliers: int

    @property
    def ci_width_fraction(self) -> float:
        return (self.ci_high - self.ci_low) / self.median if self.median > 0 else float("inf")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SampleStats":
        return cls(**data)


def bootstrap_median_ci(
    samples: np.ndarray,
    level: float = CI_LEVEL,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the median.

    Seeded, so the same samples always give the same interval (reports must be reproducible).
    Resampling runs in chunks to bound memory for long runs.
    """
    samples = np.asarray(samples, dtype=np.float64)
    n = samples.size
    if n == 1:
        return float(samples[0]), float(samples[0])
    rng = np.random.default_rng(seed)
    medians = np.empty(resamples)
    chunk = max(1, min(resamples, 4_000_000 // n))
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        medians[start:stop] = np.median(samples[idx], axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(medians, [alpha, 1.0 - alpha])
    return float(low), float(high)


def summarize(samples, seed: int = 0) -> SampleStats:
    """All the statistics of one sample set. Raises ValueError on an empty set."""
    x = np.asarray(list(samples), dtype=np.float64)
    if x.size == 0:
        raise ValueError("Cannot summarize an empty sample set: the run produced no timed samples.")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ValueError("Samples must be finite, non-negative durations in milliseconds.")
    median = float(np.median(x))
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    p10, p25, p75, p90, p99 = np.percentile(x, [10, 25, 75, 90, 99])
    inner = x[(x >= p10) & (x <= p90)]
    iqr = p75 - p25
    outliers = int(np.sum((x < p25 - OUTLIER_IQR_FACTOR * iqr) | (x > p75 + OUTLIER_IQR_FACTOR * iqr)))
    ci_low, ci_high = bootstrap_median_ci(x, seed=seed)
    return SampleStats(
        n=int(x.size),
        median=median,
        mean=mean,
        std=std,
        cv=std / mean if mean > 0 else 0.0,
        p90=float(p90),
        p99=float(p99),
        min=float(x.min()),
        max=float(x.max()),
        trimmed_mean=float(inner.mean()) if inner.size else mean,
        ci_low=ci_low,
        ci_high=ci_high,
        ci_level=CI_LEVEL,
        outliers=outliers,
    )


def stability_warnings(stats: SampleStats, min_samples: int = 10) -> list[str]:
    """Sentences explaining why a result should not be trusted; empty when it is stable."""
    warnings = []
    if stats.n < min_samples:
        warnings.append(
            f"only {stats.n} timed samples (fewer than {min_samples}): raise the iteration count"
            " or --min-time."
        )
    width = stats.ci_width_fraction
    if width > MAX_CI_WIDTH_FRACTION:
        warnings.append(
            f"the {stats.ci_level:.0%} confidence interval of the median is {width:.1%} of the"
            f" median (limit {MAX_CI_WIDTH_FRACTION:.0%}): run longer (--min-time) or quiet the"
            " machine."
        )
    if stats.cv > MAX_CV:
        warnings.append(
            f"the standard deviation is {stats.cv:.0%} of the mean (limit {MAX_CV:.0%}): the"
            " machine was busy or throttling; close other programs or pin the CPU (--affinity)."
        )
    return warnings


def is_unstable(stats: SampleStats) -> bool:
    return bool(stability_warnings(stats))
