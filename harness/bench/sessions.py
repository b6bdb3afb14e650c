"""Uncertainty between sessions: what the spread of a cell's trials says about its median.

Thousands of samples from one trial pin that trial's median to a fraction of a percent, yet the
next trial (a fresh process; on a phone a fresh load, other clocks, other heat and background)
lands percents away: what repeats is the session, not the sample. The model, on the log scale
(latency is multiplicative: a 5% offset is 5% on any model):

    log(sample j of trial i) = mu + b_i + e_ij,   b_i ~ N(0, tau^2),  e_ij the noise within it

A trial's median m_i estimates mu + b_i; across k trials the m_i scatter with variance
tau^2 + (their own small sampling variance), and their sample variance s^2 (k - 1 degrees of
freedom) estimates exactly that. So every figure that should hold from one session to the next
is computed from the trial medians, never from the pooled samples as if they were independent:

    spread     s, the sd of the log trial medians (a relative spread: 0.05 is 5%)
    interval   where the median of a repeated run of this cell (as many trials, same device and
               settings) falls, 95% of the time: median x exp(+-t(df) * s * sqrt(1/k + 1/k)).
               It is the interval that holds from one session to the next: the question a
               benchmark answers is whether another run would agree. (The confidence interval of
               the long-run median, sqrt(1/k) instead of sqrt(2/k), is kept beside it; it covers
               a next run's median only about 83-88% of the time, since that median has an
               error of its own.) Never narrower than the within-session interval.
    compare    the difference of two cells' log medians, its standard error s*sqrt(1/kA + 1/kB)
               and Student's t with the spread's degrees of freedom (a Welch test on the trial
               medians, the trial being the unit of replication).

Three trials give s with 2 degrees of freedom: t(2) = 4.30, so an honest interval from them
alone is wide. But the spread between sessions belongs to a device and its settings more than to
one cell, so the device's spread, pooled from the other cells stored for it (this run's and
earlier nights', same device, threads and CPUs) with their own degrees of freedom, is combined
with the cell's: s^2 = (df_cell s_cell^2 + df_prior s_prior^2) / (df_cell + df_prior), the
prior's weight capped at PRIOR_DF_CAP degrees of freedom so that a cell noisier than its device
still shows it. Each record stores the spread it used (sd, df, where from), so every interval can
be recomputed from stored figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
# Below this many trials a cell's own trials say little about the spread between sessions.
MIN_TRIALS = 3
# The device's spread counts for at most this many degrees of freedom beside the cell's own.
PRIOR_DF_CAP = 8
# Cells the device's spread is pooled from: the newest this many with two trials or more.
PRIOR_CELLS = 200


@dataclass(frozen=True)
class SessionSpread:
    """The sd of log trial medians, its degrees of freedom, and where it came from: "cell"
    (the cell's own trials), "device" (other cells of the device), "cell+device"."""

    sd: float
    df: int
    source: str

    def to_dict(self) -> dict:
        return {"sd": self.sd, "df": self.df, "source": self.source}

    @classmethod
    def from_dict(cls, data: dict | None) -> "SessionSpread | None":
        if not data or data.get("sd") is None or not data.get("df"):
            return None
        return cls(float(data["sd"]), int(data["df"]), str(data.get("source", "")))


def log_medians(trial_medians) -> np.ndarray:
    values = np.asarray([m for m in trial_medians if m is not None and m > 0], dtype=np.float64)
    return np.log(values)


def cell_spread(trial_medians) -> SessionSpread | None:
    """The spread of one cell's trials; None with fewer than two."""
    logs = log_medians(trial_medians)
    if logs.size < 2:
        return None
    return SessionSpread(float(np.std(logs, ddof=1)), int(logs.size - 1), "cell")


def pooled_spread(cells, source: str = "device") -> SessionSpread | None:
    """The spread pooled from several cells' trial medians (each cell's own mean removed):
    sum of squared deviations over sum of degrees of freedom."""
    squares, df = 0.0, 0
    for trial_medians in cells:
        logs = log_medians(trial_medians)
        if logs.size < 2:
            continue
        squares += float(np.sum((logs - logs.mean()) ** 2))
        df += int(logs.size - 1)
    if df == 0:
        return None
    return SessionSpread(math.sqrt(squares / df), df, source)


def combine(cell: SessionSpread | None, prior: SessionSpread | None,
            cap: int = PRIOR_DF_CAP) -> SessionSpread | None:
    """The cell's spread and the device's, weighted by degrees of freedom (the prior's capped
    at `cap`)."""
    if prior is None or prior.df == 0:
        return cell
    weight = min(prior.df, cap)
    if cell is None:
        return SessionSpread(prior.sd, weight, prior.source)
    df = cell.df + weight
    variance = (cell.df * cell.sd ** 2 + weight * prior.sd ** 2) / df
    return SessionSpread(math.sqrt(variance), df, f"{cell.source}+{prior.source}")


def t_quantile(df: int, level: float = LEVEL) -> float:
    from scipy.special import stdtrit  # t's quantile; here: reading stored figures needs no scipy

    return float(stdtrit(df, 0.5 + level / 2))


def repeat_interval(median: float, trials: int, spread: SessionSpread,
                    level: float = LEVEL) -> tuple[float, float]:
    """Where a repeated run's median falls (module docstring)."""
    half = t_quantile(spread.df, level) * spread.sd * math.sqrt(2.0 / trials)
    return median * math.exp(-half), median * math.exp(half)


def mean_interval(median: float, trials: int, spread: SessionSpread,
                  level: float = LEVEL) -> tuple[float, float]:
    """The confidence interval of the cell's long-run median."""
    half = t_quantile(spread.df, level) * spread.sd * math.sqrt(1.0 / trials)
    return median * math.exp(-half), median * math.exp(half)


@dataclass(frozen=True)
class TrialComparison:
    """B against A on their trials: the ratio of medians, its interval, Welch's p."""

    ratio: float
    low: float
    high: float
    p_value: float
    spread: SessionSpread
    se: float  # of the log ratio


def compare_trials(a_median: float, a_trials: int, b_median: float, b_trials: int,
                   spread: SessionSpread, level: float = LEVEL) -> TrialComparison:
    """log(B/A) with standard error s*sqrt(1/kA + 1/kB) and t with the spread's df."""
    from scipy.special import stdtr  # t's distribution function (scipy.stats takes a second)

    diff = math.log(b_median) - math.log(a_median)
    se = spread.sd * math.sqrt(1.0 / a_trials + 1.0 / b_trials)
    if se <= 0:
        p = 1.0 if diff == 0 else 0.0
        return TrialComparison(math.exp(diff), math.exp(diff), math.exp(diff), p, spread, 0.0)
    q = t_quantile(spread.df, level)
    p = float(2 * stdtr(spread.df, -abs(diff) / se))
    return TrialComparison(math.exp(diff), math.exp(diff - q * se), math.exp(diff + q * se), p, spread, se)


def trials_to_resolve(spread: SessionSpread, change: float = 0.05, level: float = LEVEL,
                      power: float = 0.8) -> int:
    """About how many trials per side would tell a `change` (5%) apart from none: the usual
    two-sample size, 2 (z_(1-alpha/2) + z_power)^2 s^2 / log(1 + change)^2."""
    from scipy.special import ndtri  # the normal quantile

    z = ndtri(0.5 + level / 2) + ndtri(power)
    n = 2 * (z * spread.sd / math.log1p(change)) ** 2
    return max(MIN_TRIALS, math.ceil(n))
