"""Where every operator ran (harness/placement): the map built from each source a record can
hold, operator names across runtimes, farm.yaml's delegation contracts judged on a map, the
per-layer numerics' measure, and a profile's time placed on graph nodes.

These build records the way the run and the importers store them, from the shapes the real
tools give (tests/test_profiles.py reads those tools' output itself); the host and phone runs
that make real ones are in tests/test_placement_host.py and tests/test_placement_phone.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner

from device_runners.contract import DeviceInfo, RunResult
from harness.cli import main
from harness.farm.config import FarmConfigError, parse_farm
from harness.farm.regression import FAILING, with_breaches
from harness.farm.reports import DeviceOutcome, FarmOutcome, digest, junit_xml
from harness.placement.build import build_placement, placement_of, with_placement
from harness.placement.contracts import CONTRACT_BROKEN, breaches, parse_expectations
from harness.placement.coreml_plan import compute_plan
from harness.placement.kinds import kind_of, matches
from harness.placement.layer_numerics import channel_snr_db, compare_layers, snr_db
from harness.placement.node_times import executorch_times, node_placement, tflite_times
from harness.report.compare import NO_CHANGE, CellComparison
from harness.store import BenchmarkRecord
from tests.support.paths import TESTS

# What ExecuTorch 1.5.1 gave for tests/tiny_models.py:fallback_convnet (host, native runner):
# the export's coverage, and its ETDump as device_runners/operator_profile.py reads it.
EXPORT = {"backend": "XNNPACK", "delegated_nodes": 7, "total_nodes": 9, "delegate_calls": 2,
          "not_delegated_ops": {"aten_cumsum_default": 1, "getitem": 1}}
PROFILE = {"source": "etdump", "iterations": 10, "ops_total_ms": 1.2753, "reference_ms": 1.3226,
           "ops": [{"operator": "Convolution (NHWC, F32) IGEMM", "delegate": "xnnpack", "count": 2,
                    "total_ms": 0.7245, "avg_ms": 0.36225},
                   {"operator": "cumsum.out", "delegate": "", "count": 1, "total_ms": 0.4643,
                    "avg_ms": 0.4643},
                   {"operator": "Transpose (ND, X32)", "delegate": "xnnpack", "count": 4,
                    "total_ms": 0.062, "avg_ms": 0.0155},
                   {"operator": "delegate call overhead", "delegate": "xnnpack", "count": 2,
                    "total_ms": 0.0185, "avg_ms": 0.00925},
                   {"operator": "Mean (ND) Reduce2", "delegate": "xnnpack", "count": 1,
                    "total_ms": 0.006, "avg_ms": 0.006}]}
DEVICE = DeviceInfo(device_id="host", platform="linux")


def record(fmt="executorch", runtime="executorch", backend="xnnpack", details=None, context=None,
           status="ok", path=None) -> BenchmarkRecord:
    result = RunResult(model="m", format=fmt, status=status, device=DEVICE, runtime=runtime,
                       backend=backend, samples_ms=(1.0,), context=context or {})
    artifact = {"runtime": runtime, "backend": backend, "details": details or {}, "path": path}
    return BenchmarkRecord(run_id="r", model="m", format=fmt, device_id="host", status=status,
                           reason="", artifact=artifact, model_info={}, result=result)


def test_operator_names_of_every_runtime_are_one_kind():
    assert {kind_of(n) for n in ("cumsum.out", "native_call_cumsum.out", "aten_cumsum_default",
                                 "aten.cumsum.default", "aten::cumsum", "CUMSUM")} == {"cumsum"}
    assert {kind_of(n) for n in ("Convolution (NHWC, F32) IGEMM", "CONV_2D", "DEPTHWISE_CONV_2D",
                                 "aten.conv2d.default", "Delegate/Convolution (NHWC, QC8) DWConv:1",
                                 "Convolution (NHWC, F32) IGEMM #2")} == {"convolution"}
    assert kind_of("Fully Connected (NC, F32) GEMM") == kind_of("aten.linear.default") == "linear"
    assert kind_of("aten_add_tensor") == "add" and kind_of("aten_remainder_scalar") == "remainder"
    assert kind_of("dim_order_ops__to_dim_order_copy_default") == "to_copy"
    assert matches("aten.gelu", "GELU (NC)", "gelu") and not matches("aten.gelu", "cumsum.out", "cumsum")
    assert kind_of("SomeCustomOp") == "somecustomop"  # unknown names keep their own


def test_the_profile_and_the_export_make_one_map_with_the_cpu_fallback_on_the_cpu():
    placement = build_placement(record(details={"delegation": EXPORT},
                                       context={"operator_profile": PROFILE}))
    assert placement["sources"] == ["etdump", "export"]
    cumsum = next(r for r in placement["rows"] if r["kind"] == "cumsum")
    assert (cumsum["unit"], cumsum["delegated"], cumsum["count"]) == ("cpu", False, 1)
    assert cumsum["share"] == pytest.approx(0.4643 / 1.2753, abs=1e-5)
    assert placement["ops"] == {"delegated": 7, "cpu": 1, "total": 8, "source": "export"}
    assert placement["cpu_fallback"] == {"cumsum": 1}
    units = placement["units"]
    assert set(units) == {"xnnpack", "cpu"} and units["cpu"]["delegated"] is False
    assert units["xnnpack"]["share"] + units["cpu"]["share"] == pytest.approx(1.0)
    assert placement["total_ms"] == pytest.approx(1.2753) and placement["unknown"] == []
    assert [r["operator"] for r in placement["rows"][:2]] == ["Convolution (NHWC, F32) IGEMM", "cumsum.out"]
    json.dumps(placement, allow_nan=False)  # stored in result_json as it is


def test_without_a_profile_the_export_alone_says_which_operators_left_the_delegate():
    placement = build_placement(record(details={"delegation": EXPORT}))
    assert placement["sources"] == ["export"] and placement["total_ms"] is None
    assert [(r["operator"], r["unit"], r["delegated"]) for r in placement["rows"]] == [
        ("2 xnnpack partitions", "xnnpack", True), ("aten_cumsum_default", "cpu", False)]
    assert any("harness run --profile" in u for u in placement["unknown"])
    stored = with_placement(record(details={"delegation": EXPORT}))
    assert stored.result.context["placement"] == placement and placement_of(stored) == placement


def test_a_gpu_delegate_trusts_the_runtime_s_lines_not_the_host_s_xnnpack_coverage():
    lines = {"replaced": [{"kernel": "TfLiteGpuDelegateV2", "nodes": 60, "total_nodes": 64}],
             "delegates": []}
    placement = build_placement(record(fmt="tflite@gpu", runtime="litert", backend="gpu",
                                       details={"delegation": EXPORT},
                                       context={"benchmark_model": lines}))
    assert placement["ops"] == {"delegated": 60, "cpu": 4, "total": 64, "source": "benchmark_model"}
    assert "export" not in placement["sources"]
    assert any("not the gpu delegate's" in u for u in placement["unknown"])


def test_core_ml_on_linux_says_what_cannot_be_known():
    plan = compute_plan("m.mlpackage", "cpu_and_ne", platform="linux")
    assert "this host is linux: which operations run where cannot be known here" in plan["unavailable"]
    placement = build_placement(record(fmt="coreml", runtime="coreml", backend="cpu_and_ne",
                                       context={"coreml_compute_plan": plan}))
    assert placement["rows"] == [] and placement["ops"] is None
    assert any("MLComputePlan" in u and "linux" in u for u in placement["unknown"])


def test_show_placement_prints_an_imported_ai_hub_file_s_compute_units(tmp_path):
    db = str(tmp_path / "h.db")
    runner = CliRunner()
    out = runner.invoke(main, ["results", "import", str(TESTS / "data" / "real" / "aihub" /
                                                          "mobilenet_v2_perf.yaml"), "--db", db])
    assert out.exit_code == 0, out.output
    shown = runner.invoke(main, ["show", "latest", "--placement", "--db", db, "--wide"])
    assert shown.exit_code == 0, shown.output
    assert "NPU layers" in shown.output
    assert "104 of 104 operators delegated (100%, AI Hub)" in shown.output
    assert "AI Hub gives layers per compute unit, not their times" in shown.output
    as_json = json.loads(runner.invoke(main, ["show", "latest", "--json", "--db", db]).output)
    assert all(r["placement"]["sources"] == ["AI Hub"] for r in as_json["records"])


# ----------------------------------------------------------------------------------------------
# Delegation contracts


def farm(expect):
    return parse_farm({"name": "n", "devices": [{"name": "host"}], "models": "m", "expect": expect})


def test_contracts_are_read_and_their_mistakes_are_one_line():
    config = farm([{"format": "executorch", "delegated_ops": ">= 0.95", "cpu_fallback_ops": 0,
                    "max_op_share": {"aten.gelu": 0.1}}])
    [rule] = config.expect
    assert rule.text() == "delegated_ops >= 0.95, cpu_fallback_ops <= 0, max_op_share aten.gelu <= 0.1"
    assert rule.needs_profile and rule.applies("host", "m", "executorch")
    assert not rule.applies("host", "m", "tflite")
    for expect, line in [
        ([{"format": "x"}], "expect[0]: no rule"),
        ([{"delegated_ops": "about 1"}], "expect[0].delegated_ops: 'about 1' does not match"),
        ([{"max_op_share": {"gelu": 2}}], "expect[0].max_op_share.gelu: 2 is greater than the maximum of 1"),
        ([{"device": "pixel9", "cpu_fallback_ops": 0}], "expect: no device 'pixel9' among devices"),
        ([{"cpu_fallback_ops": 0, "typo": 1}], "Additional properties are not allowed ('typo'"),
    ]:
        with pytest.raises(FarmConfigError) as error:
            farm(expect)
        assert line in str(error.value) and "\n" not in str(error.value), str(error.value)


def test_a_broken_contract_names_the_operators_that_broke_it():
    cell = record(details={"delegation": EXPORT}, context={"operator_profile": PROFILE})
    expect = parse_expectations([{"delegated_ops": ">= 0.95", "cpu_fallback_ops": 0,
                                  "max_op_share": {"aten.cumsum": 0.1, "convolution": 0.9},
                                  "delegated_time": 0.5}])
    broken = breaches(expect, "host", cell)
    assert len(broken) == 3, broken
    assert broken[0].startswith("delegated_ops >= 0.95 broken: 7 of 8 operators delegated (0.875")
    assert "cumsum.out x1 0.464 ms, 36.4%" in broken[0]
    assert broken[1].startswith("cpu_fallback_ops <= 0 broken: 1 operator on the CPU")
    assert broken[2].startswith("max_op_share aten.cumsum <= 0.1 broken: 0.364 of the profiled time")
    kept = parse_expectations([{"delegated_ops": 0.8, "cpu_fallback_ops": "<= 1"}])
    assert breaches(kept, "host", cell) == []
    # Rules on time without a profile are not silently passed.
    untimed = record(details={"delegation": EXPORT},
                     context={"operator_profile": {"source": "etdump", "unavailable": "no ETDump"}})
    [line] = breaches(parse_expectations([{"max_op_share": {"gelu": 0.1}}]), "host", untimed)
    assert line == "max_op_share gelu <= 0.1: cannot be checked: no operator profile (no ETDump)"
    # A cell not measured already fails as broken; a rule for another device does not apply.
    assert breaches(expect, "host", record(status="run_failed")) == []
    assert breaches(parse_expectations([{"device": "pixel7", "cpu_fallback_ops": 0}]), "host", cell) == []


def test_a_runtime_that_applied_a_delegate_partially_breaks_a_no_fallback_rule():
    lines = {"delegates": [{"delegate": "NNAPI", "graph": "partial", "kernels": 3}], "replaced": []}
    cell = record(fmt="tflite@nnapi", runtime="litert", backend="nnapi",
                  context={"benchmark_model": lines})
    [line] = breaches(parse_expectations([{"cpu_fallback_ops": 0}]), "host", cell)
    assert "the NNAPI delegate took part of the graph: at least one operator ran on the CPU" in line


def test_a_broken_contract_fails_the_cell_and_keeps_a_worse_verdict():
    base = CellComparison(device_id="host", model="m", format="executorch", verdict=NO_CHANGE)
    failed = with_breaches(base, ["cpu_fallback_ops <= 0 broken: cumsum.out x1"])
    assert failed.verdict == CONTRACT_BROKEN and CONTRACT_BROKEN in FAILING
    assert failed.notes == ("cpu_fallback_ops <= 0 broken: cumsum.out x1", "latency: no change")
    slower = with_breaches(CellComparison(device_id="host", model="m", format="e", verdict="slower"),
                           ["x broken"])
    assert slower.verdict == "slower" and slower.notes[0] == "x broken"
    assert with_breaches(base, []) is base


# ----------------------------------------------------------------------------------------------
# Per-layer numerics and nodes


def test_the_median_channel_shows_an_int8_layer_an_outlier_hides_from_the_whole_tensor():
    rng = np.random.default_rng(0)
    eager = rng.standard_normal((1, 8, 4, 4)).astype(np.float32)
    eager[:, 0] *= 1000  # one outlier channel sets int8's one scale ...
    int8 = eager.copy()
    int8[:, 1:] = 0  # ... and every other channel rounds to nothing
    assert snr_db(eager, int8) > 50  # the whole tensor looks fine
    assert channel_snr_db(eager, int8) == pytest.approx(0.0)
    assert channel_snr_db(eager, eager.transpose(0, 2, 3, 1)) == 120.0  # NHWC is compared as NCHW
    good = eager + 1e-3 * rng.standard_normal(eager.shape).astype(np.float32)
    result = compare_layers([("stem", "Conv2d", "conv2d", good), ("mix", "Conv2d", "conv2d_1", int8),
                             ("proj", "Conv2d", "conv2d_2", int8)],
                            {"stem": eager, "mix": eager, "proj": eager}, "int8")
    assert result["first_below"] == "mix"
    assert result["summary"].startswith("the error appears at layer `mix` (Conv2d): 0.0 dB")
    assert compare_layers([("stem", "Conv2d", "c", good)], {"stem": eager}, "int8")["first_below"] is None
    # An inf in one channel (fp16 weights past 65504) is where the error appears, whatever the
    # median channel says; nothing non-finite reaches the stored JSON.
    overflow = good.copy()
    overflow[:, 0] = np.inf
    result = compare_layers([("stem", "Conv2d", "c", good), ("mix", "Conv2d", "c1", overflow)],
                            {"stem": eager, "mix": eager}, "fp16")
    assert result["first_below"] == "mix" and result["layers"][1]["nonfinite"] == 16
    assert "`mix` (Conv2d): 16 values are inf or NaN" in result["summary"]
    json.dumps(result, allow_nan=False)


def test_a_profile_s_time_reaches_the_graph_nodes():
    table = {"adapter": "pytorch", "instructions": {"0": [1, 2], "1": [3], "2": [4, 5]},
             "delegates": [{"index": 0, "backend": "XnnpackBackend", "instruction": 0},
                           {"index": 1, "backend": "XnnpackBackend", "instruction": 2}],
             "nodes": [{"id": "conv2d", "kind": "convolution", "handles": [1], "delegate": 0},
                       {"id": "relu", "kind": "relu", "handles": [2], "delegate": 0},
                       {"id": "cumsum", "kind": "cumsum", "handles": [3], "delegate": None},
                       {"id": "conv2d_1", "kind": "convolution", "handles": [4], "delegate": 1},
                       {"id": "linear", "kind": "linear", "handles": [5], "delegate": 1}]}
    events = [("Transpose (ND, X32) #1", True, 0, 0.01), ("Convolution (NHWC, F32) IGEMM #1", True, 0, 0.3),
              ("DELEGATE_CALL", False, 0, 0.35), ("native_call_cumsum.out", False, 1, 0.2),
              ("Convolution (NHWC, F32) IGEMM #1", True, 2, 0.4),
              ("Fully Connected (NC, F32) GEMM #1", True, 2, 0.05), ("DELEGATE_CALL", False, 2, 0.5)]
    profile = {"events": [{"name": n, "delegated": d, "instruction": i, "ms": ms} for n, d, i, ms in events]}
    times, off = executorch_times(table, profile)
    assert times == pytest.approx({"conv2d": 0.3, "cumsum": 0.2, "conv2d_1": 0.4, "linear": 0.05})
    assert off == pytest.approx({"Transpose (ND, X32)": 0.01, "delegate call overhead": 0.09})
    assert node_placement(table, profile) == {"conv2d": "XnnpackBackend", "relu": "XnnpackBackend",
                                              "cumsum": "", "conv2d_1": "XnnpackBackend",
                                              "linear": "XnnpackBackend"}
    # LiteRT: a node timed on its own ran outside any delegate, whatever the host's coverage.
    tflite = {"adapter": "tflite", "delegates": [{"index": 0, "backend": "XNNPACK", "node": 3}],
              "nodes": [{"id": "0", "kind": "convolution", "delegate": 0},
                        {"id": "1", "kind": "cumsum", "delegate": None},
                        {"id": "2", "kind": "linear", "delegate": 0}]}
    run_order = {"events": [
        {"name": "Delegate/Convolution (NHWC, F32) IGEMM:0", "type": "Convolution (NHWC, F32) IGEMM",
         "delegated": True, "delegate": "xnnpack", "ms": 0.3, "node": None},
        {"name": "[cumsum;1]:1", "type": "CUMSUM", "delegated": False, "delegate": "", "ms": 0.2, "node": 1},
        {"name": "[add]:3", "type": "TfLiteXNNPackDelegate", "delegated": True, "delegate": "xnnpack",
         "ms": 0.6, "node": 3}]}
    times, off = tflite_times(tflite, run_order)
    assert times == pytest.approx({"0": 0.3, "1": 0.2})
    assert off == pytest.approx({"TfLiteXNNPackDelegate partition": 0.6})
    assert node_placement(tflite, run_order) == {"0": "xnnpack", "1": "", "2": "xnnpack"}


XMLLINT = shutil.which("xmllint")


@pytest.mark.needs(None if XMLLINT else "xmllint is not installed (Debian: libxml2-utils)")
def test_a_broken_contract_is_a_junit_failure_and_a_digest_row(tmp_path):
    broken = with_breaches(CellComparison(device_id="host", model="m", format="executorch",
                                          verdict=NO_CHANGE, a_median=1.0, b_median=1.0, ratio=1.0),
                           [("cpu_fallback_ops <= 0 broken: 1 operator on the CPU outside any "
                             "delegate (export): cumsum.out x1 0.464 ms, 36.4%")])
    device = DeviceOutcome("host", "n-1-host", verdicts=[broken], started_at=1764547200.0)
    outcome = FarmOutcome("nightly", "n-1", [device])
    xml = junit_xml(outcome)
    (tmp_path / "junit.xml").write_text(xml)
    for schema in ("ant-junit.xsd", "jenkins-junit-10.xsd"):
        out = subprocess.run([XMLLINT, "--noout", "--schema", str(TESTS / "data" / "real" / "junit" / schema),
                              str(tmp_path / "junit.xml")], capture_output=True, text=True,
                             check=False)
        assert out.returncode == 0, out.stderr
    failure = ET.fromstring(xml).find("testsuite/testcase/failure")
    assert failure.get("type") == "contract broken" and "cumsum.out x1" in failure.get("message")
    assert outcome.failed
    text = digest(outcome)
    assert "| m | executorch | **contract broken** |" in text and "cumsum.out x1" in text
