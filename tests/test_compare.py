"""`harness compare`: the Mann-Whitney U test against scipy, the ratio CI, the verdict rule, the
rule for cells of too few samples (one per trial), and real stored runs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.stats
from click.testing import CliRunner

from tests.support.paths import TESTS, TINY
from device_runners.contract import DeviceInfo, RunResult
from harness.bench.stats import summarize
from harness.bench.trials import combine_trials
from harness.cli import main
from harness.report.compare import (
    ALPHA,
    BROKEN,
    FASTER,
    NO_CHANGE,
    ONLY_A,
    ONLY_B,
    SLOWER,
    THRESHOLD,
    classify,
    classify_by_ranges,
    compare_records,
    mann_whitney_u,
    median_ratio_ci,
    smallest_p,
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
# Ratio CI and the verdict rule


def test_ratio_ci_covers_a_known_ratio_and_is_reproducible():
    rng = np.random.default_rng(1)
    a = rng.lognormal(0.0, 0.05, 2000)
    b = 1.2 * rng.lognormal(0.0, 0.05, 2000)
    ratio, low, high = median_ratio_ci(a, b)
    assert low < 1.2 < high and high - low < 0.02
    assert ratio == pytest.approx(np.median(b) / np.median(a))
    assert median_ratio_ci(a, b) == (ratio, low, high)


@pytest.mark.parametrize("low, high, p, verdict", [
    (1.10, 1.20, 1e-9, SLOWER),
    (1.04, 1.20, 1e-9, NO_CHANGE),  # could be only 4% slower: not beyond the threshold
    (1.10, 1.20, 0.02, NO_CHANGE),  # not significant at alpha = 0.01
    (0.80, 0.90, 1e-9, FASTER),
    (0.90, 0.96, 1e-9, NO_CHANGE),
    (0.99, 1.01, 0.5, NO_CHANGE),
])
def test_the_rule(low, high, p, verdict):
    assert (THRESHOLD, ALPHA) == (0.05, 0.01)
    assert classify(low, high, p) == verdict


def _record(model, samples, status="ok", sha="a"):
    result = None
    if samples is not None:
        result = RunResult(model=model, format="executorch", status=status,
                           device=DeviceInfo("host", "linux"), samples_ms=tuple(samples))
    return BenchmarkRecord(run_id="r", model=model, format="executorch", device_id="host",
                           status=status, reason="" if status == "ok" else "worker died",
                           artifact={"sha256": sha}, model_info={}, result=result,
                           stats=summarize(samples) if samples is not None and status == "ok" else None)


def _one_sample_per_trial(model, means, run_id="r"):
    """A cell as LiteRT's benchmark_model on a phone stores it: each trial one sample, its mean."""
    trials = tuple(RunResult(model=model, format="tflite", status="ok",
                             device=DeviceInfo("phone", "android"), load_ms=3.0,
                             first_inference_ms=12.0, samples_ms=(m,)) for m in means)
    return BenchmarkRecord(run_id=run_id, model=model, format="tflite", device_id="phone",
                           status="ok", reason="", artifact={"sha256": "a"}, model_info={},
                           result=combine_trials(list(trials)), trials=trials,
                           stats=summarize(means))


def test_one_sample_per_trial_is_judged_by_its_ranges_and_says_so():
    a = _one_sample_per_trial("m", [10.0, 10.2, 9.9])
    # 3 against 3 cannot reach p < 0.01 (0.1 is the least), so the test alone would never call
    # a 2x slowdown slower.
    slowed = _one_sample_per_trial("m", [20.1, 19.8, 20.4])
    assert mann_whitney_u([10.0, 10.2, 9.9], [20.1, 19.8, 20.4]).p_value == pytest.approx(0.1)
    [cell] = compare_records([a], [slowed])
    assert cell.verdict == SLOWER and cell.ratio == pytest.approx(2.0, rel=0.01)
    assert cell.notes[0] == ("judged by ranges: 3 vs 3 samples cannot reach p < 0.01 (smallest p "
                             "0.1); B/A of the samples 1.941 to 2.061")
    [cell] = compare_records([slowed], [a])
    assert cell.verdict == FASTER and cell.notes[0].startswith("judged by ranges")
    # Ranges that overlap, or apart by less than the threshold, are no change.
    for means in ([10.1, 9.8, 10.3], [10.3, 10.4, 10.5], [11.0, 9.9, 11.2]):
        [cell] = compare_records([a], [_one_sample_per_trial("m", means)])
        assert cell.verdict == NO_CHANGE and cell.notes[0].startswith("judged by ranges"), means
    # Ten trials a side can reach the test's p: the usual rule, no such note.
    [cell] = compare_records([_one_sample_per_trial("m", [10.0 + i / 100 for i in range(10)])],
                             [_one_sample_per_trial("m", [20.0 + i / 100 for i in range(10)])])
    assert cell.verdict == SLOWER and not cell.notes


