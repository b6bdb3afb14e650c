"""`harness compare`: decided on the trials (harness/bench/sessions.py): the verdict rule, cells of
one sample per trial, synthetic sessions through the store for every verdict, the Mann-Whitney
U test (a within-session figure) against scipy, and real stored runs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.stats
from click.testing import CliRunner

from tests.support.paths import TESTS, TINY
from device_runners.contract import DeviceInfo, RunResult
from harness.bench.trials import combine_trials
from harness.cli import main
from harness.bench.stats import summarize_trials
from harness.bench.within import mann_whitney_u, smallest_p
from harness.report.compare import (
    ALPHA,
    BROKEN,
    FASTER,
    NO_CHANGE,
    ONLY_A,
    ONLY_B,
    SLOWER,
    THRESHOLD,
    UNDECIDED,
    classify,
    compare_records,
    compare_runs,
)
from harness.store import BenchmarkRecord, Store

# ----------------------------------------------------------------------------------------------
# Mann-Whitney U


@pytest.mark.parametrize("x, y, u, p", [
    # Exact: no ties, a side of 8 or fewer. 2 / C(10, 5): the samples entirely apart.
    ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], 0.0, 2 / 252),
    ([19, 22, 16, 29, 24], [20, 11, 17, 12], 17.0, 0.1111111111111111),
    ([1.0, 1.01, 0.99], [2.0, 2.02, 1.98], 0.0, 0.1),  # the smallest p 3 against 3 can give
    # Ties: the normal approximation, tie and continuity corrected.
    ([1, 2, 2, 3, 3, 3, 4], [2, 3, 4, 4, 5, 5, 6], 8.5, 0.043051432728945134),
    ([1, 1, 1], [1, 1, 1], 4.5, 1.0),  # all equal: no evidence
])
def test_known_values(x, y, u, p):
    result = mann_whitney_u(x, y)
    assert result.u == u
    assert result.p_value == pytest.approx(p, rel=1e-9)


def test_agrees_with_scipy_on_larger_tied_samples():
    rng = np.random.default_rng(7)
    for shift in (0.0, 0.01, 0.05):
        x = np.round(rng.normal(1.0, 0.1, 300), 2)  # rounding makes many ties
        y = np.round(rng.normal(1.0 + shift, 0.1, 250), 2)
        ref = scipy.stats.mannwhitneyu(x, y, method="asymptotic")
        ours = mann_whitney_u(x, y)
        assert ours.u == ref.statistic
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)


def test_empty_side_is_refused():
    with pytest.raises(ValueError, match="both sides"):
        mann_whitney_u([], [1.0])


def test_the_smallest_p_a_sample_size_allows():
    assert smallest_p(3, 3) == pytest.approx(0.1)  # above any alpha worth using
    assert smallest_p(5, 5) == pytest.approx(2 / 252) and smallest_p(1, 1) == 1.0
    assert smallest_p(4, 4) == pytest.approx(2 / 70)
    assert smallest_p(6000, 6000) == 0.0  # underflows; no overflow on the way
    assert mann_whitney_u([1, 2, 3], [7, 8, 9]).p_value == smallest_p(3, 3)


# ----------------------------------------------------------------------------------------------
# The verdict rule


@pytest.mark.parametrize("low, high, p, verdict", [
    (1.10, 1.20, 1e-9, SLOWER),
    (1.04, 1.20, 1e-9, UNDECIDED),  # could be only 4% slower: the trials cannot tell
    (1.10, 1.20, 0.02, UNDECIDED),  # not significant at alpha = 0.01
    (0.80, 0.90, 1e-9, FASTER),
    (0.90, 0.96, 1e-9, UNDECIDED),
    (0.99, 1.01, 0.5, NO_CHANGE),
    (0.96, 1.04, 0.5, NO_CHANGE),  # whatever changed, it is within the threshold
])
def test_the_rule(low, high, p, verdict):
    assert (THRESHOLD, ALPHA) == (0.05, 0.01)
    assert classify(low, high, p) == verdict


def _record(model, trials, status="ok", sha="a", fmt="executorch", device="host", run_id="r"):
    """A cell of `trials` (each a list of samples), stored as harness.run stores one."""
    results = tuple(RunResult(model=model, format=fmt, status=status, device=DeviceInfo(device, "linux"),
                              load_ms=3.0, first_inference_ms=1.0, samples_ms=tuple(samples))
                    for samples in trials)
    measured = status == "ok" and all(len(s) for s in trials)
    return BenchmarkRecord(run_id=run_id, model=model, format=fmt, device_id=device, status=status,
                           reason="" if status == "ok" else "worker died", artifact={"sha256": sha},
                           model_info={}, result=combine_trials(list(results)) if results else None,
                           trials=results, stats=summarize_trials(trials) if measured else None)


def _sessions(rng, latency, trials=3, offset=0.02, samples=200):
    return [list(latency * np.exp(rng.normal(0, offset) + rng.normal(0, 0.03, samples)))
            for _ in range(trials)]


def test_one_sample_per_trial_is_judged_on_its_trials():
    """A cell as LiteRT's benchmark_model on a phone stores it: each trial one sample, its mean.
    Its trials are what the comparison is made of, so three a side can call a 2x slowdown."""
    a = _record("m", [[10.0], [10.2], [9.9]], fmt="tflite", device="phone")
    slowed = _record("m", [[20.1], [19.8], [20.4]], fmt="tflite", device="phone")
    [cell] = compare_records([a], [slowed])
    assert cell.verdict == SLOWER and cell.ratio == pytest.approx(2.0, rel=0.02)
    assert cell.trials == (3, 3) and cell.spread["source"] == "trials"
    [cell] = compare_records([slowed], [a])
    assert cell.verdict == FASTER
    [cell] = compare_records([a], [_record("m", [[10.0], [10.1], [10.05]], fmt="tflite", device="phone")])
    assert cell.verdict == NO_CHANGE, cell
    # 3% slower with 1.5% between sessions: the trials cannot tell a 5% change apart from it.
    [cell] = compare_records([a], [_record("m", [[10.3], [10.4], [10.6]], fmt="tflite", device="phone")])
    assert cell.verdict == UNDECIDED and cell.trials_needed >= 3
    assert cell.notes[0].startswith("undecided: the trials spread") and "trials per side" in cell.notes[0]


def test_a_record_compared_with_itself_is_no_change_however_its_trials_spread():
    # Two trials 20% apart: two runs like this one would be undecided, but one record on both
    # sides (`harness compare RUN RUN`) is one set of sessions, not two.
    spread = dataclasses.replace(_record("m", [[10.0, 10.1], [12.0, 12.1]]), id=7)
    [cell] = compare_records([spread], [spread])
    assert cell.verdict == NO_CHANGE and cell.ratio == 1.0 and cell.notes == ("the same record",)
    [cell] = compare_records([spread], [dataclasses.replace(spread, id=8)])  # another record
    assert cell.verdict == UNDECIDED


def test_one_trial_a_side_cannot_decide_and_says_why():
    rng = np.random.default_rng(5)
    a, b = _record("m", _sessions(rng, 1.0, trials=1, offset=0)), _record("m", _sessions(rng, 1.5, trials=1, offset=0))
    [cell] = compare_records([a], [b])
    assert cell.verdict == UNDECIDED and cell.ratio == pytest.approx(1.5, rel=0.02)
    assert "1 trial a side and no other cell of the device" in cell.notes[0]
    assert cell.within_p < 1e-6  # thousands of samples: "significant" within a session, and no verdict


def test_records_read_without_samples_need_a_source_of_samples():
    record = dataclasses.replace(_record("m", [[1.0], [1.1], [1.2]]), samples_loaded=False)
    with pytest.raises(ValueError, match="read without its samples"):
        compare_records([record], [record])
    [cell] = compare_records([record], [record], samples=lambda r: [[1.0], [1.1], [1.2]])
    assert cell.verdict in (NO_CHANGE, UNDECIDED) and cell.ratio == 1.0


def test_every_verdict_on_synthetic_sessions_through_the_store(tmp_path):
    """Two runs of a phone, sessions 2% apart: each kind of cell gets its verdict, decided on the
    trials, with the device's spread learnt from the cells stored before."""
    rng = np.random.default_rng(11)
    changes = {"same": 1.0, "slowed": 1.3, "sped_up": 0.7, "slightly": 1.03}
    with Store(tmp_path / "h.db") as store:
        runs = []
        for side in ("A", "B"):
            run = store.begin_run({"device_id": "phone", "platform": "android"}, {}, "x", None, "0")
            for model, change in changes.items():
                trials = _sessions(rng, 5.0 * (change if side == "B" else 1.0))
                prior = store.session_prior("phone", 1, None)
                record = _record(model, trials, run_id=run, device="phone", sha=side)
                store.add_record(dataclasses.replace(record, stats=summarize_trials(trials, prior=prior)))
            status = "run_failed" if side == "B" else "ok"
            store.add_record(_record("broke", _sessions(rng, 5.0) if side == "A" else [[]], status=status,
                                     run_id=run, device="phone"))
            store.finish_run(run)
            runs.append(run)
        comparison = compare_runs(store, *runs)
    verdicts = {c.model: c for c in comparison.cells}
    assert {m: c.verdict for m, c in verdicts.items()} == {
        "same": NO_CHANGE, "slowed": SLOWER, "sped_up": FASTER, "slightly": UNDECIDED, "broke": BROKEN}
    assert verdicts["slowed"].spread["source"] == "trials+device" and verdicts["slowed"].trials == (3, 3)
    assert "artifact changed" in verdicts["slowed"].notes
    assert verdicts["broke"].notes == ("B: run_failed: worker died",)


