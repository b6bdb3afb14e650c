"""What the store holds: a run (`RunInfo`) and one cell of it (`BenchmarkRecord`)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field

from device_runners.contract import RunResult
from harness.bench.stats import SampleStats, measurement_warnings, summarize_trials


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


def without_samples(result: RunResult) -> dict:
    """A result's dict minus its samples, which are stored in the `samples` table."""
    data = result.to_dict()
    data["samples_ms"] = []
    data["warmup_samples_ms"] = []
    return data


def loads(value):
    """A JSON column's value: SQLite gives its text, PostgreSQL (a JSON column) the value itself."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def stats_from_json(text) -> SampleStats:
    # A figure stored as null was not finite when written (strict_json); NaN keeps it a float,
    # so the stability checks compare it (false) instead of failing on None.
    data = {k: math.nan if v is None else v for k, v in loads(text).items()}
    data["trial_medians"] = [math.nan if v is None else v for v in data.get("trial_medians") or ()]
    return SampleStats.from_dict(data)


def figures(result: RunResult, trials=()) -> tuple[SampleStats, tuple[str, ...]]:
    """The statistics of a record's timed samples (its trials', or its result's as one trial)
    and every warning about them: what the store keeps with a record."""
    trials = tuple(trials)
    stats = summarize_trials([t.samples_ms for t in trials or (result,)])
    return stats, tuple(measurement_warnings(stats, result, trials))


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
