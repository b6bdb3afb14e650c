"""The farm's verdict on a night (harness.farm.nights through harness.farm.regression): tonight
against the cell's own night-to-night noise, and the series' step, blip and creep, on synthetic
nights stored as `harness run` stores them and judged by the farm's own `check_run`."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from device_runners.contract import DeviceInfo, RunResult
from harness.bench.stats import summarize_trials
from harness.bench.trials import combine_trials
from harness.farm.config import parse_farm
from harness.farm.nights import night_log, night_noise
from harness.farm.regression import check_run
from harness.report.compare import NO_CHANGE, SLOWER
from harness.store import BenchmarkRecord, Store

DEVICE = {"device_id": "sim-phone", "platform": "android"}
CONFIG = parse_farm({"name": "sim", "devices": [{"name": "sim-phone"}], "models": "m",
                     "baseline": {"rolling": 7}})


def _trial(rng, ms: float, offset: float) -> RunResult:
    samples = ms * np.exp(offset + rng.normal(0.0, 0.02, 200))
    return RunResult(model="m", format="executorch", status="ok", device=DeviceInfo("sim-phone", "android"),
                     samples_ms=tuple(float(v) for v in samples), threads=1)


def _night(store: Store, rng, night: int, cells: dict[str, float], session_sd: float, sha: str) -> str:
    """One farm night: each cell `ms` measured in three trials with session offsets of `session_sd`."""
    farm = {"name": "sim", "run": f"night-{night:02d}", "device": "sim-phone"}
    run = store.begin_run(DEVICE, {"bench": {"threads": 1, "cpu_affinity": None}, "farm": farm},
                          "test", sha, "0")
    for model, ms in cells.items():
        trials = [dataclasses.replace(_trial(rng, ms, rng.normal(0.0, session_sd)), model=model)
                  for _ in range(3)]
        prior = store.session_prior(DEVICE["device_id"], 1, None)
        stats = summarize_trials([t.samples_ms for t in trials], prior=prior)
        store.add_record(BenchmarkRecord(run_id=run, model=model, format="executorch",
                                         device_id="sim-phone", status="ok", reason="", artifact={},
                                         model_info={}, trials=tuple(trials),
                                         result=combine_trials(trials), stats=stats))
    store.finish_run(run)
    return run


def _series(tmp_path, latencies_by_night: list[dict[str, float]], session_sd=0.02, seed=0):
    """Store every night; judge the last; {model: CellComparison}."""
    rng = np.random.default_rng(seed)
    with Store(tmp_path / "farm.db") as store:
        runs = [_night(store, rng, n, cells, session_sd, f"c0ffee{n:02d}" + "0" * 32)
                for n, cells in enumerate(latencies_by_night)]
        _, verdicts = check_run(store, CONFIG, "sim-phone", runs[-1])
    return {v.model: v for v in verdicts}


def test_an_unchanged_cell_is_no_change_and_says_what_its_noise_is(tmp_path):
    verdict = _series(tmp_path, [{"steady": 10.0}] * 9)["steady"]
    assert verdict.verdict == NO_CHANGE and verdict.trend == ""
    assert "beyond ±" in verdict.notes[0] and "7 nights and the spread between sessions" in verdict.notes[0]


def test_a_step_tonight_is_slower_and_a_step_held_two_nights_is_named_with_its_commits(tmp_path):
    nights = [{"m": 10.0}] * 8 + [{"m": 12.0}]
    tonight = _series(tmp_path / "a", nights)["m"]
    assert tonight.verdict == SLOWER and tonight.ratio == pytest.approx(1.2, rel=0.05)
    assert tonight.trend == "blip" and "the next night tells" in tonight.notes[1]

    held = _series(tmp_path / "b", [{"m": 10.0}] * 8 + [{"m": 12.0}] * 2)["m"]
    assert held.trend == "step"
    step = next(n for n in held.notes if n.startswith("a step"))
    assert "since night-08, held 2 nights" in step and "commits c0ffee0700..c0ffee0800" in step


def test_a_blip_in_the_history_is_named_and_does_not_move_tonight(tmp_path):
    nights = [{"m": 10.0}] * 4 + [{"m": 14.0}] + [{"m": 10.0}] * 5
    verdict = _series(tmp_path, nights)["m"]
    assert verdict.verdict == NO_CHANGE  # the MAD baseline shrugs off the one night
    assert verdict.trend == "blip" and "a one-night blip" in verdict.notes[1] and "night-04" in verdict.notes[1]


def test_a_slow_creep_that_no_single_night_shows_is_a_creep(tmp_path):
    nights = [{"m": 10.0 * 1.02 ** n} for n in range(14)]  # 2% a night: each night within the threshold
    verdict = _series(tmp_path, nights, session_sd=0.005)["m"]
    assert verdict.trend == "creep", verdict.notes
    assert "a creep of +" in verdict.notes[1] and "from night-00 to night-13" in verdict.notes[1]


def test_a_change_within_the_threshold_is_no_change_however_quiet_the_cell(tmp_path):
    verdict = _series(tmp_path, [{"m": 10.0}] * 8 + [{"m": 10.3}], session_sd=0.002)["m"]
    assert verdict.verdict == NO_CHANGE and verdict.ratio == pytest.approx(1.03, rel=0.01)


def test_with_fewer_than_four_nights_the_trials_decide(tmp_path):
    verdict = _series(tmp_path, [{"m": 10.0}] * 2 + [{"m": 13.0}])["m"]
    assert verdict.verdict == SLOWER and verdict.trials == (6, 3)  # compare's rule: trials pooled


def test_a_night_is_the_mean_of_its_trials_log_medians_and_its_noise_counts_the_mad_less():
    stats = summarize_trials([[1.0] * 9, [1.1] * 9, [1.3] * 9])
    assert night_log(stats) == pytest.approx(np.mean(np.log([1.0, 1.1, 1.3])))
    assert night_log(summarize_trials([[2.0] * 5])) == pytest.approx(math.log(2.0))
    noise = night_noise([0.0, 0.01, -0.01, 0.02, -0.02, 0.0, 0.01], None, 3)
    assert noise.df == pytest.approx(0.37 * 6) and noise.sources == "7 nights"
    assert night_noise([0.0, 0.1], None, 3) is None  # too few nights, no spread: nothing to go on
