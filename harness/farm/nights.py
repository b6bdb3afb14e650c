"""A cell's nights: tonight's median against the cell's own night-to-night noise, and what its
series of nightly medians did (a step, a slow creep, a one-night blip).

On a phone, separate sessions of one build land percents apart; a rule that flags every night
beyond a fixed 5% cries wolf. So tonight is slower only when it is beyond both the threshold and
a multiple of the cell's own noise:

    a night   the mean of its trials' log medians (night_log): its variance is exactly the
                spread between sessions over the trials, which the pooled samples' median's is
                not (with offsets larger than the noise within a trial, that median follows the
                middle trial: about 1.35 times the variance, for three)
    baseline    the median of the last K nights
    noise       the sd of one night, from two estimates pooled by degrees of freedom: the
                history's own (1.4826 x MAD of the last K nights: robust to an earlier blip or
                step inside the window, but only 37% as efficient as an sd, so it counts for
                0.37 (K - 1) df) and the model's (the spread between sessions of tonight's
                trials combined with the device's from all its cells, up to NOISE_PRIOR_DF df,
                over the root of the trials)
    limit       max(log(1 + threshold), t(df, 1 - alpha/2) * noise * sqrt(1 + pi/2 / K)): a
                tonight drawn from the same distribution as the K nights passes with
                probability 1 - alpha (the pi/2 / K for the error of the baseline, a median)

benchmarks/verdicts.py measures what this gives: unchanged nights flagged, steps caught.

A cell with fewer than MIN_NIGHTS nights of history is judged as `harness compare` judges two
runs (its trials against the last nights' pooled trials, harness.report.compare).

The series: PELT change points (the `ruptures` library, an L2 cost, a BIC-like penalty of
2 noise^2 ln(n), a minimum segment of one night) over the log nightly medians, tonight
included. A change point whose later segment sits beyond both the threshold and what the
noise makes of two segments that long (t at alpha over the n - 1 places a change could start:
Bonferroni), and holds two nights or more, is a step: its first night, and the commits between
the night before it and it, are named. A last segment of one night beyond those limits is a
blip or the start of a step (the next night tells). Without a change point, or where one
straight line fits the series as well as the segments (with the same penalty for its slope as
for a break: PELT cuts a ramp into stairs), a Theil-Sen slope whose drift over the series passes
the threshold, with a Kendall tau test at alpha, is a creep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_NIGHTS = 4  # of history, for the noise rule; fewer: the trials decide (compare's rule)
MAD_SCALE = 1.4826  # MAD to a normal sd
MAD_EFFICIENCY = 0.37  # a MAD's variance is that of an sd from 37% as many normal values
MEDIAN_VARIANCE = math.pi / 2  # a median's variance over a mean's, for normal values
# The device's spread between sessions counts for up to this many degrees of freedom in a
# night's noise (compare caps it lower, harness.bench.sessions.PRIOR_DF_CAP: there one cell's
# three trials decide; here the cell's own history is beside it).
NOISE_PRIOR_DF = 30
SERIES_NIGHTS = 30  # the nights the change points look at


@dataclass(frozen=True)
class NightNoise:
    sd: float  # of one night's log median
    df: int
    sources: str


def night_log(stats) -> float:
    """A night's figure on the log scale: the mean of its trials' log medians (module
    docstring), or the log median of a night of one trial."""
    medians = [m for m in (stats.trial_medians or ()) if m and m > 0]
    if len(medians) >= 2:
        return float(np.mean(np.log(medians)))
    return math.log(stats.median)


def night_spread(stats) -> dict | None:
    """The spread between sessions behind a night: its trials' own, with the device's (the
    prior its record stores) up to NOISE_PRIOR_DF degrees of freedom."""
    from harness.bench import sessions

    spread = sessions.combine(sessions.cell_spread(stats.trial_medians or ()),
                              sessions.SessionSpread.from_dict(stats.prior), cap=NOISE_PRIOR_DF)
    if spread is None:  # a record stored before the prior was kept: the spread it used
        return stats.session
    return spread.to_dict()


def night_noise(history_logs: list[float], tonight_spread: dict | None, tonight_trials: int) -> NightNoise | None:
    """The noise of one night (module docstring); None with nothing to estimate it."""
    parts = []  # (variance, df, name)
    if len(history_logs) >= MIN_NIGHTS:
        logs = np.asarray(history_logs)
        mad = float(np.median(np.abs(logs - np.median(logs))))
        parts.append(((MAD_SCALE * mad) ** 2, MAD_EFFICIENCY * (len(logs) - 1), f"{len(logs)} nights"))
    if tonight_spread and tonight_spread.get("sd") is not None and tonight_trials:
        parts.append((tonight_spread["sd"] ** 2 / tonight_trials, int(tonight_spread.get("df") or 1),
                      "the spread between sessions"))
    if not parts:
        return None
    df = sum(p[1] for p in parts)
    variance = sum(v * d for v, d, _ in parts) / df
    return NightNoise(math.sqrt(variance), df, " and ".join(p[2] for p in parts))


@dataclass(frozen=True)
class NightVerdict:
    direction: int  # +1 slower, -1 faster, 0 within
    ratio: float  # tonight / baseline
    limit: float  # the ratio tonight had to pass (above 1)
    noise: NightNoise


def judge_night(history_logs: list[float], tonight_log: float, noise: NightNoise,
                threshold: float, alpha: float) -> NightVerdict:
    from scipy.stats import t

    base = float(np.median(history_logs))
    k = len(history_logs)
    limit = max(math.log1p(threshold),
                float(t.ppf(1 - alpha / 2, noise.df)) * noise.sd * math.sqrt(1 + MEDIAN_VARIANCE / k))
    d = tonight_log - base
    direction = 1 if d > limit else -1 if d < -limit else 0
    return NightVerdict(direction, math.exp(d), math.exp(limit), noise)


@dataclass(frozen=True)
class Trend:
    kind: str  # "step", "creep", "blip", "" (nothing)
    text: str
    since: int | None = None  # index of a step's first night in the series


def series_trend(logs: list[float], noise_sd: float, threshold: float, alpha: float,
                 labels: list[str], commits: list[str | None], noise_df: float = 10) -> Trend:
    """What the nightly series (oldest first, tonight last) did (module docstring). `labels`
    name each night (its run), `commits` its git sha."""
    n = len(logs)
    if n < 3 or noise_sd <= 0:
        return Trend("", "")
    step = math.log1p(threshold)
    series = np.asarray(logs, dtype=np.float64)
    import ruptures

    penalty = 2 * noise_sd ** 2 * math.log(n)
    breaks = ruptures.Pelt(model="l2", min_size=1, jump=1).fit(series.reshape(-1, 1)).predict(pen=penalty)
    starts = [0, *breaks[:-1]]
    segments = list(zip(starts, breaks))
    if len(segments) > 1 and _line_fits_better(series, segments, penalty):
        return _creep(series, threshold, alpha, labels)  # a ramp cut into stairs is a creep
    from scipy.stats import t as student_t

    # PELT looked at every one of the n - 1 places a change could start, and offers the ones
    # that stand out most: each is tested at alpha / (n - 1) (Bonferroni), so an unchanged
    # series is named a step or a blip at most alpha of the time, not alpha per night.
    critical = float(student_t.ppf(1 - alpha / (2 * (n - 1)), noise_df))
    for (a0, a1), (b0, b1) in zip(segments, segments[1:]):
        shift = float(series[b0:b1].mean() - series[a0:a1].mean())
        # Beyond the threshold, and beyond what the noise of nights makes of two segments
        # this long (Welch-like, with the noise's degrees of freedom): a change, not a wobble.
        noise_limit = critical * noise_sd * math.sqrt(1 / (a1 - a0) + 1 / (b1 - b0))
        if abs(shift) <= max(step, noise_limit):
            continue
        word = "slower" if shift > 0 else "faster"
        if b1 - b0 >= 2:
            between = _commits(commits[b0 - 1], commits[b0])
            return Trend("step", f"a step {math.expm1(shift):+.1%} ({word}) since {labels[b0]}, "
                                 f"held {b1 - b0} nights{between}", since=b0)
        if b1 == n:
            return Trend("blip", f"{labels[b0]} {math.expm1(shift):+.1%} ({word}): a blip or the "
                                 "start of a step; the next night tells")
        return Trend("blip", f"a one-night blip {math.expm1(shift):+.1%} on {labels[b0]}")
    return _creep(series, threshold, alpha, labels)


def _line_fits_better(series: np.ndarray, segments, penalty: float) -> bool:
    """Whether one straight line explains the series as well as PELT's flat segments, each
    paying the same penalty per parameter beyond a constant (a break, or the line's slope):
    PELT cuts a steady creep into steps, and a line tells them apart."""
    x = np.arange(series.size)
    slope, intercept = np.polyfit(x, series, 1)
    line = float(np.sum((series - (slope * x + intercept)) ** 2)) + penalty
    flat = sum(float(np.sum((series[a:b] - series[a:b].mean()) ** 2)) for a, b in segments)
    return line <= flat + penalty * (len(segments) - 1)


def _creep(series: np.ndarray, threshold: float, alpha: float, labels: list[str]) -> Trend:
    from scipy.stats import kendalltau, theilslopes

    if series.size < 5:
        return Trend("", "")
    x = np.arange(series.size)
    slope = float(theilslopes(series, x)[0])
    drift = slope * (series.size - 1)
    tau = kendalltau(x, series)
    if abs(drift) > math.log1p(threshold) and tau.pvalue < alpha:
        word = "slower" if drift > 0 else "faster"
        return Trend("creep", f"a creep of {math.expm1(drift):+.1%} ({word}) from {labels[0]} to "
                              f"{labels[-1]} (Theil-Sen slope {math.expm1(slope):+.2%} a night)")
    return Trend("", "")


def _commits(before: str | None, after: str | None) -> str:
    if before and after and before != after:
        return f"; commits {before[:10]}..{after[:10]}"
    if after:
        return f"; commit {after[:10]} (the night before ran the same)" if before == after else f"; commit {after[:10]}"
    return ""
