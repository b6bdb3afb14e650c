"""Reports put memory, energy (or n/a, never 0) and thermal flags beside every latency."""

from __future__ import annotations

import dataclasses

from click.testing import CliRunner

from device_runners.contract import DeviceInfo, EnergyInfo, RunResult, ThermalInfo
from harness.bench.stats import measurement_warnings, summarize_trials
from harness.bench.trials import combine_trials
from harness.cli import main
from harness.report.figures import fmt_context, fmt_energy_mj, fmt_power_w, fmt_thermal
from harness.report.leaderboard import (
    COLUMNS,
    WIDE_COLUMNS,
    leaderboard_rows,
    render_markdown,
    run_table,
    side_by_side,
)
from harness.report.text import Notes
from harness.store import BenchmarkRecord, Store

HOST = DeviceInfo("host", "linux", cpu="Test CPU")
RAPL = EnergyInfo("rapl", joules_per_inference=0.0123, joules_per_inference_uncertainty=0.0004,
                  avg_power_w=4.56, avg_power_w_uncertainty=0.07, idle_power_w=1.0, duration_s=2.0)
HOT = ThermalInfo("none", "severe", 70.0, 91.0, throttled=True)
WARM = ThermalInfo("unknown", "unknown", 48.0, 61.0, throttled=False)


def _record(model, samples, energy=EnergyInfo(), thermal=ThermalInfo(), trials=1):
    results = [RunResult(model=model, format="executorch", status="ok", device=HOST, load_ms=12.0,
                         first_inference_ms=3.0, samples_ms=tuple(s * (1 + 0.01 * t) for s in samples),
                         peak_rss_load_kb=40 * 1024, peak_rss_inference_kb=52 * 1024,
                         energy=energy, thermal=thermal, runtime_versions={"executorch": "1.5.1"},
                         context={"loadavg_before": {"1min": 0.25}, "cpu": {"governors": ["performance"]},
                                  "rss_before_load_kb": 30 * 1024, "runner": "harness_runner"})
               for t in range(trials)]
    result = combine_trials(results)
    stats = summarize_trials([r.samples_ms for r in results])
    return BenchmarkRecord(run_id="r", model=model, format="executorch", device_id="host",
                           status="ok", reason="", artifact={"sha256": "x"}, model_info={},
                           result=result, stats=stats, trials=tuple(results),
                           warnings=tuple(measurement_warnings(stats, result)))


def _failed(model):
    return BenchmarkRecord(run_id="r", model=model, format="executorch", device_id="host",
                           status="export_failed", reason="unsupported op", artifact={}, model_info={})


def test_energy_is_na_without_a_sensor_and_never_zero():
    assert fmt_energy_mj(EnergyInfo()) == "n/a" and fmt_power_w(EnergyInfo()) == "n/a"
    assert fmt_energy_mj(None) == "n/a"
    assert fmt_energy_mj(RAPL) == "12.3 ± 0.4"
    assert fmt_power_w(RAPL) == "4.56 ± 0.07"


def test_thermal_flags():
    assert fmt_thermal(HOT) == "THROTTLED"
    assert fmt_thermal(WARM) == "ok 48->61 °C"
    assert fmt_thermal(ThermalInfo("nominal", "nominal")) == "ok (nominal)"
    assert fmt_thermal(ThermalInfo()) == "n/a"  # no sensor: no claim either way


def test_leaderboard_rows_carry_memory_energy_and_thermal_beside_the_latency():
    rows = leaderboard_rows([_record("cool", [1.0] * 50, RAPL, WARM, trials=3),
                             _record("hot", [2.0] * 50, thermal=HOT), _failed("broken")])
    by_model = {r[0]: dict(zip(COLUMNS, r)) for r in rows}
    cool, hot, broken = by_model["cool"], by_model["hot"], by_model["broken"]
    # The model's own memory (peak 52 MB minus the 30 MB held before loading) beside the
    # process peak, and the program that measured it.
    assert cool["memory MB model / peak"] == "22 / 52" and cool["measured by"] == "native runner"
    # Three independent trials of equal length: each uncertainty shrinks by sqrt(3).
    assert cool["energy mJ/inference"] == "12.3 ± 0.23" and cool["power W"] == "4.56 ± 0.04"
    assert cool["thermal"] == "ok 48->61 °C"
    assert cool["trials"] == "3 trials, 2.0%"
    assert hot["energy mJ/inference"] == "n/a" and hot["power W"] == "n/a"
    assert hot["thermal"] == "THROTTLED"
    assert "(unstable)" in hot["median ms [95% CI]"] and "throttling" in hot["status"]
    assert broken["memory MB model / peak"] == "n/a" and broken["thermal"] == "n/a"
    assert [r[0] for r in rows] == ["cool", "hot", "broken"]  # fastest first, failures last


def test_leaderboard_says_how_much_of_the_graph_was_delegated():
    record = _record("cool", [1.0] * 50)
    artifact = {"model": "cool", "format": "executorch", "status": "ok", "cache_key": "k",
                "backend": "xnnpack", "details": {"delegation": {
                    "backend": "XNNPACK", "delegated_nodes": 1042, "total_nodes": 1406,
                    "not_delegated_ops": {"aten.native_layer_norm.default": 40, "getitem": 3}}}}
    record = dataclasses.replace(record, artifact=artifact)
    [row] = leaderboard_rows([record])
    assert dict(zip(COLUMNS, row))["delegated"] == \
        "XNNPACK 1042/1406 nodes (left: aten.native_layer_norm.default 40)"
    [row] = leaderboard_rows([_failed("broken")])
    assert dict(zip(COLUMNS, row))["delegated"] == "n/a"


