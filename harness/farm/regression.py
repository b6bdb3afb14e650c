"""Each cell of a farm run against its own history.

The baseline of a cell is, by farm.yaml's `baseline`:
- `rolling: K` (the default, 5): the cell's last K earlier nights of this farm on the same
  device. With MIN_NIGHTS of them or more, tonight is slower or faster only beyond both the
  threshold and a multiple of the cell's own night-to-night noise (harness.farm.nights); with
  fewer, its trials are compared with those nights' pooled trials as `harness compare` does.
  Over the cell's nights (tonight included) change points tell a step (named by its first night
  and the commits around it), a slow creep and a one-night blip apart (harness.farm.nights).
- `run: RUN_ID`: the cell's record in that stored run, compared as `harness compare` does.

A cell is matched by device, model and format (with its variant); a settings change between the
baseline and tonight (threads, say) is compared all the same and named in the cell's notes, since
a setting that slows a cell down is exactly what a nightly check must catch.

Verdicts: faster / slower / no change (the rules above), undecided (too few nights, and the
trials cannot tell: compare.py), broken
(measured in the baseline, not tonight: failed or skipped), new (no measured baseline, measured
tonight), new and failed (no measured baseline, and not measured tonight either: a cell that
never worked, which "broken" would wrongly say once did), and unsupported (the device cannot
run the format: not a failure of anything).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from harness.bench.validity import validity
from harness.farm.nights import (
    MIN_NIGHTS,
    SERIES_NIGHTS,
    judge_night,
    night_log,
    night_noise,
    night_spread,
    series_trend,
)
from harness.report.compare import (
    BROKEN,
    FASTER,
    NO_CHANGE,
    NOT_MEASURED,
    SLOWER,
    UNDECIDED,
    CellComparison,
    _notes,
    compare_cell,
)
from harness.placement.contracts import CONTRACT_BROKEN, breaches
from harness.store import BenchmarkRecord, CellKey, RunInfo

NEW = "new"
NEW_FAILED = "new and failed"
UNSUPPORTED = "unsupported"
VERDICTS = (SLOWER, BROKEN, CONTRACT_BROKEN, NEW_FAILED, FASTER, NO_CHANGE, UNDECIDED, NEW,
            UNSUPPORTED)
# What fails a nightly (JUnit failures, a non-zero exit). `contract broken`: a measured cell
# breaking a rule of farm.yaml's `expect:` (harness.placement.contracts).
FAILING = (SLOWER, BROKEN, CONTRACT_BROKEN, NEW_FAILED)


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
    nights = ([store.get_run(r) for r in baseline.runs] if config.baseline_run
              else earlier_farm_runs(store, config.name, device, run)[:SERIES_NIGHTS])
    history: dict[tuple[str, str], list[tuple[RunInfo, BenchmarkRecord]]] = {}
    for night in nights:  # newest first
        for record in store.records(night.id):
            history.setdefault(_key(record), []).append((night, record))
    verdicts = []
    for tonight in store.records(run_id):
        verdict = _verdict(store, run, tonight, history.get(_key(tonight), []), config)
        judged = validity(tonight, run.config.get("bench"))
        if judged is not None and not judged.valid:
            verdict = dataclasses.replace(verdict, invalid=tuple(judged.reasons))
        verdicts.append(with_breaches(verdict, breaches(config.expect, device, tonight)))
    return baseline, verdicts


def with_breaches(verdict: CellComparison, broken: list[str]) -> CellComparison:
    """A cell that breaks a delegation contract fails: `contract broken`, unless it already
    fails otherwise (slower: that verdict stays); the broken rules lead its notes."""
    if not broken:
        return verdict
    was = () if verdict.verdict in FAILING else (f"latency: {verdict.verdict}",)
    return dataclasses.replace(verdict, verdict=verdict.verdict if verdict.verdict in FAILING
                               else CONTRACT_BROKEN, notes=(*broken, *was, *verdict.notes))


def _verdict(store, run: RunInfo, tonight: BenchmarkRecord,
             earlier: list[tuple[RunInfo, BenchmarkRecord]], config) -> CellComparison:
    where = dict(device_id=tonight.device_id, model=tonight.model, format=tonight.format)
    measured = [(night, r) for night, r in earlier if _measured(r)]
    if tonight.status == "unsupported":
        return CellComparison(**where, verdict=UNSUPPORTED, notes=(tonight.reason,))
    if not measured:
        if _measured(tonight):
            return CellComparison(**where, verdict=NEW, b_median=tonight.stats.median)
        return CellComparison(**where, verdict=NEW_FAILED,
                              notes=(f"{tonight.status}: {tonight.reason}" if tonight.reason else tonight.status,))
    recent = measured[:config.rolling]
    if not _measured(tonight) or config.baseline_run or len(recent) < MIN_NIGHTS:
        return _by_trials(store, tonight, [r for _, r in recent], config)
    return _by_nights(run, tonight, recent, measured, config)


def _by_trials(store, tonight: BenchmarkRecord, measured: list[BenchmarkRecord], config) -> CellComparison:
    """Tonight's trials against the last nights' pooled trials (compare.py's rule)."""
    pooled = {r.id for r in measured}

    def samples(record: BenchmarkRecord) -> list[list[float]]:
        if record.id in pooled:  # the baseline side: every earlier measured record's trials
            return [t for r in measured for t in store.trial_samples(r.id)]
        return store.trial_samples(record.id)

    result = compare_cell(measured[0], tonight, config.threshold, config.alpha, samples=samples)
    if result.verdict == NOT_MEASURED:  # cannot happen with a measured baseline; be explicit
        result = dataclasses.replace(result, verdict=BROKEN)
    if result.verdict in (SLOWER, FASTER, NO_CHANGE, UNDECIDED) and len(measured) > 1:
        base = np.concatenate([np.asarray(t, dtype=np.float64) for t in samples(measured[0])])
        result = dataclasses.replace(
            result, a_median=float(np.median(base)),
            notes=(f"baseline: {len(measured)} nights' trials pooled (fewer than {MIN_NIGHTS} "
                   "nights: judged on the trials)",) + result.notes)
    return result


def _by_nights(run: RunInfo, tonight: BenchmarkRecord, recent, measured, config) -> CellComparison:
    """Tonight against the cell's own night-to-night noise, and its series' trend."""
    where = dict(device_id=tonight.device_id, model=tonight.model, format=tonight.format)
    logs = [night_log(r.stats) for _, r in reversed(recent)]  # oldest first
    tonight_log = night_log(tonight.stats)
    noise = night_noise(logs, night_spread(tonight.stats), tonight.stats.trials)
    judged = judge_night(logs, tonight_log, noise, config.threshold, config.alpha)
    verdict = SLOWER if judged.direction > 0 else FASTER if judged.direction < 0 else NO_CHANGE
    series = list(reversed(measured))  # oldest first
    trend = series_trend([night_log(r.stats) for _, r in series] + [tonight_log], noise.sd,
                         config.threshold, config.alpha,
                         [_night_label(n) for n, _ in series] + [_night_label(run)],
                         [n.git_sha for n, _ in series] + [run.git_sha], noise.df)
    notes = [f"tonight/baseline {judged.ratio:.3f}, beyond ±{judged.limit - 1:.1%} is a change "
             f"(the threshold, or {noise.sd:.1%} a night of noise from {noise.sources})"]
    if trend.text:
        notes.append(trend.text)
    # Both medians as the rule sees nights (night_log), so that the digest's ratio is theirs.
    return CellComparison(**where, verdict=verdict, a_median=math.exp(float(np.median(logs))),
                          b_median=math.exp(tonight_log), ratio=judged.ratio,
                          notes=(*notes, *_notes(recent[0][1], tonight)), trend=trend.kind)


def _night_label(run: RunInfo) -> str:
    return farm_of(run).get("run") or run.id


def failing(verdicts: list[CellComparison]) -> list[CellComparison]:
    return [v for v in verdicts if v.verdict in FAILING]