@pytest.mark.parametrize("a, b, verdict", [
    ([10.0, 10.2, 9.9], [10.8, 11.0, 11.5], SLOWER),  # fastest B 5.9% above slowest A
    ([10.0, 10.2, 9.9], [10.6, 11.0, 11.5], NO_CHANGE),  # 3.9%: apart, but not by 5%
    ([10.0, 10.2, 9.9], [9.0, 9.2, 9.3], FASTER),
    ([5.0], [20.0], SLOWER),  # one trial a side: the ranges are the samples
])
def test_the_range_rule(a, b, verdict):
    assert classify_by_ranges(a, b) == verdict


def test_records_read_without_samples_need_a_source_of_samples():
    record = dataclasses.replace(_one_sample_per_trial("m", [1.0, 1.1, 1.2]), samples_loaded=False)
    with pytest.raises(ValueError, match="read without its samples"):
        compare_records([record], [record])
    [cell] = compare_records([record], [record], samples=lambda r: [[1.0], [1.1], [1.2]])
    assert cell.verdict == NO_CHANGE


def test_compare_of_stored_runs_on_a_phone_finds_the_2x_slowdown(tmp_path):
    db = tmp_path / "db.sqlite"
    phone = {"device_id": "phone", "platform": "android"}
    with Store(db) as store:
        runs = []
        for means in ([10.0, 10.2, 9.9], [20.1, 19.8, 20.4]):
            run_id = store.begin_run(phone, {}, "harness run", None, "0.1")
            store.add_record(_one_sample_per_trial("mobilenet", means, run_id))
            store.finish_run(run_id)
            runs.append(run_id)
    out = CliRunner().invoke(main, ["compare", *runs, "--db", str(db)])
    assert out.exit_code == 3, out.output  # harness.exit_codes.SOME_FAILED
    assert "1 slower" in out.output and "Regressions: mobilenet/tflite" in out.output
    assert "judged by ranges" in out.output
    same = CliRunner().invoke(main, ["compare", runs[0], runs[0], "--db", str(db)])
    assert same.exit_code == 0 and "1 no change" in same.output


def test_cells_are_matched_by_device_model_and_format():
    rng = np.random.default_rng(3)
    base = lambda scale=1.0: scale * rng.lognormal(0.0, 0.03, 400)  # noqa: E731
    a = [_record("same", base()), _record("slowed", base()), _record("sped_up", base()),
         _record("broke", base()), _record("dropped", base())]
    b = [_record("same", base()), _record("slowed", base(1.3), sha="b"),
         _record("sped_up", base(0.7)), _record("broke", [], status="run_failed"),
         _record("added", base())]
    verdicts = {c.model: c for c in compare_records(a, b)}
    assert {m: c.verdict for m, c in verdicts.items()} == {
        "same": NO_CHANGE, "slowed": SLOWER, "sped_up": FASTER, "broke": BROKEN,
        "dropped": ONLY_A, "added": ONLY_B}
    assert verdicts["slowed"].ratio == pytest.approx(1.3, rel=0.02)
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
        out = cli.invoke(main, ["run", "--models", models, "--cache-dir", str(shared_cache), *FAST],
                         catch_exceptions=False)
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

    # The other way round it is faster, which is no reason to fail; ids may be prefixes.
    sped_up = cli.invoke(main, ["compare", heavy, first[:17]])
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

    from harness.report.compare import mann_whitney_u

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
