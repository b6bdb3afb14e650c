"""`harness results import` and `export` on files the tools themselves wrote (tests/data/real,
each with its origin in that directory's README), through the command line into a real SQLite
database: what reaches the store is what the tool printed, named as the tool's.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.support.paths import TESTS
from device_runners.ios.xctest import kib_from_kb
from harness.cli import main
from harness.results_io.xctest import executorch_test
from harness.store import Store

REAL = TESTS / "data" / "real"


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def imported(db, path, *extra):
    result = cli("results", "import", path, "--db", db, *extra)
    assert result.exit_code == 0, result.output
    with Store(db, readonly=True) as store:
        return {(r.model, r.format, r.device_id): r for r in store.records()}


def one(records, model, fmt=None):
    [record] = [r for (m, f, _), r in records.items() if m == model and (fmt is None or f == fmt)]
    return record


def refused(db, path):
    result = CliRunner().invoke(main, ["results", "import", str(path), "--db", str(db)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("nothing was stored."), result.output
    return lines[0]


# ----------------------------------------------------------------------------------------------
# TFLite / LiteRT benchmark_model


def test_benchmark_model_s_summary_is_stored_as_its_own_figures_never_as_samples(tmp_path):
    db = tmp_path / "h.db"
    r = one(imported(db, REAL / "benchmark_model" / "ti_am62x_xnnpack.log"), "ssd_mobilenet_v2_coco")
    assert r.status == "ok" and r.stats is None  # no samples: no median, no interval made up
    s = r.tool_summary
    assert (s.tool, s.statistic, s.n) == ("benchmark_model", "mean", 50)
    assert (s.value_ms, s.mean_ms, s.std_ms, s.min_ms, s.max_ms) == (899.641, 899.641, 1.549,
                                                                     898.007, 906.121)
    assert (s.median_ms, s.first_ms, s.curr_ms) == (899.281, 900.416, 898.333)
    assert s.percentiles_ms == {"p5": 898.333, "p95": 904.305}
    with Store(db, readonly=True) as store:
        assert store.samples(r.id) == []
    res = r.result
    assert (res.load_ms, res.first_inference_ms) == (614.333, 905.463)
    # The footprint lines: init= at load, overall= at inference (no periodic peak printed).
    assert (res.peak_rss_load_kb, res.peak_rss_inference_kb) == (round(146.363 * 1024),
                                                                 round(150.141 * 1024))
    assert r.artifact["backend"] == "xnnpack"  # "Explicitly applied XNNPACK delegate"
    assert res.context["imported"]["threads"] is None  # --num_threads was given, never printed
    shown = cli("show", "latest", "--db", db).output
    assert "900 mean (benchmark_model, n 50, 898-906)" in shown and "threads n/a" in shown
    assert "[" not in shown.split("ssd_mobilenet_v2_coco", 1)[1].splitlines()[0]  # no interval


def test_benchmark_model_logs_of_other_versions_read_what_they_print(tmp_path):
    db = tmp_path / "h.db"
    cpu = one(imported(db, REAL / "benchmark_model" / "ti_am62x_cpu.log"), "ssd_mobilenet_v2_coco")
    assert cpu.tool_summary.mean_ms == 1240.27  # printed as avg=1.24027e+06 (µs)
    assert cpu.artifact["backend"] == "cpu"  # Use xnnpack: [0]
    # LiteRT's own benchmark_model: no parameters, a results block, XNNPACK by its node count.
    litert = one(imported(db, REAL / "benchmark_model" / "arm_litert_sme2.log"), "arm_litert_sme2")
    s = litert.tool_summary
    assert (s.n, s.value_ms, s.min_ms, s.max_ms, s.median_ms) == (2112, 0.464545, 0.442, 0.979, 0.462)
    assert (litert.result.load_ms, litert.result.first_inference_ms) == (4.48, 1.03)
    assert (litert.result.peak_rss_load_kb, litert.result.peak_rss_inference_kb) == (
        round(8.94 * 1024), round(11.51 * 1024))
    assert litert.artifact["backend"] == "xnnpack"
    assert litert.artifact["details"]["delegation"] == {"backend": "xnnpack", "delegated_nodes": 1,
                                                        "total_nodes": 1}


# ----------------------------------------------------------------------------------------------
# PyTorch benchmark database v3


def test_a_single_v3_object_of_memory_only_stays_a_memory_figure_both_ways(tmp_path):
    """ExecuTorch's iOS CI record: one object (no list), peak_inference_mem_usage(mb) alone."""
    db = tmp_path / "h.db"
    r = one(imported(db, REAL / "hud_v3" / "executorch_ios_memory_only.json"), "edsr")
    assert r.status == "ok" and r.memory_only and r.reason == ""
    assert r.result.peak_rss_inference_kb == round(333.2014794921875 * 1024)
    assert (r.format, r.artifact["backend"], r.artifact["precision"]) == (
        "executorch-int8", "xnnpack_q8", "int8")  # q8 is int8, not the old default fp32
    device = r.result.device
    assert (device.device_id, device.platform, device.os_version) == ("Apple iPhone 15", "ios",
                                                                       "iOS 18.0")
    assert "memory only" in cli("show", "latest", "--db", db).output
    out = tmp_path / "v3.json"
    assert cli("results", "export", "--format", "hud-v3", "--out", out, "--db", db).exit_code == 0
    records = json.loads(out.read_text())
    assert [x["metric"]["name"] for x in records] == ["peak_inference_mem_usage(mb)"]
    assert records[0]["metric"]["benchmark_values"] == [pytest.approx(333.2014794921875, abs=1e-3)]
    again = one(imported(tmp_path / "again.db", out), "edsr")
    assert again.memory_only and again.result.peak_rss_inference_kb == r.result.peak_rss_inference_kb