def test_compare_of_stored_runs_on_a_phone_finds_the_2x_slowdown(tmp_path):
    db = tmp_path / "db.sqlite"
    phone = {"device_id": "phone", "platform": "android"}
    with Store(db) as store:
        runs = []
        for means in ([10.0, 10.2, 9.9], [20.1, 19.8, 20.4]):
            run_id = store.begin_run(phone, {}, "harness run", None, "0.1")
            store.add_record(_record("mobilenet", [[m] for m in means], fmt="tflite", device="phone",
                                     run_id=run_id))
            store.finish_run(run_id)
            runs.append(run_id)
    out = CliRunner().invoke(main, ["compare", *runs, "--db", str(db)])
    assert out.exit_code == 3, out.output  # harness.exit_codes.SOME_FAILED
    assert "1 slower" in out.output and "Regressions: mobilenet/tflite" in out.output
    assert "decided on the trials" in out.output
    same = CliRunner().invoke(main, ["compare", runs[0], runs[0], "--db", str(db)])
    assert same.exit_code == 0 and "1 no change" in same.output


def test_cells_are_matched_by_device_model_and_format():
    rng = np.random.default_rng(3)
    a = [_record(m, _sessions(rng, 1.0)) for m in ("same", "slowed", "sped_up", "broke", "dropped")]
    b = [_record("same", _sessions(rng, 1.0)), _record("slowed", _sessions(rng, 1.3), sha="b"),
         _record("sped_up", _sessions(rng, 0.7)), _record("broke", [[]], status="run_failed"),
         _record("added", _sessions(rng, 1.0))]
    verdicts = {c.model: c for c in compare_records(a, b)}
    assert {m: c.verdict for m, c in verdicts.items() if m != "same"} == {
        "slowed": SLOWER, "sped_up": FASTER, "broke": BROKEN, "dropped": ONLY_A, "added": ONLY_B}
    assert verdicts["same"].verdict in (NO_CHANGE, UNDECIDED)  # 3 trials, 2% apart, no prior
    assert verdicts["slowed"].ratio == pytest.approx(1.3, rel=0.05)
    assert "artifact changed" in verdicts["slowed"].notes
    assert "B: run_failed: worker died" in verdicts["broke"].notes


