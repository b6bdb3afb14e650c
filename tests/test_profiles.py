"""Per-operator profiles: `harness run --profile`, `harness show --ops`, and the readers of
ExecuTorch's ETDump and benchmark_model's op profiling.

The host test runs the real native runner and ExecuTorch's Inspector. slow_convnet is the
smallest model whose operators account for its timed median: on tiny_convnet (6 us an
inference) the tracer's own cost per event is as large as the operators it times.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tests.support.paths import ROOT, TESTS
from device_runners.android.litert_profile import parse_op_profile, profiling_flags
from device_runners.contract import RunRequest
from device_runners.operator_profile import (
    DELEGATE_OVERHEAD,
    WHOLE_DELEGATE_CALL,
    etdump_profile,
    summarize_events,
)
from harness.cli import main
from harness.store import Store

SLOW = f"{TESTS / 'tiny_models.py'}:slow_convnet"
FAST = ["--warmup", "2", "--iterations", "20", "--min-time", "0.2"]


@pytest.mark.slow
def test_host_run_stores_an_operator_table_that_adds_up_to_the_timed_median(tmp_results):
    out = CliRunner().invoke(main, ["run", "--models", SLOW, "--formats", "executorch,tflite",
                                    "--trials", "2", "--profile", *FAST], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "Top 5 operators per profiled cell" in out.output
    with Store() as store:
        records = {r.format: r for r in store.records(store.runs()[0].id)}
        ex, tfl = records["executorch"], records["tflite"]
        timed = store.samples(ex.id)
        trials = next(r for r in store.records(ex.run_id, samples=True) if r.id == ex.id).trials

    profile = ex.result.context["operator_profile"]
    assert profile["source"] == "etdump" and profile["iterations"] == 10
    conv = next(op for op in profile["ops"] if op["operator"] == "Convolution (NHWC, F32) IGEMM")
    assert (conv["delegate"], conv["count"]) == ("xnnpack", 2)
    assert conv["avg_ms"] == pytest.approx(conv["total_ms"] / 2, abs=1e-6)
    total = profile["ops_total_ms"]
    assert total == pytest.approx(sum(op["total_ms"] for op in profile["ops"]), abs=1e-5)
    assert abs(total - ex.stats.median) <= 0.2 * ex.stats.median, (total, ex.stats.median)
    # The profiling trial is not a trial: two trials' samples, and no more, make the statistics.
    assert len(ex.trials) == 2 and profile["trial"]["samples_dropped"] >= 1
    assert ex.stats.n == len(timed) == sum(len(t.samples_ms) for t in trials)
    assert ex.reason == ""
    # A runtime that cannot profile is still measured, and says why it has no profile.
    assert tfl.status == "ok" and tfl.stats.n >= 20
    assert "no operator profile: LiteRT profiles per operator only in benchmark_model" in tfl.reason

    shown = _show_without_torch(tmp_results, "show", "latest", "--ops", "--top", "3")
    assert "Convolution (NHWC, F32) IGEMM" in shown and "xnnpack" in shown
    assert f"operators total {total:.4f} ms" in shown
    assert "tflite: no operator profile:" in shown


def _show_without_torch(tmp_results, *args) -> str:
    """`harness show` in a fresh interpreter, which must not import torch to print a profile."""
    code = ("import sys; from click.testing import CliRunner; from harness.cli import main; "
            f"r = CliRunner().invoke(main, {list(args)!r}); print(r.output); "
            "assert r.exit_code == 0, r.exit_code; assert 'torch' not in sys.modules, 'torch'")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_results, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_events_become_rows_by_operator_with_the_delegate_overhead_apart():
    events = [
        ("Transpose (ND, X32) #1", True, "", [0.010, 0.020, 0.010]),
        ("Convolution (NHWC, F32) IGEMM #1", True, "", [0.5, 0.3, 0.3]),
        ("Convolution (NHWC, F32) IGEMM #2", True, "", [0.2, 0.2, 0.1]),
        ("DELEGATE_CALL", False, "", [1.0, 0.6, 0.6]),
        ("native_call_addmm.out", False, "", [0.05, 0.05, 0.05]),
        ("OPERATOR_CALL", False, "", [0.06, 0.06, 0.06]),
        ("DELEGATE_CALL", False, "VulkanBackend", [0.4, 0.4, 0.5]),  # reports no operators
        ("Method::execute", False, "", [1.6, 1.1, 1.2]),
    ]
    profile = summarize_events(events, "xnnpack")

    by_name = {op["operator"]: op for op in profile["ops"]}
    assert by_name["Convolution (NHWC, F32) IGEMM"] == pytest.approx(
        {"operator": "Convolution (NHWC, F32) IGEMM", "delegate": "xnnpack", "count": 2,
         "total_ms": 0.5, "avg_ms": 0.25})
    assert by_name["addmm.out"]["delegate"] == ""  # ExecuTorch's own kernel
    assert by_name[DELEGATE_OVERHEAD]["total_ms"] == pytest.approx(0.6 - 0.01 - 0.3 - 0.2)
    assert by_name[WHOLE_DELEGATE_CALL]["delegate"] == "VulkanBackend"
    assert "OPERATOR_CALL" not in by_name and "Method::execute" not in by_name
    assert profile["ops"][0]["operator"] == "Convolution (NHWC, F32) IGEMM"  # largest first
    assert profile["ops_total_ms"] == pytest.approx(0.6 + 0.05 + 0.4)
    assert profile["reference_ms"] == pytest.approx(1.2) and profile["iterations"] == 3


@pytest.mark.slow  # profiles stay in the default tier through the parser tests
def test_a_damaged_etdump_is_one_line_not_a_crash(tmp_path):
    damaged = tmp_path / "profile.etdump"
    damaged.write_bytes(b"\x00not an etdump" * 8)
    profile = etdump_profile({"status": "ok", "etdump_path": str(damaged)}, "xnnpack")
    assert "ops" not in profile
    assert profile["unavailable"].startswith("ExecuTorch's Inspector could not read the ETDump")
    assert "\n" not in profile["unavailable"]

    unbuilt = etdump_profile({"status": "unavailable", "reason": "built without ETDump"}, "")
    assert unbuilt["unavailable"] == ("the native runner's profiling pass unavailable: "
                                      "built without ETDump")


# benchmark_model --enable_op_profiling=true, as the tool prints it (profiling_listener.cc and
# TFLite's StatSummarizer), from users' published logs, rows trimmed. A LiteRT build: columns
# padded with spaces, no [start] column, XNNPACK's operators named "Delegate/...", the
# initialization profile first (not the one to read).
LITERT_PROFILE = """\
INFO: Inference timings in us: Init: 32163, First inference: 19834, Warmup (avg): 15997.4, Inference (avg): 15517.6
INFO: Profiling Info for Benchmark Initialization:
============================== Run Order ==============================
                                     [node type]          [first]        [avg ms]            [%]          [cdf%]          [mem KB]        [times called]  [Name]
                         ModifyGraphWithDelegate            6.348           6.348        55.640%         55.640%          7148.000                1       ModifyGraphWithDelegate/0
