"""The measurement protocol: warm-up, trials and their order, combining trials, the thermal gate,
and a real interleaved multi-trial run on this host."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.support.processes import processes
from tests.support.wait import wait_until
from tests.support.paths import TESTS, TINY
from device_runners.contract import (
    DeviceInfo,
    EnergyInfo,
    RunRequest,
    RunResult,
    ThermalInfo,
)
from device_runners.host.runner import HostRunner, wait_until_cool
from device_runners.timing import run_warmup_until_settled, warmup_settled
from harness.bench.protocol import schedule
from harness.bench.settings import MeasurementSettings
from harness.errors import UsageError
from harness.bench.stats import (
    MAX_TRIAL_SPREAD,
    SampleStats,
    measurement_warnings,
    stability_warnings,
    summarize_trials,
)
from harness.bench.trials import combine_trials
from harness.store import Store

HOST = DeviceInfo("host", "linux")


def sleep_ms(ms: float) -> None:
    # A sleeping "model": on a busy machine a sleep keeps its length far better than a busy
    # loop, which other processes preempt.
    time.sleep(ms / 1e3)


# ----------------------------------------------------------------------------------------------
# Order of trials


def test_sequential_order_finishes_one_cell_before_the_next():
    assert schedule(2, 3, interleave=False) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]


def test_interleaved_order_alternates_cells_every_trial():
    assert schedule(2, 3, interleave=True) == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]
    assert schedule(3, 1, interleave=True) == schedule(3, 1, interleave=False)


def test_settings_refuse_zero_trials_and_numbers_that_are_not_finite():
    with pytest.raises(UsageError, match="--trials 0 is below its minimum of 1"):
        MeasurementSettings(trials=0)
    for name, value in (("min_duration_s", "nan"), ("memory_limit_gib", "inf"), ("cooldown_s", float("nan"))):
        with pytest.raises(UsageError, match="finite"):
            MeasurementSettings.from_values({name: value})


# ----------------------------------------------------------------------------------------------
# Warm-up until the running median settles


def test_settled_compares_the_medians_of_the_last_two_windows():
    assert not warmup_settled([1.0] * 19, window=10)  # two full windows needed
    assert warmup_settled([1.0] * 20, window=10)
    assert not warmup_settled([2.0] * 10 + [1.0] * 10, window=10)
    # One outlier per window does not move a median.
    assert warmup_settled([1.0] * 9 + [50.0] + [1.01] * 9 + [0.1], window=10, tolerance=0.02)
    assert not warmup_settled([1.0] * 10 + [1.05] * 10, window=10, tolerance=0.02)


def test_warmup_runs_until_a_slow_start_has_passed():
    calls = []

    def model():
        # Like caches and clocks warming up: 12 ms, 8% faster every call, flat at 2 ms from the
        # 23rd call on.
        calls.append(None)
        sleep_ms(max(2.0, 12.0 * 0.92 ** len(calls)))

    warmup, settled = run_warmup_until_settled(model, min_iterations=5, max_iterations=1000, max_s=10)
    assert settled
    # The window before the last must hold at most 4 of the 22 falling iterations for its
    # median to be flat: 36 iterations at the earliest. Stopping far short of the 10 s limit
    # shows it noticed.
    assert 30 <= len(warmup) < 500
    assert sorted(warmup[-10:])[5] < 0.5 * warmup[0]


def test_warmup_keeps_its_minimum_count():
    warmup, settled = run_warmup_until_settled(lambda: sleep_ms(0.5), min_iterations=50,
                                               max_iterations=1000, max_s=10)
    assert settled and 50 <= len(warmup) < 500


def test_warmup_that_never_settles_stops_at_its_time_limit_and_says_so():
    calls = []

    def drifting():
        calls.append(None)
        sleep_ms(1.0 + 0.1 * len(calls))  # every window 10% slower than the one before

    start = time.perf_counter()
    warmup, settled = run_warmup_until_settled(drifting, min_iterations=0, max_iterations=10_000,
                                               max_s=0.3)
    assert not settled
    assert 0.3 <= time.perf_counter() - start < 2.0  # loose upper bound: CI machines are shared
    assert len(warmup) == len(calls)


def test_settle_mode_travels_in_the_request_to_the_worker():
    from device_runners.host.worker import warm_up

    config = MeasurementSettings(warmup_iterations=3, warmup_until_settled=True)
    request = config.request(model="m", format="f", runtime="torch", artifact_path="/x", artifact_sha256="",
                             input_shape=(1, 3, 8, 8))
    assert RunRequest.from_json(request.to_json()).warmup_until_settled
    warmup, info = warm_up(lambda: sleep_ms(0.2), request)
    assert info == {"mode": "settle", "iterations": len(warmup), "settled": True}
    _, info = warm_up(lambda: None, MeasurementSettings(warmup_iterations=3).request(
        model="m", format="f", runtime="torch", artifact_path="/x", artifact_sha256="",
        input_shape=(1, 3, 8, 8)))
    assert info == {"mode": "count", "iterations": 3}


# ----------------------------------------------------------------------------------------------
# Trial statistics


def test_trial_medians_and_their_spread():
    stats = summarize_trials([[1.0, 1.0, 1.0], [1.1, 1.1, 1.1], [0.9, 0.9, 0.9]])
    assert stats.n == 9 and stats.median == 1.0
    assert stats.trial_medians == (1.0, 1.1, 0.9)
    assert stats.trials == 3
    assert stats.trial_spread == pytest.approx(0.2)
    assert any("3 trials spread over 20.0%" in w and f"{MAX_TRIAL_SPREAD:.0%}" in w
               for w in stability_warnings(stats))


def test_close_trials_give_no_spread_warning_and_one_trial_has_no_spread():
    close = summarize_trials([[1.00] * 20, [1.01] * 20])
    assert close.trial_spread == pytest.approx(0.01 / 1.005)  # over the pooled median
    assert stability_warnings(close) == []
    single = summarize_trials([[1.0] * 20])
    assert single.trial_medians == () and single.trial_spread is None and single.trials == 1


def test_stats_round_trip_and_stats_stored_before_trials_still_load():
    stats = summarize_trials([[1.0, 2.0], [3.0, 4.0]])
    assert SampleStats.from_dict(stats.to_dict()) == stats
    old = stats.to_dict()
    del old["trial_medians"]
    assert SampleStats.from_dict(old).trial_medians == ()


def _trial(samples, load_ms=10.0, rss=(100, 200), energy=None, thermal=None, status="ok", error=""):
    return RunResult(model="m", format="executorch", status=status, device=HOST, load_ms=load_ms,
                     first_inference_ms=load_ms / 10, samples_ms=tuple(samples),
                     warmup_samples_ms=(9.0,), peak_rss_load_kb=rss[0], peak_rss_inference_kb=rss[1],
                     energy=energy or EnergyInfo(), thermal=thermal or ThermalInfo(),
                     context={"pid": len(samples)}, error=error)


def test_combined_trials_pool_samples_and_take_the_right_summary_of_each_field():
    a = _trial([1.0] * 100, load_ms=10.0, rss=(100, 300),
               energy=EnergyInfo("rapl", 0.010, 0.001, 5.0, 0.5, 1.0, 2.0),
               thermal=ThermalInfo("none", "none", 40.0, 50.0, False, 1.5))
    b = _trial([2.0] * 300, load_ms=30.0, rss=(150, 250),
               energy=EnergyInfo("rapl", 0.020, 0.002, 7.0, 0.5, 2.0, 6.0),
               thermal=ThermalInfo("none", "light", 45.0, 90.0, True, 0.5))
    c = _trial([1.5] * 100, load_ms=20.0)
    combined = combine_trials([a, b], planned=2)
    assert combined.samples_ms == a.samples_ms + b.samples_ms
    assert combined.warmup_samples_ms == (9.0, 9.0)
    assert combined.load_ms == 20.0  # median of 10 and 30
    assert (combined.peak_rss_load_kb, combined.peak_rss_inference_kb) == (150, 300)
    e = combined.energy
    assert e.source == "rapl"
    assert e.joules_per_inference == pytest.approx((0.010 * 100 + 0.020 * 300) / 400)
    assert e.joules_per_inference_uncertainty == pytest.approx(
        ((0.001 * 100) ** 2 + (0.002 * 300) ** 2) ** 0.5 / 400)
    assert e.avg_power_w == pytest.approx((5.0 * 2 + 7.0 * 6) / 8)
    assert e.idle_power_w == pytest.approx((1.0 * 2 + 2.0 * 6) / 8)
    assert e.duration_s == 8.0
    t = combined.thermal
    assert (t.before, t.after, t.max_temp_c_before, t.max_temp_c_after) == ("none", "light", 40.0, 90.0)
    assert t.throttled and t.waited_s == 2.0
    assert combined.context["trials"] == 2
    # A trial without an energy reading makes the combined energy "none", never a partial sum.
    assert combine_trials([a, c]).energy.source == "none"
    assert "only some trials" in combine_trials([a, c]).energy.warnings[-1]


def test_a_failed_trial_fails_the_cell_and_names_the_trial():
    ok = _trial([1.0] * 10)
    bad = RunResult(model="m", format="executorch", status="run_failed", device=HOST,
                    error="worker died (exit code -9)")
    combined = combine_trials([ok, bad], planned=3)
    assert combined.status == "run_failed"
    assert combined.error == "trial 2 of 3: worker died (exit code -9)"
    assert combine_trials([bad], planned=3).error == "trial 1 of 3: worker died (exit code -9)"
    assert combine_trials([ok], planned=1) .samples_ms == ok.samples_ms


def test_throttling_and_an_unsettled_warmup_are_reasons_not_to_trust_a_result():
    stats = summarize_trials([[1.0] * 50])
    hot = _trial([1.0] * 50, thermal=ThermalInfo("none", "severe", 70.0, 95.0, True))
    warnings = measurement_warnings(stats, hot)
    assert len(warnings) == 1 and "throttling (hottest zone 95 °C)" in warnings[0]
    unsettled = RunResult(model="m", format="f", status="ok", device=HOST, samples_ms=(1.0,) * 50,
                          context={"warmup": {"mode": "settle", "iterations": 900, "settled": False}})
    assert "had not settled after 900 iterations in 1 of 1 trials" in measurement_warnings(
        stats, unsettled)[0]
    assert measurement_warnings(stats, _trial([1.0] * 50)) == []


def test_a_busy_machine_in_any_trial_is_a_reason_not_to_trust_a_result():
    two_cpus = DeviceInfo("host", "linux", cpu_count=2)
    trials = [RunResult(model="m", format="f", status="ok", device=two_cpus, samples_ms=(1.0,) * 50,
                        context={"loadavg_before": {"1min": load}}) for load in (0.9, 3.3, 1.1)]
    stats = summarize_trials([t.samples_ms for t in trials])
    combined = combine_trials(trials)
    [warning] = measurement_warnings(stats, combined, trials)
    assert "load average before a trial was 3.3 on 2 CPUs" in warning
    assert measurement_warnings(stats, combined, [trials[0], trials[2]]) == []


# ----------------------------------------------------------------------------------------------
# The thermal gate


def _zone(root, temp_millic: int) -> None:
    zone = root / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "type").write_text("x86_pkg_temp\n")
    (zone / "temp").write_text(f"{temp_millic}\n")


def test_gate_opens_at_once_without_thermal_zones(tmp_path):
    report = wait_until_cool(75.0, timeout_s=5, root=tmp_path)
    assert report.waited_s < 0.5 and report.hottest_c is None and not report.timed_out


def test_gate_waits_for_the_device_to_cool(tmp_path):
    _zone(tmp_path, 90_000)
    cooler = threading.Timer(0.4, _zone, (tmp_path, 60_000))
    cooler.start()
    try:
        report = wait_until_cool(75.0, timeout_s=10, poll_s=0.05, root=tmp_path)
    finally:
        cooler.cancel()
    assert not report.timed_out
    assert 0.35 <= report.waited_s < 5
    assert report.hottest_c == 60.0


def test_gate_gives_up_after_its_timeout_and_says_so(tmp_path):
    _zone(tmp_path, 90_000)
    report = wait_until_cool(75.0, timeout_s=0.3, poll_s=0.05, root=tmp_path)
    assert report.timed_out and report.hottest_c == 90.0
    assert 0.3 <= report.waited_s < 2


def test_host_gate_before_the_first_model_is_the_thermal_wait_alone(tmp_path):
    _zone(tmp_path, 50_000)
    runner = HostRunner(cooldown_s=0.2, root=tmp_path)
    first = runner.gate()  # nothing has run yet: no pause, only the thermal wait
    assert first.waited_s < 0.2 and first.hottest_c == 50.0 and not first.timed_out
    assert first.state == "unknown" and first.error == ""
    # The pause between models is shown by the real run below (waits of at least the cooldown).


# ----------------------------------------------------------------------------------------------
# A real run: two models, two trials each, interleaved, with a cooldown between models


class StepLog:
    """A RunObserver that keeps the order of what the run did."""

    def __init__(self):
        self.steps = []

    def run_started(self, run_id, cells):
        pass

    def cell_started(self, model, format, step):
        self.steps.append((step, model))

    def cell_finished(self, record):
        self.steps.append(("stored", record.model))


def test_interleaved_trials_alternate_between_models_and_every_trial_is_stored(tmp_path, shared_cache):
    from harness.export.base import resolve_formats
    from harness.export.cache import ArtifactCache
    from harness.run import run_benchmarks
    from harness.store import Store
    from harness.zoo import resolve_models

    tiny, slow = "tiny_models_tiny_convnet", "tiny_models_slow_convnet"
    specs = resolve_models(f"{TINY},{TESTS / 'tiny_models.py'}:slow_convnet")
    config = MeasurementSettings(warmup_iterations=2, min_iterations=10, min_duration_s=0.05, trials=2,
                         interleave=True)
    log = StepLog()
    with Store(tmp_path / "db.sqlite") as store:
        run_id = run_benchmarks(specs, resolve_formats("executorch"), HostRunner(cooldown_s=0.1),
                                store, ArtifactCache(shared_cache), config, observer=log)
        records = {r.model: r for r in store.records(run_id, recompute=True)}
        trial_samples = {m: store.trial_samples(r.id) for m, r in records.items()}

    measured = [s for s in log.steps if s[0].startswith("trial") or s[0] == "stored"]
    # A cell is stored the moment its last trial is done.
    assert measured == [("trial 1/2", tiny), ("trial 1/2", slow), ("trial 2/2", tiny),
                        ("stored", tiny), ("trial 2/2", slow), ("stored", slow)]
    # Interleaved: every export step (build, counts, export, in one child per model; none when
    # the shared cache has both) comes before the first trial.
    first_trial = next(i for i, s in enumerate(log.steps) if s[0].startswith("trial"))
    assert not [s for s in log.steps[first_trial:] if s[0] in ("build", "counts", "export")]
    for model, record in records.items():
        assert record.status == "ok", record.reason
        assert len(record.trials) == 2
        assert [len(s) for s in trial_samples[model]] == [len(t.samples_ms) for t in record.trials]
        assert record.stats.n == sum(len(s) for s in trial_samples[model])
        assert len(record.stats.trial_medians) == 2
        pids = [t.context["pid"] for t in record.trials]
        assert pids[0] != pids[1]  # each trial is a fresh worker process
        for trial in record.trials:
            ctx = trial.context
            assert ctx["warmup"] == {"mode": "count", "iterations": 2}
            assert ctx["thread_env"]["OMP_NUM_THREADS"] == "1"
            assert ctx["loadavg_before"]["1min"] >= 0
            assert "cpu" in ctx and ctx["process_threads"] >= 1
    # Every measurement switches model, so each passed the gate first; the pause is between
    # models, so not before the first.
    assert [s for s in log.steps if s[0] == "cooldown"] == [("cooldown", tiny), ("cooldown", slow)] * 2
    waits = [t.thermal.waited_s for m in (tiny, slow) for t in records[m].trials]
    assert waits[0] < 0.1 and all(w >= 0.1 for w in waits[1:])
    assert all(t.context["thermal_gate"]["waited_s"] == t.thermal.waited_s
               for m in (tiny, slow) for t in records[m].trials)
    assert records[slow].trials[0].context["thermal_gate"]["timed_out"] is False
    assert records[slow].stats.median > records[tiny].stats.median


def test_ctrl_c_between_trials_stores_the_finished_trials_and_says_how_many(tmp_path, shared_cache):
    db = tmp_path / "harness.db"
    env = dict(os.environ, HARNESS_DB=str(db), HARNESS_CACHE=str(shared_cache))
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "--models", TINY, "--formats", "executorch",
         "--warmup", "1", "--iterations", "5", "--min-time", "2", "--trials", "3"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen: set[int] = set()

    def second_trial_started() -> bool:  # a second worker, the first gone: trial 1 is done
        assert proc.poll() is None, proc.communicate()
        live = processes(parent=proc.pid)
        seen.update(live)
        return len(seen) >= 2 and min(seen) not in live

    wait_until(second_trial_started, 300, poll_s=0.05, what="the second trial")
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Interrupted" in err, (out, err)
    with Store(db) as store:
        [run] = store.runs()
        [record] = store.records(run.id)
        assert record.status == "ok"
        assert record.reason == "interrupted after 1 of 3 trials"
        assert len(record.trials) == 1 and record.stats.n == len(store.samples(record.id, trial=0))
        assert store.samples(record.id, trial=1) == []