def test_json_lines_are_read_as_pytorch_s_uploader_reads_them(tmp_path):
    # test-infra's own JSONEachRow sample: two objects and a list, one per line. Its metric is
    # not one the harness measures: all three records read, the one line says which metric.
    line = refused(tmp_path / "h.db", REAL / "hud_v3" / "json_each_row.json")
    assert "this file holds compile_time_instruction_count" in line
    # Our own export, one record per line, imports; a damaged line is named.
    db = tmp_path / "h.db"
    imported(db, REAL / "aihub" / "mobilenet_v2_perf.yaml")
    exported = json.loads(cli("results", "export", "--format", "hud-v3", "--db", db).output)
    rows = tmp_path / "rows.json"
    rows.write_text("".join(json.dumps(r) + "\n" for r in exported))
    back = imported(tmp_path / "rows.db", rows)
    assert len(back) == 8  # every cell of the excerpt: 4 on the S24, 3 on the X Elite, 1 kit
    rows.write_text(json.dumps(exported[0]) + "\n{\"benchmark\": \n")
    assert "rows.json, line 2: expected one JSON object or list per line" in refused(
        tmp_path / "bad.db", rows)


def test_hud_v3_export_has_the_table_s_types_and_a_round_trip_changes_nothing(tmp_path):
    db = tmp_path / "h.db"
    for path in (REAL / "benchmark_model" / "ti_am62x_xnnpack.log",
                 REAL / "xcresulttool" / "launch_metrics_xcode26.json",
                 REAL / "hud_v3" / "executorch_ios_memory_only.json",
                 REAL / "aihub" / "mobilenet_v2_perf.yaml",
                 TESTS / "data" / "results_io" / "xctest_executorch.log"):
        imported(db, path)
    first = json.loads(cli("results", "export", "--format", "hud-v3", "--db", db).output)
    for record in first:  # Map(String, String), UInt32 and Float32 columns
        for part in ("benchmark", "model", "metric"):
            assert all(isinstance(v, str) for v in record[part]["extra_info"].values()), record
        runner = record["runners"][0]
        assert all(isinstance(runner[k], int) for k in ("cpu_count", "avail_mem_in_gb",
                                                        "total_mem_in_gb", "gpu_count"))
        assert all(isinstance(v, str) for v in runner["extra_info"].values())
        assert isinstance(record["metric"]["target_value"], int)
        assert all(isinstance(v, float) for v in record["metric"]["benchmark_values"])
    iphone = next(x for x in first if x["model"]["name"] == "repvit_m0_9")
    assert iphone["runners"][0]["type"] == "iOS 17.2.1"  # the OS as ExecuTorch names it
    assert iphone["model"]["backend"] == "coreml" and iphone["benchmark"]["dtype"] == "fp16"
    assert iphone["model"]["extra_info"]["format"] == "executorch-coreml"
    out = tmp_path / "v3.json"
    out.write_text(json.dumps(first))
    imported(tmp_path / "again.db", out)
    second = json.loads(cli("results", "export", "--format", "hud-v3", "--db",
                            tmp_path / "again.db").output)

    def same(records):  # what differs by design: the run, when, and the origin's file name
        for r in records:
            for key in ("run_id", "started_utc", "origin", "settings", "harness_version"):
                r["benchmark"]["extra_info"].pop(key, None)
            r["model"]["origins"] = []
        return sorted(json.dumps(r, sort_keys=True) for r in records)

    assert same(second) == same(first)  # first inference, memory at load, platform, CPU count...
    assert {x["metric"]["name"] for x in first} >= {"first_inference_latency(ms)",
                                                    "peak_load_mem_usage(mb)"}