============================== Summary by node type ==============================
                                     [Node type]          [count]         [avg ms]          [avg %]         [cdf %]       [mem KB]        [times called]
                         ModifyGraphWithDelegate                1            6.348          55.640%         55.640%       7148.000                1

Timings (microseconds): count=1 curr=11409

INFO: Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
                                     [node type]          [first]        [avg ms]            [%]          [cdf%]          [mem KB]        [times called]  [Name]
                                        QUANTIZE            0.199           0.203         1.328%          1.328%             0.000                1       [tfl.quantize]:0
                   Convolution (NHWC, QC8) IGEMM            0.398           0.407         2.658%          3.986%             0.000                1       Delegate/Convolution (NHWC, QC8) IGEMM:0
                  Convolution (NHWC, QC8) DWConv            0.428           0.051         4.317%          8.304%             0.000               13       Delegate/Convolution (NHWC, QC8) DWConv:1
                    TFLite_Detection_PostProcess            3.894           3.653        23.862%         23.862%             0.000                1       [StatefulPartitionedCall:3, StatefulPartitionedCall:2]:266

============================== Top by Computation Time ==============================
                                     [node type]          [first]        [avg ms]            [%]          [cdf%]          [mem KB]        [times called]  [Name]
                    TFLite_Detection_PostProcess            3.894           3.653        23.862%         23.862%             0.000                1       [StatefulPartitionedCall:3, StatefulPartitionedCall:2]:266