# ----------------------------------------------------------------------------------------------
# Two real runs


FAST = ["--formats", "executorch", "--warmup", "5", "--iterations", "50", "--min-time", "0.2",
        "--trials", "1"]


@pytest.mark.slow
def test_compare_classifies_a_heavier_model_in_the_same_cell_as_slower(tmp_results, shared_cache):
    heavier = f"{TESTS / 'heavier' / 'tiny_models.py'}:tiny_convnet"
    cli = CliRunner()
    run_ids = []
    for models in (TINY, heavier):
        # Two trials a side: compare decides on the spread between trials, which one cannot show.
        out = cli.invoke(main, ["run", "--models", models, "--cache-dir", str(shared_cache), *FAST,
                                "--trials", "2"], catch_exceptions=False)
        assert out.exit_code == 0, out.output
        with Store() as store:
            run_ids.append(store.runs()[0].id)
    first, heavy = run_ids
    with Store() as store:
        [a] = store.records(first)
        [b] = store.records(heavy)
        assert a.model == b.model == "tiny_models_tiny_convnet"  # the same cell

    slowed = cli.invoke(main, ["compare", first, heavy])
    assert slowed.exit_code == 3, slowed.output  # harness.exit_codes.SOME_FAILED
    assert "1 slower" in slowed.output
    assert "Regressions: tiny_models_tiny_convnet/executorch" in slowed.output
    assert "artifact changed" in slowed.output

    # The other way round it is faster, which is no reason to fail; ids may be prefixes. The
    # shortest prefix that tells the two apart: both runs may begin within one second, and then
    # their ids share everything but part of the random suffix.
    unique = next(i for i, (x, y) in enumerate(zip(first, heavy)) if x != y) + 1
    sped_up = cli.invoke(main, ["compare", heavy, first[:unique]])
    assert sped_up.exit_code == 0, sped_up.output
    assert "1 faster" in sped_up.output

    # Identical samples are no change. (Two separate runs of one build are no change only on a
    # quiet machine: on this shared 2-core host they differed by 60%, which is what
    # benchmarks/stability.py measures; test_cells_are_matched_by_device_model_and_format checks
    # the rule on samples from one distribution.)
    same = cli.invoke(main, ["compare", first, first])
    assert same.exit_code == 0 and "1 no change" in same.output
    assert "same run" in same.output

    missing = cli.invoke(main, ["compare", "nosuchrun", "latest"])
    assert missing.exit_code == 2 and "No run 'nosuchrun'" in missing.output


def test_the_mann_whitney_p_is_scipy_s_in_every_branch():
    """Exact (scipy's own) for small samples without ties; the asymptotic branch is computed
    here without importing scipy.stats and must give scipy's "auto" p to the last digits."""
    import numpy as np
    from scipy.stats import mannwhitneyu

    from harness.bench.within import mann_whitney_u

    rng = np.random.default_rng(7)
    cases = [(3, 3, 0), (8, 7, 0), (9, 9, 0), (50, 60, 0), (20, 20, 1), (5, 5, 1), (2000, 1800, 2)]
    for n, m, decimals in cases:
        x = rng.normal(10.0, 1.0, n)
        y = rng.normal(10.4, 1.0, m)
        if decimals:
            x, y = np.round(x, decimals), np.round(y, decimals)  # ties
        ours = mann_whitney_u(x, y)
        theirs = mannwhitneyu(x, y, alternative="two-sided", method="auto")
        assert ours.u == theirs.statistic
        assert abs(ours.p_value - theirs.pvalue) <= 1e-12 * max(1.0, theirs.pvalue), (n, m, decimals)