# ----------------------------------------------------------------------------------------------
# XCTest and xcresulttool


def test_an_xctest_suite_that_is_not_executorch_s_is_of_no_known_runtime(tmp_path):
    db = tmp_path / "h.db"
    records = imported(db, REAL / "xctest" / "specificationkit_macos.log")
    clock = one(records, "AnySpecificationPerformance")
    assert (clock.format, clock.result.runtime) == ("unknown", "unknown")  # not "coreml"
    with Store(db, readonly=True) as store:
        assert store.trial_samples(clock.id) == [[2.855, 2.52, 2.594, 2.571, 2.26]]  # values: [...]
    # Memory only, and CPU time with memory: measured memory, not a failed run. kB are 1000 bytes.
    memory = one(records, "SpecificationMemoryUsage")
    assert memory.status == "ok" and memory.memory_only
    assert memory.result.peak_rss_inference_kb == kib_from_kb(117474.048) == 114721
    cpu = one(records, "WrappedSpecificationOverhead")
    assert cpu.memory_only and "CPU Time" in cpu.result.context["imported"]["tests"][
        "SpecificationKitTests.AnySpecificationPerformanceTests testWrappedSpecificationOverhead"]
    assert clock.device_id.startswith("unnamed-")  # the log names no device: its own
    named = imported(tmp_path / "named.db", REAL / "xctest" / "specificationkit_macos.log",
                     "--runtime", "coreml", "--device", "mac", "--platform", "macos")
    assert one(named, "AnySpecificationPerformance").format == "coreml"


def test_executorch_s_test_names_give_model_phone_and_os():
    # The names of ExecuTorch's extract_benchmark_results.py docstring, and the same parts in
    # another order: wherever the product type and the OS stand, they are read.
    load = executorch_test("test_load_resnet50_xnnpack_q8_pte_iOS_17_2_1_iPhone15_4")
    assert (load["method"], load["model"], load["backend"], load["dtype"]) == (
        "load", "resnet50", "xnnpack", "q8")
    assert (load["product_type"], load["os"]) == ("iPhone15,4", "iOS 17.2.1")  # not "iPhone 15.4"
    moved = executorch_test("test_forward_repvit_m0_9_coreml_fp16_pte_iPhone13_2_iOS_18_0")
    assert (moved["model"], moved["backend"], moved["product_type"], moved["os"]) == (
        "repvit_m0_9", "coreml", "iPhone13,2", "iOS 18.0")
    ipad = executorch_test("test_forward_mv3_xnnpack_fp32_pte_iPadOS_17_3_iPad11_2")
    assert (ipad["model"], ipad["product_type"]) == ("mv3", "iPad11,2")
    assert executorch_test("testSpecificationMemoryUsage") is None


def test_an_executorch_xctest_log_names_its_phone(tmp_path):
    r = one(imported(tmp_path / "h.db", TESTS / "data" / "results_io" / "xctest_executorch.log"),
            "repvit_m0_9")
    device = r.result.device
    assert (device.device_id, device.product_model, device.os_version) == ("iPhone13,2",
                                                                           "iPhone 12", "iOS 17.2.1")
    assert (r.format, r.result.runtime, r.artifact["precision"]) == ("executorch-coreml",
                                                                     "executorch", "fp16")


def test_xcresulttool_metrics_json_is_imported_with_its_device_and_metric(tmp_path):
    db = tmp_path / "h.db"
    r = one(imported(db, REAL / "xcresulttool" / "launch_metrics_xcode26.json"),
            "LaunchMetricBaselineRecorded")
    device = r.result.device
    assert (device.device_id, device.product_model, device.platform) == (
        "00000000-0000-0000-0000-000000000001", "iPhone 16e", "ios")
    with Store(db, readonly=True) as store:
        assert store.trial_samples(r.id) == [[1905.808042, 1913.853959, 1977.160208, 2414.02925,
                                              2267.80575]]  # exactly, in ms
    test = r.result.context["imported"]["tests"][
        "LaunchPerformanceUITests/testLaunchMetricBaselineRecorded()"]
    assert test["Duration (AppLaunch)"]["identifier"] == \
        "com.apple.dt.XCTMetric_ApplicationLaunch-AppLaunch.duration"
    assert test["configuration"] == "Test Scheme Action"