Number of nodes executed: 171
============================== Summary by node type ==============================
                                     [Node type]          [count]         [avg ms]          [avg %]         [cdf %]       [mem KB]        [times called]
                  Convolution (NHWC, QC8) DWConv               51            4.460          29.269%         63.630%          0.000               80
                    TFLite_Detection_PostProcess                1            3.653          23.973%         87.603%          0.000                1
                   Convolution (NHWC, QC8) IGEMM                1            0.406           2.664%         95.925%          0.000                1
                                        QUANTIZE                1            0.203           1.332%         97.257%          0.000                1

Timings (microseconds): count=64 first=15808 curr=14892 min=14470 max=17363 avg=15309.2 std=542
Memory (bytes): count=0
171 nodes observed
"""

# A TensorFlow 2.x build on a phone, read from logcat: tab-separated, a [start] column, the
# NNAPI delegate's partitions as single nodes, an average in scientific notation.
TF2_LOGCAT_PROFILE = "\n".join(
    "07-14 13:14:56.521 22838 22838 I tflite  : " + line for line in """\
Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
\t             [node type]\t          [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t     TfLiteNnapiDelegate\t            0.000\t   11.665\t   11.422\t 21.939%\t 21.939%\t     0.000\t        1\t[MobilenetV2/expanded_conv_16/project/add_fold, aspp0/Relu]:71
\t         AVERAGE_POOL_2D\t           11.422\t    0.075\t    0.080\t  0.153%\t 22.092%\t     0.000\t        1\t[AvgPool2D/AvgPool]:61
\t     TfLiteNnapiDelegate\t           11.503\t    0.549\t    0.654\t  1.256%\t 23.348%\t     0.000\t        1\t[image_pooling/Relu]:72
============================== Summary by node type ==============================
\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]
\t     TfLiteNnapiDelegate\t        2\t    12.076\t    99.342%\t    99.342%\t     0.000\t        2
\t         AVERAGE_POOL_2D\t        1\t     0.080\t     0.658%\t   100.000%\t     0.000\t        1
Timings (microseconds): count=50 first=2989660 curr=2912978 min=2727203 max=3189476 avg=1.2156e+04 std=109770""".splitlines())


def test_benchmark_model_op_profile_is_read_from_its_summary():
    profile = parse_op_profile(LITERT_PROFILE)

    ops = {op["operator"]: op for op in profile["ops"]}
    assert list(ops) == ["Convolution (NHWC, QC8) DWConv", "TFLite_Detection_PostProcess",
                         "Convolution (NHWC, QC8) IGEMM", "QUANTIZE"]  # not the init profile's
    dw = ops["Convolution (NHWC, QC8) DWConv"]
    assert (dw["delegate"], dw["count"], dw["total_ms"]) == ("xnnpack", 80, 4.46)
    assert dw["avg_ms"] == pytest.approx(4.46 / 80)
    assert ops["QUANTIZE"]["delegate"] == ""  # TFLite's own kernel
    assert profile["ops_total_ms"] == pytest.approx(4.460 + 3.653 + 0.406 + 0.203)
    assert (profile["iterations"], profile["reference_ms"]) == (64, pytest.approx(15.3092))


def test_benchmark_model_op_profile_from_logcat_with_tabs_and_a_whole_graph_delegate():
    profile = parse_op_profile(TF2_LOGCAT_PROFILE)

    nnapi, pool = profile["ops"]
    assert (nnapi["operator"], nnapi["delegate"], nnapi["count"]) == ("TfLiteNnapiDelegate", "nnapi", 2)
    assert nnapi["avg_ms"] == pytest.approx(6.038)
    assert (pool["operator"], pool["delegate"], pool["total_ms"]) == ("AVERAGE_POOL_2D", "", 0.08)
    assert profile["reference_ms"] == pytest.approx(12.156)


def test_benchmark_model_without_op_profiling_says_so():
    timed_only = LITERT_PROFILE.split("INFO: Profiling Info")[0]
    assert "no 'Operator-wise Profiling Info'" in parse_op_profile(timed_only)["unavailable"]
    no_summary = LITERT_PROFILE.split("Number of nodes executed")[0]
    assert "'Summary by node type'" in parse_op_profile(no_summary)["unavailable"]

    request = RunRequest(model="m", format="tflite", runtime="litert", artifact_path="m.tflite",
                         artifact_sha256="0", input_shape=(1, 3, 8, 8))
    assert profiling_flags(request) == []
    assert profiling_flags(dataclasses.replace(request, profile=True)) == [
        "--enable_op_profiling=true"]


@pytest.mark.slow
def test_an_etdump_written_on_a_phone_is_pulled_back_and_read(tmp_path):
    """The Android half: the native runner's ETDump (made here by the host build, as the
    simulated phone would run it) lies in the phone's trial directory; it crosses the cable
    through adb's sync protocol and is read like the host's."""
    from tests.support.adb_sim import AdbSimServer, SimulatedPhone
    from device_runners.android.adb import AdbLink, adb_client
    from device_runners.android.etdump_profile import etdump_flags, pull_etdump_profile
    from device_runners.contract import RunResult
    from device_runners.native.build import build_native_runner

    pte = _slow_convnet_pte(tmp_path)
    request = RunRequest(model="slow", format="executorch", runtime="executorch",
                         artifact_path=str(pte), artifact_sha256="0" * 64,
                         input_shape=(1, 3, 64, 64), warmup_iterations=1, min_iterations=1,
                         min_duration_s=0.0, backend="xnnpack", profile=True)
    assert etdump_flags(request) == ["--etdump", "../profile.etdump"]
    assert etdump_flags(dataclasses.replace(request, profile=False)) == []
    (tmp_path / "request.json").write_text(request.to_json())
    local_dump = tmp_path / "made.etdump"
    subprocess.run([str(build_native_runner("host")), "--request", str(tmp_path / "request.json"),
                    "--result", str(tmp_path / "result.json"), "--etdump", str(local_dump)],
                   check=True, capture_output=True, timeout=120)
    result = RunResult.from_json((tmp_path / "result.json").read_text())
    workdir = "/data/local/tmp/harness"

    with SimulatedPhone("SIMPROFILE", root=tmp_path / "phone") as phone, \
            AdbSimServer([phone]) as server:
        on_phone = phone.host_path(f"{workdir}/trial/profile.etdump")
        on_phone.parent.mkdir(parents=True, exist_ok=True)
        on_phone.write_bytes(local_dump.read_bytes())
        link = AdbLink(adb_client(server.host, server.port), "SIMPROFILE")
        profile = pull_etdump_profile(link, workdir, result, request)
        assert phone.sync_requests("RECV") == [f"{workdir}/trial/profile.etdump"]

        on_phone.unlink()  # the next trial's script removed it, say
        missing = pull_etdump_profile(link, workdir, result, request)

    assert profile["source"] == "etdump", profile
    assert any(op["operator"] == "Convolution (NHWC, F32) IGEMM" and op["delegate"] == "xnnpack"
               for op in profile["ops"])
    assert "ops" not in missing and missing["unavailable"]


def _slow_convnet_pte(tmp_path):
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from tests.tiny_models import slow_convnet

    model = slow_convnet().eval()
    exported = torch.export.export(model, (torch.randn(slow_convnet.input_shape),))
    program = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    path = tmp_path / "slow.pte"
    path.write_bytes(program.to_executorch().buffer)
    return path
