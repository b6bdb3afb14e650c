"""Each cell of a farm run against its baseline, with `harness compare`'s statistics.

The baseline of a cell is, by farm.yaml's `baseline`:
- `rolling: K` (the default, 5): the cell's records in the last K earlier runs of this farm on
  the same device, their timed samples pooled, so one noisy night does not become the yardstick;
- `run: RUN_ID`: the cell's record in that stored run.

A cell is matched by device, model and format (with its variant); a settings change between the
baseline and tonight (threads, say) is compared all the same and named in the cell's notes, since
a setting that slows a cell down is exactly what a nightly check must catch.

Verdicts: faster / slower / no change (the 95% CI of tonight/baseline beyond ±threshold and the
Mann-Whitney p < alpha, or, with too few samples for such a p, the ranges: compare.py), broken
(measured in the baseline, not tonight: failed or skipped), new (no measured baseline, measured
tonight), new and failed (no measured baseline, and not measured tonight either: a cell that
never worked, which "broken" would wrongly say once did), and unsupported (the device cannot
run the format: not a failure of anything).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from harness.report.compare import (
    BROKEN,
    FASTER,
    NO_CHANGE,
    NOT_MEASURED,
    SLOWER,
    CellComparison,
    compare_cell,
)
from harness.store import BenchmarkRecord, CellKey, RunInfo

NEW = "new"
NEW_FAILED = "new and failed"
UNSUPPORTED = "unsupported"
VERDICTS = (SLOWER, BROKEN, NEW_FAILED, FASTER, NO_CHANGE, NEW, UNSUPPORTED)
FAILING = (SLOWER, BROKEN, NEW_FAILED)  # what fails a nightly (JUnit failures, a non-zero exit)


def farm_of(run: RunInfo) -> dict:
    """The farm identity stored with a run it made ({} for any other run)."""
    return run.config.get("farm") or {}


def earlier_farm_runs(store, farm: str, device: str, before: RunInfo) -> list[RunInfo]:
    """This farm's earlier runs on `device`, newest first (never `before` itself)."""
    runs = [r for r in store.runs()
            if farm_of(r).get("name") == farm and farm_of(r).get("device") == device
            and r.id != before.id and r.started_at < before.started_at]
    return sorted(runs, key=lambda r: r.started_at, reverse=True)


@dataclass(frozen=True)
class Baseline:
    """What tonight's cells are compared with: run ids, newest first, and a description."""

    runs: tuple[str, ...]
    description: str


def choose_baseline(store, config, device: str, run: RunInfo) -> Baseline:
    if config.baseline_run:
        named = store.get_run(config.baseline_run)
        return Baseline((named.id,), f"run {named.id}")
    earlier = earlier_farm_runs(store, config.name, device, run)[:config.rolling]
    if not earlier:
        return Baseline((), f"none yet (the first run of farm {config.name} on {device})")
    return Baseline(tuple(r.id for r in earlier),
                    f"the last {len(earlier)} run{'s' if len(earlier) > 1 else ''} of farm "
                    f"{config.name} on {device}, samples pooled")


def _key(r: BenchmarkRecord) -> tuple[str, str]:
    """A cell of this device across nights: its model and format label (CellKey.identity)."""
    return CellKey.of(r).identity[1:]


def _measured(r: BenchmarkRecord) -> bool:
    return r.status == "ok" and r.stats is not None and r.stats.n > 0


def check_run(store, config, device: str, run_id: str) -> tuple[Baseline, list[CellComparison]]:
    """Every cell of the stored farm run `run_id` against its baseline."""
    run = store.get_run(run_id)
    baseline = choose_baseline(store, config, device, run)
    history: dict[tuple[str, str], list[BenchmarkRecord]] = {}
    for base_id in baseline.runs:  # newest first
        for record in store.records(base_id):
            history.setdefault(_key(record), []).append(record)
    verdicts = []
    for tonight in store.records(run_id):
        earlier = history.get(_key(tonight), [])
        verdicts.append(_verdict(store, tonight, earlier, config))
    return baseline, verdicts


def _verdict(store, tonight: BenchmarkRecord, earlier: list[BenchmarkRecord], config) -> CellComparison:
    where = dict(device_id=tonight.device_id, model=tonight.model, format=tonight.format)
    measured = [r for r in earlier if _measured(r)]
    if tonight.status == "unsupported":
        return CellComparison(**where, verdict=UNSUPPORTED, notes=(tonight.reason,))
    if not measured:
        if _measured(tonight):
            return CellComparison(**where, verdict=NEW, b_median=tonight.stats.median)
        return CellComparison(**where, verdict=NEW_FAILED,
                              notes=(f"{tonight.status}: {tonight.reason}" if tonight.reason else tonight.status,))
    pooled = {r.id for r in measured}

    def samples(record: BenchmarkRecord) -> list[list[float]]:
        if record.id in pooled:  # the baseline side: every earlier measured record's trials
            return [t for r in measured for t in store.trial_samples(r.id)]
        return store.trial_samples(record.id)

    result = compare_cell(measured[0], tonight, config.threshold, config.alpha, samples=samples)
    if result.verdict == NOT_MEASURED:  # cannot happen with a measured baseline; be explicit
        result = dataclasses.replace(result, verdict=BROKEN)
    if result.verdict in (SLOWER, FASTER, NO_CHANGE) and len(measured) > 1:
        base = np.concatenate([np.asarray(t, dtype=np.float64) for t in samples(measured[0])])
        result = dataclasses.replace(
            result, a_median=float(np.median(base)),
            notes=(f"baseline: {len(measured)} records pooled",) + result.notes)
    return result


def failing(verdicts: list[CellComparison]) -> list[CellComparison]:
    return [v for v in verdicts if v.verdict in FAILING]
