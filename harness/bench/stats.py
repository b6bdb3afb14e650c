"""Statistics over raw latency samples, and the stability verdict that goes with them.

Runners only measure; every figure the harness prints is computed here from the stored samples,
so it can be recomputed from the database at any time. The store computes them once, when a
record is stored, and keeps them with it, marked with STATS_VERSION. The stability check is a
pure function returning sentences (pyperf's approach): a number that should not be trusted says
so.

The 95% confidence interval of the median comes from order statistics, exact and free of any
assumption about the distribution, with no resampling. Of n samples sorted x_(1) <= ... <= x_(n),
the number below the true median is Binomial(n, 1/2), so [x_(r), x_(s)] covers the median with
probability F(s - 1) - F(r - 1), F that binomial's cdf; r and s are the binomial's alpha/2
quantiles (r = F^-1(alpha/2), s = F^-1(1 - alpha/2) + 1), the same interval as
`scipy.stats.quantile_test(x, q, p=0.5).confidence_interval(0.95)` (alpha = 0.05). Its coverage
is at least 95% for any distribution, ties included (more where the binomial's steps overshoot).
Below 6 samples no pair of order statistics reaches 95%: the interval is then the samples'
range, [min, max], and `ci_level` says what it does reach, 1 - 2 / 2^n (75% for 3 samples, 0
for one). The cost is one sort, where the bootstrap it replaces took 3.7 s per 60,000 samples.

That interval says how well the median of *these* samples is known: the within-session
interval (`within_ci_*`). What a user needs is how well the cell's median is known from one
session to the next, and that comes from the spread between trials (harness.bench.sessions):
`ci_low`/`ci_high`, the interval printed beside every median, is where a repeated run's median
falls 95% of the time, from the trial medians' spread (combined with the device's spread from
other cells, `prior`), never narrower than the within-session one; `mean_ci_*` is the confidence
interval of the long-run median. A cell whose trials cannot give a spread (one trial, no other
cell of the device stored) keeps the within-session interval and says it covers one session.

STATS_VERSION (bump when a stored figure would come out differently; the store recomputes the
stored figures of older versions once, when it opens the database):
  1  CI of the median by a percentile bootstrap (2,000 resamples, seeded). Records of schema 3
     and older.
  2  CI of the median from order statistics, as above.
  3  The interval beside the median is the trial-level one (between sessions); the order
     statistics' interval is kept as the within-session interval; the spread used is stored.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

STATS_VERSION = 3  # see the module docstring

CI_LEVEL = 0.95
# A median whose 95% CI is wider than this fraction of the median is flagged unstable.
MAX_CI_WIDTH_FRACTION = 0.05
# A coefficient of variation above this flags the run unstable too: a spread this wide means the
# machine was busy or throttling, even if many samples made the CI of the median narrow.
MAX_CV = 0.20
# Trial medians (each trial a fresh process or a fresh load) spread over more than this fraction
# of the overall median flag the result unstable: the machine's state changed between trials,
# which no number of samples inside one trial can show.
MAX_TRIAL_SPREAD = 0.05
# A 1-minute load average above this many runnable tasks per CPU before a trial means other
# programs were competing for the CPUs the model ran on (the harness's own previous worker adds
# at most 1 to it).
MAX_LOAD_PER_CPU = 1.0
# Two latency levels inside the trials' time series this far apart (slow level / fast level - 1)
# mean the runtime was sharing its core with something this machine cannot see: another VM on
# the same host, an SMT sibling, a frequency cap. Judged on medians of consecutive blocks of
# samples, so single outliers do not count.
MAX_LEVEL_SHIFT = 0.15
LEVEL_BLOCKS = 20  # blocks per trial
MIN_BLOCK_SAMPLES = 10
# Resamples of the bootstrap that remains: the CI of a ratio of medians (harness compare), which
# has no closed form.
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
    # The median of each independent trial, in order; empty for a single trial (stats stored
    # before trials existed have none either).
    trial_medians: tuple[float, ...] = ()
    # The interval of these samples alone (order statistics); ci_low/ci_high above are the
    # between-session interval when a spread could be had (harness.bench.sessions), else these.
    within_ci_low: float | None = None
    within_ci_high: float | None = None
    within_ci_level: float | None = None
    # The confidence interval of the long-run median (None without a spread).
    mean_ci_low: float | None = None
    mean_ci_high: float | None = None
    # The spread between sessions the intervals used: the sd of log trial medians, its degrees
    # of freedom and where it came from ("cell", "device", "cell+device"); None: no spread.
    session: dict | None = None
    # The device's spread given to this record (recorded so that the figures can be recomputed).
    prior: dict | None = None

    @property
    def between_sessions(self) -> bool:
        """Whether ci_low/ci_high hold from one session to the next (a spread was had)."""
        return self.session is not None

    @property
    def ci_width_fraction(self) -> float:
        return (self.ci_high - self.ci_low) / self.median if self.median > 0 else float("inf")

    @property
    def trials(self) -> int:
        return max(1, len(self.trial_medians))

    @property
    def within_width_fraction(self) -> float:
        """The within-session interval's width over the median (stats of before version 3
        have only the one interval, which was that)."""
        low = self.within_ci_low if self.within_ci_low is not None else self.ci_low
        high = self.within_ci_high if self.within_ci_high is not None else self.ci_high
        return (high - low) / self.median if self.median > 0 else float("inf")

    @property
    def within_level(self) -> float:
        return self.within_ci_level if self.within_ci_level is not None else self.ci_level

    @property
    def trial_spread(self) -> float | None:
        """(highest - lowest trial median) / overall median; None with fewer than two trials."""
        if len(self.trial_medians) < 2 or self.median <= 0:
            return None
        return (max(self.trial_medians) - min(self.trial_medians)) / self.median

    def to_dict(self) -> dict:
        d = asdict(self)
        d["trial_medians"] = list(self.trial_medians)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "SampleStats":
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["trial_medians"] = tuple(data.get("trial_medians") or ())
        return cls(**data)


def median_ci(samples, level: float = CI_LEVEL) -> tuple[float, float, float]:
    """The order-statistic confidence interval of the median (see the module docstring):
    (low, high, confidence). The confidence is `level`, or below it when there are too few
    samples for any interval to reach it; the interval is then [min, max]."""
    from scipy.special import bdtr, bdtrc  # here: reading stored figures needs no scipy

    x = np.sort(np.asarray(samples, dtype=np.float64))
    n = x.size
    if n == 0:
        raise ValueError("The confidence interval of the median needs at least one sample.")
    tail = (1.0 - level) / 2.0
    # binom(n, 1/2)'s ppf and isf at `tail`, by bisection on its distribution function: the
    # same integers as scipy.stats.binom's (checked for n up to 3000 and beyond at six levels),
    # without importing scipy.stats, which costs a second of every command's start.
    low = _first(lambda k: bdtr(k, n, 0.5) >= tail, n) - 1  # 0-based, as scipy's quantile_test
    high = _first(lambda k: bdtrc(k, n, 0.5) <= tail, n)
    if low < 0 or high >= n:
        return float(x[0]), float(x[-1]), 1.0 - 2.0 * 0.5 ** n
    return float(x[low]), float(x[high]), level


def _first(holds, n: int) -> int:
    """The least k in 0..n for which `holds(k)`, for a `holds` false then true as k grows."""
    return bisect.bisect_left(range(n + 1), True, key=holds)


def bootstrap_medians(
    samples, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> np.ndarray:
    """The medians of `resamples` bootstrap resamples of `samples` (seeded, so reproducible).

    Drawn without building a single resample, with exactly the distribution resampling gives:
    an index drawn uniformly from 1..n is ceil(n U) for U uniform on (0, 1), so the k-th
    smallest of a resample of the sorted samples x is x at ceil(n U_(k)), and the k-th smallest
    of n uniforms is Beta(k, n + 1 - k). The next one up is the smallest of the n - k uniforms
    above it: U_(k) + (1 - U_(k)) Beta(1, n - k). One sort, then O(1) per resample, so a ratio
    CI over 60,000 samples costs milliseconds, not seconds.
    """
    x = np.sort(np.asarray(samples, dtype=np.float64))
    n = x.size
    if n == 0:
        raise ValueError("Bootstrap medians need at least one sample.")
    rng = np.random.default_rng(seed)
    k = (n + 1) // 2  # the (lower) middle order statistic, 1-based
    u = rng.beta(k, n + 1 - k, resamples)
    lower = x[_drawn_index(u, n)]
    if n % 2:
        return lower
    above = u + (1.0 - u) * rng.beta(1, n - k, resamples)
    return (lower + x[_drawn_index(above, n)]) / 2.0


def _drawn_index(u: np.ndarray, n: int) -> np.ndarray:
    """The 0-based index ceil(n u) - 1 that a uniform draw u on (0, 1) picks from n values."""
    return np.clip(np.ceil(n * u).astype(np.int64) - 1, 0, n - 1)


def percentile_interval(values: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    """The central `level` interval of a bootstrap distribution."""
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def summarize_trials(trials, prior=None) -> SampleStats:
    """Statistics of several independent trials of one cell: the median and the sample figures
    of all samples pooled; each trial's median; and the interval between sessions from the
    spread of the trial medians, combined with the device's spread `prior` (a
    harness.bench.sessions.SessionSpread, or its dict) when given. Empty trials are skipped."""
    from harness.bench import sessions

    trials = [list(t) for t in trials if len(t)]
    pooled = [v for t in trials for v in t]
    stats = summarize(pooled)
    stats = replace(stats, within_ci_low=stats.ci_low, within_ci_high=stats.ci_high,
                    within_ci_level=stats.ci_level)
    medians = tuple(float(np.median(t)) for t in trials)
    if len(trials) >= 2:
        stats = replace(stats, trial_medians=medians)
    if isinstance(prior, dict):
        prior = sessions.SessionSpread.from_dict(prior)
    spread = sessions.combine(sessions.cell_spread(medians), prior)
    if spread is None or stats.median <= 0:
        return replace(stats, prior=prior.to_dict() if prior else None)
    low, high = sessions.repeat_interval(stats.median, len(trials), spread)
    mean_low, mean_high = sessions.mean_interval(stats.median, len(trials), spread)
    return replace(stats, ci_low=min(low, stats.ci_low), ci_high=max(high, stats.ci_high),
                   ci_level=sessions.LEVEL, mean_ci_low=mean_low, mean_ci_high=mean_high,
                   session=spread.to_dict(), prior=prior.to_dict() if prior else None)


def summarize(samples) -> SampleStats:
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
    ci_low, ci_high, ci_level = median_ci(x)
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
        ci_level=ci_level,
        outliers=outliers,
    )


def narrow_enough(trials, target: float, prior=None) -> bool:
    """Whether the trials' interval between sessions is at most `target` of their median
    (--trials auto stops adding trials then); never with fewer than two trials."""
    trials = [t for t in trials if len(t)]
    if len(trials) < 2:
        return False
    stats = summarize_trials(trials, prior=prior)
    return stats.between_sessions and stats.ci_width_fraction <= target


def stability_warnings(stats: SampleStats, min_samples: int = 10) -> list[str]:
    """Sentences explaining why a result should not be trusted; empty when it is stable."""
    warnings = []
    if stats.n < min_samples:
        warnings.append(
            f"only {stats.n} timed samples (fewer than {min_samples}): raise the iteration count"
            " or --min-time."
        )
    width = stats.within_width_fraction
    if width > MAX_CI_WIDTH_FRACTION:
        warnings.append(
            f"within a session, the {stats.within_level:.0%} confidence interval of the median is"
            f" {width:.1%} of the median (limit {MAX_CI_WIDTH_FRACTION:.0%}): run longer"
            " (--min-time) or quiet the machine."
        )
    if stats.cv > MAX_CV:
        warnings.append(
            f"the standard deviation is {stats.cv:.0%} of the mean (limit {MAX_CV:.0%}): the"
            " machine was busy or throttling; close other programs or pin the CPU (--affinity)."
        )
    spread = stats.trial_spread
    if spread is not None and spread > MAX_TRIAL_SPREAD:
        warnings.append(
            f"the medians of the {stats.trials} trials spread over {spread:.1%} of the median"
            f" (limit {MAX_TRIAL_SPREAD:.0%}): the machine changed between trials (other"
            " programs, frequency scaling, heat); quiet it, or add --cooldown or --interleave."
        )
    return warnings


@dataclass(frozen=True)
class LevelShift:
    """Latency that moved between a fast and a slow level during the timed samples."""

    fast_ms: float
    slow_ms: float
    slow_share: float  # fraction of the blocks at the slow level
    switches: int  # times consecutive blocks crossed between the levels, over all trials

    @property
    def ratio(self) -> float:
        return self.slow_ms / self.fast_ms


def block_medians(samples, blocks: int = LEVEL_BLOCKS, min_block: int = MIN_BLOCK_SAMPLES) -> list[float]:
    """Medians of consecutive blocks of a trial's samples, in time order (empty when too short)."""
    x = np.asarray(list(samples), dtype=np.float64)
    size = max(min_block, x.size // blocks)
    return [float(np.median(x[i:i + size])) for i in range(0, x.size - size + 1, size)]


def level_shift(trials) -> LevelShift | None:
    """The two levels the latency moved between, when they are MAX_LEVEL_SHIFT or more apart.

    `trials` is each trial's samples in time order. The midpoint between the 10th and 90th
    percentiles of all block medians splits the blocks into a fast and a slow group; the levels
    are the groups' medians, and both tests (percentiles and levels) must reach the limit.
    """
    per_trial = [block_medians(t) for t in trials]
    per_trial = [b for b in per_trial if len(b) >= 4]
    pooled = [m for b in per_trial for m in b]
    if not pooled:
        return None
    low, high = np.percentile(pooled, [10, 90])
    if low <= 0 or high / low - 1 < MAX_LEVEL_SHIFT:
        return None
    cut = (low + high) / 2
    fast = float(np.median([m for m in pooled if m < cut]))
    slow = float(np.median([m for m in pooled if m >= cut]))
    if slow / fast - 1 < MAX_LEVEL_SHIFT:  # the levels themselves, as the warning reports them
        return None
    switches = sum(int((a >= cut) != (b >= cut)) for blocks in per_trial for a, b in zip(blocks, blocks[1:]))
    share = sum(m >= cut for m in pooled) / len(pooled)
    return LevelShift(fast, slow, share, switches)


def level_shift_warning(trials) -> str | None:
    """A sentence about a level shift in `trials` (each trial's samples), or None."""
    shift = level_shift(trials)
    if shift is None:
        return None
    if shift.switches >= 2:
        cause = (f"it switched between them {shift.switches} times, so something outside this"
                 " process shared the core (another VM on the same host, an SMT sibling, a"
                 " frequency cap); the median depends on how long each level lasted. Run on a"
                 " dedicated machine, or compare with --interleave so both sides share it")
    else:
        cause = ("it moved once and stayed: the machine drifted (heat, frequency scaling, a"
                 " program that started or stopped); quiet it, or add --cooldown")
    return (f"the latency ran at two levels, {shift.fast_ms:.3g} ms and {shift.slow_ms:.3g} ms"
            f" ({shift.ratio - 1:.0%} apart, {shift.slow_share:.0%} of the time at the slower);"
            f" {cause}.")


def result_warnings(result, trials=()) -> list[str]:
    """Sentences about how a measurement was taken, beyond its samples: a device that throttled,
    a machine busy with other work, a warm-up that never settled.

    `result` is a cell's (combined) `RunResult`; `trials` its trials' own results, whose
    contexts are checked one by one (the combined one carries the first trial's).
    """
    warnings = []
    thermal = result.thermal
    if thermal.throttled:
        hottest = max((t for t in (thermal.max_temp_c_before, thermal.max_temp_c_after)
                       if t is not None), default=None)
        where = f" (hottest zone {hottest:.0f} °C)" if hottest is not None else ""
        warnings.append(
            f"the device was throttling{where}, thermal state {thermal.before} -> {thermal.after}:"
            " let it cool first (--cooldown) or improve its cooling."
        )
    trials = tuple(trials) or (result,)
    cpus = result.device.cpu_count
    loads = [t.context.get("loadavg_before", {}).get("1min") for t in trials]
    busiest = max((x for x in loads if x is not None), default=None)
    if busiest is not None and cpus and busiest > cpus * MAX_LOAD_PER_CPU:
        warnings.append(
            f"the load average before a trial was {busiest:.1f} on {cpus} CPUs: other programs"
            " were competing for the CPU; close them, or run when the machine is idle."
        )
    # What a runner itself found doubtful (a GPU delegate that took only part of the graph);
    # results stored before `warnings` was a field of the contract kept it in their context.
    found = (w for t in trials for w in (*t.warnings, *t.context.get("runner_warnings", ())))
    for sentence in dict.fromkeys(found):
        warnings.append(sentence if sentence.endswith(".") else sentence + ".")
    unsettled = [t.context.get("warmup", {}) for t in trials]
    unsettled = [w for w in unsettled if w.get("mode") == "settle" and w.get("settled") is False]
    if unsettled:
        warnings.append(
            f"the warm-up median had not settled after {unsettled[0].get('iterations')} iterations"
            f" in {len(unsettled)} of {len(trials)} trials: the timed samples may still include"
            " warm-up effects; raise --warmup."
        )
    return warnings


def measurement_warnings(stats: SampleStats | None, result=None, trials=()) -> list[str]:
    """Every reason a stored cell should not be trusted: its samples' and its run's. A
    sustained cell (harness.bench.sustained) throttles and slows down on purpose: its spread,
    its levels and its heat are what it measures, shown in its windows, not warned about."""
    if result is not None and result.context.get("sustained"):
        return [w for w in result_warnings(result, trials) if "throttling" not in w]
    warnings = stability_warnings(stats) if stats is not None else []
    if result is not None:
        shift = level_shift_warning([t.samples_ms for t in (tuple(trials) or (result,))])
        if shift:
            warnings.append(shift)
        warnings += result_warnings(result, trials)
    return warnings


def is_unstable(stats: SampleStats) -> bool:
    return bool(stability_warnings(stats))
