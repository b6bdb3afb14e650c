"""Trials are pooled only when they belong together (harness/bench/trials.py): a trial that ran
with other runtime versions, another artifact or other settings is stored but left out of the
figures, and the record says which and why."""

from __future__ import annotations

import dataclasses

from device_runners.contract import DeviceInfo, RunResult
from harness.bench.trials import trials_that_belong
from harness.store import BenchmarkRecord, Store
from harness.store.records import figures
from tests.test_store import DEVICE


def trial(samples, **changes) -> RunResult:
    base = RunResult(model="m", format="executorch", status="ok", device=DeviceInfo("host", "linux"),
                     load_ms=1.0, first_inference_ms=1.0, samples_ms=tuple(samples),
                     runtime_versions={"executorch": "1.5.1"}, artifact_sha256="a" * 64)
    return dataclasses.replace(base, **changes)


def test_a_trial_with_other_runtime_versions_is_left_out_and_named():
    trials = [trial([1.0] * 5), trial([1.1] * 5, runtime_versions={"executorch": "1.6.0"}), trial([1.05] * 5)]
    kept, excluded = trials_that_belong(trials)
    assert kept == [trials[0], trials[2]]
    assert excluded == [{"trial": 2, "differs": [
        "runtime versions (('executorch', '1.5.1'),) -> (('executorch', '1.6.0'),)"]}]


def test_the_largest_group_is_kept_and_failed_trials_stay():
    trials = [trial([2.0] * 5, threads=2), trial([1.0] * 5), trial([1.0] * 5)]
    kept, excluded = trials_that_belong(trials)
    assert kept == trials[1:] and [e["trial"] for e in excluded] == [1]
    assert excluded[0]["differs"] == ["threads 1 -> 2"]


def test_the_stored_figures_pool_only_the_trials_that_belong(tmp_path):
    trials = (trial([1.0] * 5), trial([9.0] * 5, artifact_sha256="b" * 64), trial([1.0] * 5))
    kept, excluded = trials_that_belong(list(trials))
    combined = dataclasses.replace(trials[0], samples_ms=tuple(v for t in kept for v in t.samples_ms),
                                   context={"trials_excluded": excluded})
    stats, _ = figures(combined, trials)
    assert stats.median == 1.0 and stats.n == 10
    with Store(tmp_path / "h.db") as store:
        run = store.begin_run(DEVICE, {}, "", None, "0")
        rid = store.add_record(BenchmarkRecord(run_id=run, model="m", format="executorch", device_id="host",
                                               status="ok", reason="", artifact={}, model_info={},
                                               result=combined, trials=trials))
        [again] = store.records(run, recompute=True)
    assert again.id == rid and again.stats.median == 1.0 and again.stats.n == 10
