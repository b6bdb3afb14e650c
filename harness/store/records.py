"""What the store holds: a run (`RunInfo`) and one cell of it (`BenchmarkRecord`)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field

from device_runners.contract import RunResult
from harness.bench.stats import SampleStats


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


def stats_from_json(text: str) -> SampleStats:
    # A figure stored as null was not finite when written (strict_json); NaN keeps it a float,
    # so the stability checks compare it (false) instead of failing on None.
    data = {k: math.nan if v is None else v for k, v in json.loads(text).items()}
    data["trial_medians"] = [math.nan if v is None else v for v in data.get("trial_medians") or ()]
    return SampleStats.from_dict(data)
