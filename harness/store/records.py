"""What the store holds: a run (`RunInfo`) and one cell of it (`BenchmarkRecord`)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field

from device_runners.contract import RunResult
from harness.bench.stats import STATS_VERSION, SampleStats, measurement_warnings, summarize_trials


@dataclass(frozen=True)
class RunInfo:
    id: str
    started_at: float
    finished_at: float | None
    status: str
    device_id: str
    device: dict
    config: dict
    argv: str
    git_sha: str | None
    harness_version: str | None
    heartbeat_at: float | None = None


@dataclass(frozen=True)
class BenchmarkRecord:
    """One cell of a run: a model in a format on a device, measured or with its reason."""

    run_id: str
    model: str
    format: str
    device_id: str
    status: str
    reason: str
    artifact: dict
    model_info: dict
    result: RunResult | None = None  # all trials combined (harness.bench.trials)
    stats: SampleStats | None = None
    warnings: tuple[str, ...] = ()
    id: int | None = None
    created_at: float = field(default_factory=time.time)
    trials: tuple[RunResult, ...] = ()  # each trial's own result, in order
    # False when read from the store without its samples (the default): `result.samples_ms`,
    # its warm-up samples and every trial's are then empty, while `stats` and `warnings` are
    # the figures stored with the record. `Store.records(..., samples=True)` puts them back.
    samples_loaded: bool = True

    @property
    def trial_results(self) -> tuple[RunResult, ...]:
        """Each trial's result; a record stored without trials counts its result as one."""
        if self.trials:
            return self.trials
        return (self.result,) if self.result is not None else ()

    @property
    def unstable(self) -> bool:
        return bool(self.warnings)

    @property
    def tool_summary(self) -> "ToolSummary | None":
        """Another tool's own latency figures, for a record measured only by such a summary
        (no samples, so no statistics of the harness); None for any other record."""
        if self.stats is not None or self.result is None:
            return None
        return ToolSummary.from_context(self.result.context)

    @property
    def memory_only(self) -> bool:
        """A measured cell whose tool measured memory and no latency (XCTest's memory tests,
        `peak_inference_mem_usage(mb)` records)."""
        res = self.result
        return (self.status == "ok" and self.stats is None and self.tool_summary is None
                and res is not None and (res.peak_rss_inference_kb is not None
                                         or res.peak_rss_load_kb is not None))


@dataclass(frozen=True)
class ToolSummary:
    """A latency summary another tool printed, kept as that tool's figures and labelled as its.

    Tools such as TFLite's benchmark_model print count, mean, min, max and std of their runs
    and never the runs; AI Hub and ExecuTorch's benchmark app give one figure. Such a figure is
    not a sample: a record holding one has no samples and no statistics of the harness, and
    carries this summary in its result's `context["tool_summary"]` (plain JSON, so stored
    records need no new column and older harnesses read them as records without statistics).
    Times are milliseconds; `None` where the tool printed nothing.
    """

    tool: str  # "benchmark_model", "AI Hub", "ExecuTorch benchmark app", ...
    statistic: str  # what `value_ms` is: "mean", "median", or "figure" (a tool's one number)
    value_ms: float
    n: int | None = None  # the tool's count of timed runs, when it says
    mean_ms: float | None = None
    std_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    median_ms: float | None = None
    first_ms: float | None = None
    curr_ms: float | None = None
    percentiles_ms: dict = field(default_factory=dict)  # {"p5": ..., "p95": ...}
    other_ms: dict = field(default_factory=dict)  # the tool's other figures: {"trimmed mean": ...}
    note: str = ""  # where the figures come from, in words

    KEY = "tool_summary"

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict) -> "ToolSummary":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @classmethod
    def from_context(cls, context: dict) -> "ToolSummary | None":
        data = (context or {}).get(cls.KEY)
        if not isinstance(data, dict) or not isinstance(data.get("value_ms"), (int, float)):
            return None
        return cls.from_dict(data)

    @property
    def label(self) -> str:
        """`benchmark_model's mean of 84 runs`, `AI Hub's figure`."""
        runs = f" of {self.n} runs" if self.n else ""
        return f"{self.tool}'s {self.statistic}{runs}"

    @property
    def range_ms(self) -> tuple[float, float]:
        """The fastest and slowest run the tool reports; its one figure when it gives no range."""
        low = self.min_ms if self.min_ms is not None else self.value_ms
        high = self.max_ms if self.max_ms is not None else self.value_ms
        return low, high