def _wide(records):
    notes = Notes()
    table = run_table(records, notes, wide=True)
    titles = [c.title for c in WIDE_COLUMNS]
    return [dict(zip(titles, row)) for row in table.rows], notes


def test_markdown_and_show_print_the_same_columns(tmp_path):
    text = render_markdown([_record("cool", [1.0] * 50, RAPL, WARM)])
    assert "energy mJ/inference" in text and "| 12.3 ± 0.4 |" in text and "| 22 / 52 |" in text
    rows, notes = _wide([_record("cool", [1.0] * 50, RAPL, WARM, trials=3), _failed("broken")])
    assert rows[1]["flag"] == "[1]" and notes.texts == ["unsupported op"]
    rows, notes = _wide([_record("cool", [1.0] * 50, RAPL, WARM, trials=1)])  # one session
    assert rows[0]["flag"] == "invalid [1]" and "one trial" in notes.texts[0]

    db = tmp_path / "db.sqlite"
    with Store(db) as store:
        run_id = store.begin_run({"device_id": "host", "platform": "linux", "cpu": "Test CPU"},
                                 {}, "harness run", None, "0.1")
        for record in (_record("cool", [1.0] * 50, RAPL, WARM, trials=2),
                       _record("hot", [2.0] * 50, thermal=HOT)):
            store.add_record(record.__class__(**{**record.__dict__, "run_id": run_id}))
        store.finish_run(run_id)
    out = CliRunner().invoke(main, ["show", "latest", "--db", str(db)])
    assert out.exit_code == 0, out.output
    for text in ("12.3 ± 0.28", "22 / 52", "governor performance", "load 0.25", "executorch 1.5.1",
                 "measured by native runner (executorch)"):
        assert text in out.output, text
    wide = CliRunner().invoke(main, ["show", "latest", "--wide", "--db", str(db)])
    assert wide.exit_code == 0, wide.output
    for text in ("12.3 ± 0.28", "4.56 ± 0.049", "40 / 52", "22 / 52", "THROTTLED", "2 trials, 1.0%"):
        assert text in wide.output, text
    # The stored figures are the ones recomputing from the raw samples gives.
    again = CliRunner().invoke(main, ["show", "latest", "--wide", "--recompute", "--db", str(db)])
    assert again.exit_code == 0 and again.output == wide.output


def test_show_samples_prints_every_sample_of_every_trial(tmp_path):
    db = tmp_path / "db.sqlite"
    cell = _record("cool", [1.0 + i / 1000 for i in range(50)], trials=3)
    with Store(db) as store:
        run_id = store.begin_run({"device_id": "host", "platform": "linux"}, {}, "", None, "0.1")
        store.add_record(dataclasses.replace(cell, run_id=run_id))
    out = CliRunner().invoke(main, ["show", run_id, "--samples", "--db", str(db)])
    assert out.exit_code == 0, out.output
    header, *lines = out.output.splitlines()  # only the samples: no table before them
    assert header == "model format trial ms"
    expected = [f"cool executorch {t} {v:.6g}" for t, trial in enumerate(cell.trials, 1)
                for v in trial.samples_ms]
    assert lines == expected


def test_an_interval_of_fewer_than_six_samples_says_what_it_reaches():
    [row], _ = _wide([_record("phone", [10.0, 10.4, 9.8])])
    assert row["95% CI"] == "[9.80, 10.4] (75%)"
    [row], _ = _wide([_record("host", [1.0] * 50)])
    assert row["95% CI"] == "[1.00, 1.00]"


def test_context_line():
    result = _record("m", [1.0] * 20).result
    assert fmt_context(result) == ("threads 1; governor performance; load 0.25; executorch 1.5.1")
    assert fmt_context(None) == "n/a"


def test_formats_side_by_side_give_each_median_and_its_ratio_to_eager():
    def cell(model, fmt, ms):
        return dataclasses.replace(_record(model, [ms] * 50), format=fmt)

    records = [cell("a", "eager", 10.0), cell("a", "executorch", 4.0), cell("a", "tflite", 5.0),
               cell("b", "executorch", 2.0), dataclasses.replace(_failed("b"), format="tflite")]
    columns, rows = side_by_side(records)
    assert columns == ["model", "eager", "executorch", "tflite"]
    assert rows == [["a", "10.0", "4.00 (0.40x)", "5.00 (0.50x)"],
                    ["b", "", "2.00", "export_failed"]]  # no eager run of b: no ratio
    text = render_markdown(records)
    assert "## host, 1 thread, any CPU: formats side by side" in text
    assert "| a | 10.0 | 4.00 (0.40x) | 5.00 (0.50x) |" in text and "ratio to eager" in text
    # Without an eager cell, the table says nothing of ratios to it.
    text = render_markdown([r for r in records if r.format != "eager"])
    assert "ratio" not in text.split("## host, 1 thread")[1].split("##")[0]
