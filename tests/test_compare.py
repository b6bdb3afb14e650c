"""`harness compare`: the Mann-Whitney U test against known values, the ratio CI, the verdict
rule, and two real stored runs where the second is a heavier model in the same cell."""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import TESTS, TINY
from device_runners.contract import DeviceInfo, RunResult
from harness.bench.stats import summarize
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
    average_ranks,
    classify,
    compare_records,
    mann_whitney_u,
    median_ratio_ci,
)
from harness.store import BenchmarkRecord, Store

# ----------------------------------------------------------------------------------------------
# Mann-Whitney U


def test_ranks_of_ties_are_averaged():
    ranks, ties = average_ranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0]))
    assert ranks.tolist() == [4.0, 1.0, 4.0, 2.0, 4.0]
    assert ties == 3 ** 3 - 3  # one group of three; single values add 1 - 1 = 0


def test_completely_separated_samples_worked_by_hand():
    # U = 0 (no x above any y); mean 12.5; variance 5*5*11/12; continuity moves U 0.5 closer:
    # z = (0 - 12.5 + 0.5) / sqrt(275/12) = -2.50672, two-sided p = erfc(2.50672 / sqrt 2).
    result = mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert result.u == 0.0
    assert result.z == pytest.approx(-12 / math.sqrt(275 / 12))
    assert result.p_value == pytest.approx(0.0121857803553448, rel=1e-9)


@pytest.mark.parametrize("x, y, u, p", [
    # Values from scipy.stats.mannwhitneyu(x, y, method="asymptotic") (scipy 1.17).
    ([19, 22, 16, 29, 24], [20, 11, 17, 12], 17.0, 0.11134688653314041),
    ([1, 2, 2, 3, 3, 3, 4], [2, 3, 4, 4, 5, 5, 6], 8.5, 0.043051432728945134),  # with ties
    ([1, 1, 1], [1, 1, 1], 4.5, 1.0),  # all equal: no evidence
])
def test_known_values(x, y, u, p):
    result = mann_whitney_u(x, y)
    assert result.u == u
    assert result.p_value == pytest.approx(p, rel=1e-9)


def test_agrees_with_scipy_on_larger_tied_samples():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(7)
    for shift in (0.0, 0.01, 0.05):
        x = np.round(rng.normal(1.0, 0.1, 300), 2)  # rounding makes many ties
        y = np.round(rng.normal(1.0 + shift, 0.1, 250), 2)
        ref = stats.mannwhitneyu(x, y, method="asymptotic")
        ours = mann_whitney_u(x, y)
        assert ours.u == ref.statistic
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)


def test_empty_side_is_refused():
    with pytest.raises(ValueError, match="both sides"):
        mann_whitney_u([], [1.0])


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
    assert missing.exit_code == 1 and "No run 'nosuchrun'" in missing.output
