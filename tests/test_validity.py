"""The validity verdict per cell (harness.bench.validity): each check failing on its own, with its
reason, and the verdict where users read it: `show`, `show --json`, the site and the farm digest."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

from device_runners.contract import DeviceInfo, RunResult, ThermalInfo
from harness.bench.stats import measurement_warnings, summarize_trials
from harness.bench.trials import combine_trials
from harness.bench.validity import invalid_notes, validity
from harness.cli import main
from harness.farm.regression import check_run
from harness.farm.config import parse_farm
from harness.farm.reports import DeviceOutcome, FarmOutcome, digest, summary
from harness.store import BenchmarkRecord, Store

HOST = DeviceInfo("host", "linux")
BENCH = {"min_iterations": 100, "min_duration_s": 0.1, "max_iterations": 100_000}


def _cell(trials, thermal=ThermalInfo(), contexts=None, model="m") -> BenchmarkRecord:
    """A measured cell of `trials` (each a list of samples in ms)."""
    contexts = contexts or [{}] * len(trials)
    results = [RunResult(model=model, format="executorch", status="ok", device=HOST,
                         samples_ms=tuple(t), thermal=thermal, context=c)
               for t, c in zip(trials, contexts)]
    stats = summarize_trials([r.samples_ms for r in results])
    result = combine_trials(results)
    return BenchmarkRecord(run_id="r", model=model, format="executorch", device_id="host",
                           status="ok", reason="", artifact={}, model_info={}, result=result,
                           stats=stats, trials=tuple(results),
                           warnings=tuple(measurement_warnings(stats, result, results)))


def _sessions(n=3, per=200, offsets=(0.0, 0.004, -0.003, 0.002), seed=0):
    rng = np.random.default_rng(seed)
    return [list(1.0 * (1 + offsets[i % len(offsets)]) + rng.normal(0, 0.005, per)) for i in range(n)]


def test_three_agreeing_trials_that_met_the_minimums_are_valid():
    verdict = validity(_cell(_sessions()), BENCH)
    assert verdict.valid and verdict.reasons == []
    assert [c.name for c in verdict.checks] == ["iterations", "duration", "replication", "thermal",
                                                "level shift"]
    as_dict = verdict.to_dict()
    assert as_dict["valid"] is True and as_dict["checks"]["replication"]["passed"]
    assert invalid_notes(verdict) == []


def test_one_trial_shows_nothing_about_the_next_session():
    verdict = validity(_cell(_sessions(n=1)), BENCH)
    assert not verdict.valid
    assert verdict.reasons == ["one trial: its interval covers only one session; nothing shows "
                               "another session would agree (--trials 3 or more)"]
    # With the device's spread between sessions from its other cells, the interval covers it.
    record = _cell(_sessions(n=1))
    lent = summarize_trials([record.trials[0].samples_ms], prior={"sd": 0.05, "df": 12, "source": "4 cells"})
    verdict = validity(dataclasses.replace(record, stats=lent), BENCH)
    assert verdict.reasons[0].startswith("one trial: its interval takes the spread between "
                                         "sessions from the device's other cells")


def test_trials_that_disagree_are_not_valid():
    verdict = validity(_cell(_sessions(offsets=(0.0, 0.25, -0.1))), BENCH)
    assert not verdict.valid
    reason = {c.name: c for c in verdict.checks}["replication"]
    assert not reason.passed
    assert reason.text.startswith("the 3 trials' medians spread over") and "(limit" in reason.text


def test_a_trial_short_of_the_minimum_iterations_or_time_is_named():
    short = _sessions(n=3, per=60)  # 60 samples of 1 ms: 0.06 s, fewer than 100 iterations
    verdict = validity(_cell(short), BENCH)
    assert verdict.reasons == ["trial 1, 2, 3 timed fewer than 100 iterations",
                               "trial 1, 2, 3 timed less than 0.1 s"]
    # Only the second trial short of time (its runner's own clock says so):
    contexts = [{"timed_duration_s": 0.5}, {"timed_duration_s": 0.02}, {"timed_duration_s": 0.5}]
    verdict = validity(_cell(_sessions(), contexts=contexts), BENCH)
    assert verdict.reasons == ["trial 2 timed less than 0.1 s"]
    # Without the run's settings, the minimums are not judged.
    assert [c.name for c in validity(_cell(short), None).checks] == ["replication", "thermal", "level shift"]


def test_a_trial_stopped_by_max_iterations_stopped_as_asked():
    capped = dict(BENCH, max_iterations=200, min_duration_s=5.0)  # 200 samples of 1 ms: 0.2 s
    verdict = validity(_cell(_sessions()), capped)
    assert verdict.valid
    assert {c.name: c.text for c in verdict.checks}["duration"] == \
        "every trial reached --max-iterations 200 before 5 s (as asked)"
    uncapped = validity(_cell(_sessions()), dict(capped, max_iterations=100_000))
    assert uncapped.reasons == ["trial 1, 2, 3 timed less than 5 s"]


def test_a_stored_cell_knows_its_trials_stopped_at_the_cap(tmp_path):
    """Read back, a record's trials hold no samples (the samples table does): the cap is read
    from the runner's own words or the pooled count, and the Python worker's loop time from its
    start and end on the wall clock."""
    capped = dict(BENCH, max_iterations=200, min_duration_s=5.0)
    worker = [{"timed_start_unix": 100.0, "timed_end_unix": 100.2}] * 3  # 0.2 s each
    record = _cell(_sessions(), contexts=worker)
    with Store(tmp_path / "h.db") as store:
        run_id = store.begin_run({"device_id": "host", "platform": "linux"}, {"bench": capped},
                                 "harness run", None, "0")
        store.add_record(dataclasses.replace(record, run_id=run_id))
        [stored] = store.records(run_id)
    assert all(not t.samples_ms for t in stored.trial_results)
    assert {c.name: c.text for c in validity(stored, capped).checks}["duration"] == \
        "every trial reached --max-iterations 200 before 5 s (as asked)"
    assert validity(stored, dict(capped, max_iterations=100_000)).reasons == \
        ["trial 1, 2, 3 timed less than 5 s"]
    # The native runner says why it stopped, whatever the count.
    native = [{"timed_duration_s": 0.2, "timed_stop_reason": "max_iterations"}] * 3
    verdict = validity(_cell(_sessions(), contexts=native), dict(capped, max_iterations=100_000))
    assert verdict.valid
    timed_out = [{"timed_duration_s": 0.2, "timed_stop_reason": "max_duration_s"}] * 3
    assert not validity(_cell(_sessions(), contexts=timed_out), capped).valid


def test_heat_and_a_gate_that_timed_out_are_not_valid():
    hot = ThermalInfo(before="ok", after="throttled", throttled=True)
    assert validity(_cell(_sessions(), thermal=hot), BENCH).reasons == ["the device throttled during a trial"]
    gated = [{}, {"thermal_gate": {"timed_out": True, "waited_s": 300}}, {}]
    assert validity(_cell(_sessions(), contexts=gated), BENCH).reasons == \
        ["the thermal gate timed out before a trial"]


def test_a_latency_at_two_levels_is_not_valid_and_its_warning_is_not_repeated():
    rng = np.random.default_rng(3)
    trial = [v for block in range(8) for v in rng.normal(1.0 if block % 2 else 1.6, 0.005, 50)]
    record = _cell([trial, trial, trial])
    verdict = validity(record, BENCH)
    [reason] = verdict.reasons
    assert reason.startswith("the latency ran at two levels (")
    assert any("ran at two levels" in w for w in record.warnings)
    assert invalid_notes(verdict, record.warnings) == []  # the warning already says it
    assert invalid_notes(verdict) == [f"not valid: {reason}"]


def test_a_cell_not_measured_has_no_verdict():
    failed = BenchmarkRecord(run_id="r", model="m", format="executorch", device_id="host",
                             status="export_failed", reason="op", artifact={}, model_info={})
    assert validity(failed, BENCH) is None


# ----------------------------------------------------------------------------------------------
# Where users read it


@pytest.fixture
def db_with_one_valid_and_one_invalid_cell(tmp_path):
    db = tmp_path / "h.db"
    farm = {"name": "nightly", "device": "host"}
    with Store(db) as store:
        run_id = store.begin_run({"device_id": "host", "platform": "linux"},
                                 {"bench": BENCH, "farm": farm}, "harness run", None, "0.1")
        for record in (_cell(_sessions(), model="steady"), _cell(_sessions(n=1), model="single")):
            store.add_record(dataclasses.replace(record, run_id=run_id))
        store.finish_run(run_id)
    return db, run_id


def test_show_and_json_give_the_verdict(db_with_one_valid_and_one_invalid_cell):
    db, run_id = db_with_one_valid_and_one_invalid_cell
    shown = CliRunner().invoke(main, ["show", run_id, "--db", str(db)])
    assert shown.exit_code == 0, shown.output
    single = next(line for line in shown.output.splitlines() if line.startswith("single"))
    steady = next(line for line in shown.output.splitlines() if line.startswith("steady"))
    assert "invalid" in single and "invalid" not in steady
    assert "not valid: one trial" in shown.output
    as_json = CliRunner().invoke(main, ["show", run_id, "--json", "--db", str(db)])
    assert as_json.exit_code == 0, as_json.output
    cells = {c["model"]: c for c in json.loads(as_json.output)["records"]}
    assert cells["steady"]["validity"]["valid"] is True
    assert cells["single"]["validity"]["valid"] is False
    assert cells["single"]["validity"]["reasons"][0].startswith("one trial")


def test_the_site_marks_the_cell_and_its_page_says_why(db_with_one_valid_and_one_invalid_cell, tmp_path):
    db, _ = db_with_one_valid_and_one_invalid_cell
    out = tmp_path / "site"
    built = CliRunner().invoke(main, ["site", "--out", str(out), "--db", str(db)])
    assert built.exit_code == 0, built.output
    pages = {p.name: p.read_text() for p in out.rglob("*.html")}
    index = next(text for name, text in pages.items() if name == "index.html")
    assert "invalid" in index and "not valid: one trial" in index
    single = [text for name, text in pages.items() if "single" in name]
    assert single and any("not valid: one trial" in text for text in single)
    steady = [text for name, text in pages.items() if "steady" in name]
    assert steady and any("valid: every trial timed" in text for text in steady)


def test_the_farm_digest_and_summary_list_the_cells_not_valid(db_with_one_valid_and_one_invalid_cell):
    db, run_id = db_with_one_valid_and_one_invalid_cell
    config = parse_farm({"name": "nightly", "devices": [{"name": "host"}], "models": "tiny"})
    with Store(db) as store:
        _, verdicts = check_run(store, config, "host", run_id)
    by_model = {v.model: v for v in verdicts}
    assert by_model["steady"].invalid == () and by_model["single"].invalid[0].startswith("one trial")
    outcome = FarmOutcome("nightly", "n1", [DeviceOutcome("host", run_id, verdicts=verdicts)])
    text = digest(outcome)
    assert "Not valid tonight (1):" in text and "- single / executorch: one trial" in text
    cells = {c["model"]: c for c in summary(outcome, 0)["devices"][0]["cells"]}
    assert cells["single"]["valid"] is False and cells["steady"]["valid"] is True