# ----------------------------------------------------------------------------------------------
# Qualcomm AI Hub


def test_an_aihub_perf_yaml_says_only_what_it_says(tmp_path):
    db = tmp_path / "h.db"
    records = imported(db, REAL / "aihub" / "mobilenet_v2_perf.yaml")
    s24 = records[("MobileNet-v2", "tflite", "Samsung Galaxy S24")]
    assert s24.result.device.platform == "android" and s24.result.device.os_version == "Android 14"
    assert s24.stats is None and s24.tool_summary.value_ms == 0.593
    assert s24.result.peak_rss_inference_kb == 55 * 1024
    assert records[("MobileNet-v2", "qnn", "Snapdragon X Elite CRD")].result.device.platform == "windows"
    assert records[("MobileNet-v2", "qnn-w8a16", "Dragonwing IQ-9075 EVK")].result.device.platform == "linux"
    zero = records[("MobileNet-v2", "qnn-w8a16", "Snapdragon X Elite CRD")]
    assert zero.result.peak_rss_inference_kb is None  # a 0-0 MB range is no figure, not a 0 peak
    assert s24.artifact["precision"] == "float" and zero.artifact["precision"] == "w8a16"
    shown = cli("show", s24.run_id, "--db", db).output
    assert "0.59 (AI Hub's figure)" in shown and "[0.59" not in shown  # one figure, no interval
    assert "threads n/a" in shown
    board = tmp_path / "board.md"
    assert cli("report", "--out", board, "--db", db).exit_code == 0
    assert "threads n/a, CPUs n/a" in board.read_text()
    assert "1 thread, any CPU" not in board.read_text()


# ----------------------------------------------------------------------------------------------
# Devices, compare and the site on such records


def test_files_naming_no_device_are_never_one_phone_and_summaries_compare_by_range(tmp_path):
    db = tmp_path / "h.db"
    a = one(imported(db, REAL / "benchmark_model" / "ti_am62x_xnnpack.log"), "ssd_mobilenet_v2_coco")
    both = imported(db, REAL / "benchmark_model" / "ti_am62x_cpu.log")
    b = next(r for r in both.values() if r.run_id != a.run_id)
    assert a.device_id != b.device_id  # two unrelated files, two devices
    out = cli("compare", a.run_id, b.run_id, "--db", db)
    assert "1 only in A, 1 only in B." in out.output
    # The same phone twice (one device named): the tool's ranges decide, and say so.
    imported(db, REAL / "benchmark_model" / "ti_am62x_cpu.log", "--device", "am62x")
    imported(db, REAL / "benchmark_model" / "ti_am62x_xnnpack.log", "--device", "am62x")
    with Store(db, readonly=True) as store:
        runs = [r.id for r in store.runs() if r.device_id == "am62x"]
    result = cli("compare", runs[1], runs[0], "--db", db, "--json")  # cpu (A) -> xnnpack (B)
    [cell] = json.loads(result.output)["cells"]
    assert cell["verdict"] == "faster" and cell["a_median_ms"] == 1240.27
    assert "judged by ranges: another tool's summary" in cell["notes"][0]
    assert "benchmark_model's mean of 50 runs" in cell["notes"][0]


def test_the_site_shows_a_tool_s_summary_as_the_tool_s(tmp_path):
    db = tmp_path / "h.db"
    imported(db, REAL / "benchmark_model" / "ti_am62x_xnnpack.log")
    imported(db, REAL / "hud_v3" / "executorch_ios_memory_only.json")
    assert cli("site", "--db", db, "--out", tmp_path / "site").exit_code == 0
    index = (tmp_path / "site" / "index.html").read_text()
    assert "900 mean (benchmark_model, n 50, 898-906)" in index and "memory only" in index
    page = (tmp_path / "site" / "models" / "ssd_mobilenet_v2_coco.html").read_text()
    assert "benchmark_model std" in page and "1.55 ms" in page