def without_samples(result: RunResult) -> dict:
    """A result's dict minus its samples, which are stored in the `samples` table."""
    data = result.to_dict()
    data["samples_ms"] = []
    data["warmup_samples_ms"] = []
    return data


def loads(value):
    """A JSON column's value: SQLite gives its text, PostgreSQL (a JSON column) the value itself."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def stored_prior(stats_json) -> dict | None:
    """The device spread a record's stored figures used, so a recomputation uses it again."""
    if not stats_json:
        return None
    try:
        return loads(stats_json).get("prior")
    except (ValueError, AttributeError):
        return None


# The figures of SampleStats that are always numbers (the others may be absent: None).
_FIGURES = frozenset(("median", "mean", "std", "cv", "p90", "p99", "min", "max", "trimmed_mean",
                      "ci_low", "ci_high", "ci_level"))


def stats_from_json(text) -> SampleStats:
    # A figure stored as null was not finite when written (strict_json); NaN keeps it a float,
    # so the stability checks compare it (false) instead of failing on None.
    data = {k: math.nan if v is None and k in _FIGURES else v for k, v in loads(text).items()}
    data["trial_medians"] = [math.nan if v is None else v for v in data.get("trial_medians") or ()]
    return SampleStats.from_dict(data)


def figures(result: RunResult, trials=(), prior=None) -> tuple[SampleStats, tuple[str, ...]]:
    """The statistics of a record's timed samples (its trials', or its result's as one trial)
    and every warning about them: what the store keeps with a record. `prior` is the device's
    spread between sessions the record was stored with (harness.bench.sessions)."""
    trials = pooled(result, trials)
    stats = summarize_trials([t.samples_ms for t in trials or (result,)], prior=prior)
    return stats, tuple(measurement_warnings(stats, result, trials))


def figure_columns(stats: SampleStats | None, warnings) -> tuple:
    """A record's figures as the store's columns: median_ms, ci_low_ms, ci_high_ms, unstable,
    stats_json, stats_version, warnings_json."""
    from harness.store.errors import strict_json

    if stats is None:
        return None, None, None, None, None, None, strict_json([])
    return (stats.median, stats.ci_low, stats.ci_high, int(bool(warnings)),
            strict_json(stats.to_dict()), STATS_VERSION, strict_json(list(warnings)))


def pooled(result: RunResult, trials=()) -> tuple[RunResult, ...]:
    """The trials a record's figures pool: all, but those the run found did not belong with
    the others (`context["trials_excluded"]`, harness.bench.trials.trials_that_belong)."""
    excluded = {e.get("trial") for e in result.context.get("trials_excluded") or ()}
    return tuple(t for number, t in enumerate(trials, 1) if number not in excluded)


def _stored_result(data: dict) -> RunResult:
    # Validated where it entered (the runner's JSON, the harness's checks); a stored result must
    # always read back, and validating it again on every read cost more than the rest of a read.
    return RunResult.from_dict(data, check_problems=False, check_schema=False)


def results_from_json(result_json, trials_json,
                      timed: dict[int, list[float]] | None = None,
                      warmup: dict[int, list[float]] | None = None,
                      ) -> tuple[RunResult | None, tuple[RunResult, ...]]:
    """The combined result and each trial's, from their stored JSON (text, or the value a
    PostgreSQL JSON column reads as). With `timed` and `warmup` (samples by trial number) the
    samples are put back; without, every result has none."""
    if not result_json:
        return None, ()
    timed, warmup = timed or {}, warmup or {}
    trials = []
    for i, data in enumerate(loads(trials_json) if trials_json else []):
        data["samples_ms"] = timed.get(i, [])
        data["warmup_samples_ms"] = warmup.get(i, [])
        trials.append(_stored_result(data))
    combined = loads(result_json)
    # Version-1 records kept their samples in result_json as well; the samples table is the truth.
    combined["samples_ms"] = [v for t in sorted(timed) for v in timed[t]]
    combined["warmup_samples_ms"] = [v for t in sorted(warmup) for v in warmup[t]]
    return _stored_result(combined), tuple(trials)


def warnings_from_json(text) -> tuple[str, ...]:
    return tuple(loads(text)) if text else ()
