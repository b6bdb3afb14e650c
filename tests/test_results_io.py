"""`harness results import` and `harness results export`, on files in each tool's own format.

The samples in tests/data/results_io are composed in each tool's shape (their README), to show
what a captured file cannot on its own: a zoo model's name, a paper's device; bad_* are each one
damaged the way files get damaged. tests/test_real_files.py reads files the tools themselves
wrote. Every import goes through the command line into a real SQLite database.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from tests.support.paths import TESTS
from harness.cli import main
from harness.store import Store

DATA = TESTS / "data" / "results_io"


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def imported(db, name, *extra):
    result = cli("results", "import", DATA / name, "--db", db, *extra)
    assert result.exit_code == 0, result.output
    with Store(db, readonly=True) as store:
        runs = {run.id: run for run in store.runs()}
        return runs, {(r.model, r.format): r for r in store.records()}


def test_a_benchmark_model_log_joins_the_zoo_row_with_the_tool_s_summary(tmp_path):
    runs, records = imported(tmp_path / "h.db", "benchmark_model_repvit.log", "--device", "pixel7",
                             "--platform", "android")
    r = records[("repvit_m1_0", "tflite")]  # Graph: [.../repvit_m1_0.tflite] matched the zoo
    assert r.status == "ok" and r.model_info["family"] == "RepViT" and r.device_id == "pixel7"
    assert r.stats is None  # the tool printed no runs: no samples, no median
    summary = r.tool_summary
    assert (summary.n, summary.mean_ms, summary.std_ms, summary.min_ms, summary.max_ms) == (
        84, 11.9023, 0.214, 11.655, 12.984)
    assert r.result.load_ms == 48.204 and r.result.first_inference_ms == 21.035
    assert r.result.context["imported"]["threads"] == 4 and r.result.backend == "xnnpack"
    assert r.result.peak_rss_load_kb == round(39.4531 * 1024)  # the init= footprint
    assert r.result.peak_rss_inference_kb == round(52.9805 * 1024)  # the periodic peak
    config = runs[r.run_id].config
    assert config["imported"]["tool"] == "benchmark_model" and "bench" not in config
    assert config["imported"]["file"] == "benchmark_model_repvit.log"


def test_executorch_benchmark_results_json_keeps_unknown_names_and_failed_loads(tmp_path):
    runs, records = imported(tmp_path / "h.db", "executorch_benchmark_results.json")
    mv3 = records[("mv3", "executorch")]  # not in the zoo: kept under its own name
    assert mv3.model_info["family"] == "" and mv3.device_id == "Google Pixel 8 Pro"
    assert mv3.stats is None and mv3.tool_summary.value_ms == 11.482
    assert mv3.tool_summary.other_ms == {"trimmed mean": 11.103}
    assert mv3.result.load_ms == 74.21
    assert mv3.result.device.platform == "android"
    failed = records[("edgenext_xx_small", "executorch-qnn")]
    assert failed.status == "run_failed" and "load_status is 34" in failed.reason
    assert failed.model_info["family"] == "EdgeNeXt"


def test_v3_records_give_every_value_as_a_sample_and_failure_reports_fail(tmp_path):
    runs, records = imported(tmp_path / "h.db", "v3_executorch.json")
    r = records[("repvit_m1_1", "executorch-coreml")]
    assert r.stats.n == 4 and r.stats.median == pytest.approx(1.305)
    assert r.result.load_ms == pytest.approx(212.4) and r.device_id == "Apple iPhone 15"
    assert records[("emo_1m", "executorch-mps")].status == "run_failed"


def test_an_aihub_perf_yaml_gives_a_cell_per_device_runtime_and_precision(tmp_path):
    runs, records = imported(tmp_path / "h.db", "aihub_perf.yaml")
    fp = records[("mobilevit_xxs", "tflite")]  # MobileViT-XXS is the zoo's mobilevit_xxs
    assert fp.device_id == "Samsung Galaxy S24" and fp.tool_summary.value_ms == 1.012
    assert fp.result.peak_rss_inference_kb == 32 * 1024 and fp.result.device.platform == "android"
    assert fp.artifact["details"]["delegation"] == {"backend": "NPU", "delegated_nodes": 208,
                                                    "total_nodes": 214}
    assert fp.result.runtime_versions["tflite"] == "2.18.0"
    assert records[("mobilevit_xxs", "tflite-w8a8")].tool_summary.value_ms == 0.618
    qnn = records[("mobilevit_xxs", "qnn")]
    assert qnn.status == "run_failed" and "failed" in qnn.reason


def test_an_xctest_log_gives_every_iteration_and_checks_a_paper(tmp_path):
    db = tmp_path / "h.db"
    runs, records = imported(db, "xctest_executorch.log")
    r = records[("repvit_m0_9", "executorch-coreml")]
    assert r.device_id == "iPhone13,2" and r.result.device.platform == "ios"
    assert r.stats.n == 12 and r.stats.median == pytest.approx(0.9420, abs=5e-4)
    # XCTest's kB are 1000 bytes: 61876.48 kB is 60426 KiB.
    assert r.result.load_ms == pytest.approx(186.9) and r.result.peak_rss_inference_kb == 60426
    # iPhone13,2 is an iPhone 12, the paper's device: the paper check compares them.
    out = cli("report", "--paper-check", "--db", db, "--wide")
    line = next(x for x in out.output.splitlines() if x.startswith("repvit_m0_9 "))
    assert "executorch-coreml" in line and "reproduced within 15%" in line
    # `harness show` names the origin instead of settings the harness never chose.
    shown = cli("show", "latest", "--db", db)
    assert "settings: imported from xctest_executorch.log (XCTest performance log)" in shown.output


@pytest.mark.parametrize("name, where, expected", [
    ("bad_executorch.json", "line 3", "expected JSON"),
    ("bad_perf.yaml", "line 5", "expected YAML"),
    ("bad_xctest.log", "line 8", "measured [Metric, unit]"),
    ("bad_benchmark_model.log", "", "Inference timings in us"),
    ("unknown.txt", "", "expected one of: TFLite benchmark_model log"),
])
def test_a_damaged_file_is_one_line_and_stores_nothing(tmp_path, name, where, expected):
    db = tmp_path / "h.db"
    imported(db, "executorch_benchmark_results.json")  # what must survive
    path = DATA / name
    if name == "unknown.txt":
        path = tmp_path / name
        path.write_text("model,latency\nmv3,11.4\n")
    with Store(db, readonly=True) as store:
        before = ([r.id for r in store.runs()], [r.id for r in store.records()])
    result = CliRunner().invoke(main, ["results", "import", str(path), "--db", str(db)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"{path}{', ' + where if where else ''}: expected" in lines[0]
    assert expected in lines[0] and lines[0].endswith("nothing was stored.")
    with Store(db, readonly=True) as store:
        assert ([r.id for r in store.runs()], [r.id for r in store.records()]) == before


def test_export_writes_csv_jsonl_and_v3_records_that_import_back(tmp_path):
    db = tmp_path / "h.db"
    imported(db, "xctest_executorch.log")
    imported(db, "executorch_benchmark_results.json")
    rows = list(csv.DictReader(io.StringIO(cli("results", "export", "--format", "csv", "--db", db)
                                           .output)))
    assert [(r["model"], r["format"], r["status"]) for r in rows] == [
        ("edgenext_xx_small", "executorch-qnn", "run_failed"), ("mv3", "executorch", "ok"),
        ("repvit_m0_9", "executorch-coreml", "ok")]
    assert rows[2]["n"] == "12" and rows[2]["device_id"] == "iPhone13,2"
    assert rows[2]["origin"] == "imported from xctest_executorch.log (XCTest performance log)"
    assert rows[0]["median_ms"] == "" and "load_status" in rows[0]["reason"]

    lines = cli("results", "export", "--format", "jsonl", "--db", db).output.splitlines()
    cells = [json.loads(line) for line in lines]
    xc = next(c for c in cells if c["model"] == "repvit_m0_9")
    assert len(xc["samples_ms"][0]) == 12 and xc["latency_ms"]["n"] == 12
    assert xc["run"]["device_id"] == "iPhone13,2"

    out = tmp_path / "v3.json"
    result = cli("results", "export", "--format", "hud-v3", "--out", out, "--db", db)
    assert result.exit_code == 0 and "3 cells written" in result.output
    records = json.loads(out.read_text())
    assert all({"benchmark", "model", "metric", "runners"} <= set(r) for r in records)
    avg = next(r for r in records if r["model"]["name"] == "repvit_m0_9"
               and r["metric"]["name"] == "avg_inference_latency(ms)")
    assert avg["benchmark"]["name"] == "harness" and avg["model"]["backend"] == "coreml"
    assert avg["model"]["extra_info"]["format"] == "executorch-coreml"
    assert avg["metric"]["benchmark_values"] == pytest.approx(xc["samples_ms"][0])
    assert any(r["metric"]["name"] == "FAILURE_REPORT" for r in records)
    # The v3 records read back as the cells they came from.
    again = tmp_path / "again.db"
    _, back = imported(again, out)
    assert back[("repvit_m0_9", "executorch-coreml")].stats.median == pytest.approx(
        xc["latency_ms"]["median"])
    assert back[("repvit_m0_9", "executorch-coreml")].device_id == "iPhone13,2"
    assert back[("edgenext_xx_small", "executorch-qnn")].status == "run_failed"


def test_export_of_an_unknown_run_is_one_line(tmp_path):
    db = tmp_path / "h.db"
    imported(db, "xctest_executorch.log")
    result = CliRunner().invoke(main, ["results", "export", "--format", "csv", "--run", "nope",
                                       "--db", str(db)])
    assert result.exit_code == 2 and "No run 'nope'" in result.output
    assert len(result.output.strip().splitlines()) == 1
