"""`--runner app` on a phone, end to end: the real adbutils client, the loopback adb server, a
simulated phone whose `pm`, `am` and `dumpsys package` follow Android's (tests/support/adb_sim/shims)
and a stand-in for the benchmark app (tests/support/adb_sim/app_standin.py) that follows the app's file
protocol and measures with host builds. Also: LiteRT's delegates as cells of their own, and what
benchmark_model says a delegate took.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.adb_sim import AdbSimServer, SimulatedPhone, sandbox_unavailable_reason
from tests.support.adb_sim.app_apk import build_standin_apk
from tests.support.paths import TESTS
from device_runners.android.adb import AndroidDeviceError
from device_runners.android.app import parse_runner_choice
from device_runners.android.litert_benchmark import (
    benchmark_model_argv,
    delegate_note,
    parse_benchmark_output,
)
from device_runners.contract import RunRequest
from device_runners.native.build import build_native_runner
from harness.cli import main
from harness.store import Store

SERIAL = "SIMAPP01"
TINY = f"{TESTS / 'tiny_models.py'}:tiny_convnet"
FAST = ["--warmup", "2", "--iterations", "10", "--min-time", "0.1", "--trials", "1"]
needs_sandbox = pytest.mark.needs(sandbox_unavailable_reason())


@pytest.fixture(scope="module")
def native_runner():  # the stand-in app measures ExecuTorch in this host build
    return build_native_runner("host")


@pytest.fixture
def phone(tmp_path):
    with SimulatedPhone(SERIAL, root=tmp_path / "phone") as phone:
        phone.sysfs.set_battery(current_ua=-420_000, voltage_uv=3_910_000, capacity=76)
        phone.set_dumpsys("thermalservice", "Thermal Status: 0\n")
        yield phone


@pytest.fixture
def env(phone, tmp_path, shared_cache):
    with AdbSimServer([phone]) as server:
        yield {"ANDROID_ADB_SERVER_HOST": server.host, "ANDROID_ADB_SERVER_PORT": str(server.port),
               "HARNESS_DB": str(tmp_path / "h.db"), "HARNESS_CACHE": str(shared_cache)}
        assert server.errors == []


def run(env, *extra, formats="executorch,tflite"):
    args = ["run", "--device", SERIAL, "--models", TINY, "--formats", formats,
            "--leaderboard", env["HARNESS_DB"] + ".md", *FAST, *extra]
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def records(env):
    with Store(env["HARNESS_DB"], readonly=True) as store:
        return [r for run in store.runs() for r in store.records(run.id)]


@pytest.mark.slow
@needs_sandbox
def test_the_app_is_installed_and_measures_both_runtimes(env, phone, tmp_path, native_runner):
    apk = build_standin_apk(tmp_path / "app.apk")
    out = run(env, "--runner", "app", "--app-apk", str(apk))
    assert out.exit_code == 0, out.output
    stored = {r.format: r for r in records(env)}
    assert set(stored) == {"executorch", "tflite"}
    for record in stored.values():
        assert record.status == "ok", record.reason
        assert record.device_id == SERIAL and record.stats.n >= 10
        trial = record.trials[0]
        assert trial.context["app"]["version"] == 1 and trial.context["app_process"] > 0
    commands = phone.shell_commands()
    assert sum("pm install -r -t" in c for c in commands) == 1  # installed once, for both cells
    starts = [c for c in commands if "am start -S -W -n org.harnessbench.bench/.BenchActivity "
              "--es harness-request harness/requests/" in c]
    assert len(starts) == 2
    devices = CliRunner().invoke(main, ["devices"], env=env)
    assert "benchmark app v1" in devices.output


@pytest.mark.slow  # the app path; the phone stays in the default tier through test_android_runner
@needs_sandbox
def test_an_older_app_is_upgraded_and_a_current_one_left_alone(env, phone, tmp_path, native_runner):
    old = build_standin_apk(tmp_path / "old.apk", version_code=0)
    phone_apk = phone.host_path("/data/local/tmp/old.apk")
    phone_apk.write_bytes(old.read_bytes())
    from device_runners.android.adb import adb_client

    client = adb_client(env["ANDROID_ADB_SERVER_HOST"], int(env["ANDROID_ADB_SERVER_PORT"]))
    assert "Success" in client.device(SERIAL).shell("pm install -r /data/local/tmp/old.apk")
    assert "benchmark app v0" in CliRunner().invoke(main, ["devices"], env=env).output
    apk = build_standin_apk(tmp_path / "app.apk")
    assert run(env, "--runner", "app", "--app-apk", str(apk), formats="executorch").exit_code == 0
    [record] = records(env)
    assert record.trials[0].context["app"]["installed"] == "benchmark app upgraded from version 0 to 1"
    phone.clear_log()
    assert run(env, "--runner", "executorch=app", "--app-apk", str(apk), formats="executorch").exit_code == 0
    assert not any("pm install" in c for c in phone.shell_commands())


@needs_sandbox
def test_no_app_and_no_apk_is_one_line_before_any_export(env, phone):
    out = run(env, "--runner", "app", "--app-apk", "/nonexistent/app.apk", formats="executorch")
    assert out.exit_code == 1  # the phone's state, not a misspelt option
    [line] = out.output.strip().splitlines()
    assert line.endswith("The benchmark app org.harnessbench.bench cannot be used on SIMAPP01: "
                         "it is not installed, and there is no APK to install: build android_app/ "
                         "(android_app/README.md) or pass --app-apk PATH."), line
    assert records(env) == []  # nothing exported, nothing measured


@pytest.mark.parametrize("text, choice", [
    (None, {"executorch": "native", "litert": "benchmark-model"}),
    ("app", {"executorch": "app", "litert": "app"}),
    ("executorch=app", {"executorch": "app", "litert": "benchmark-model"}),
    ("native,litert=app", {"executorch": "native", "litert": "app"}),
])
def test_runner_choice(text, choice):
    assert parse_runner_choice(text) == choice


@pytest.mark.parametrize("text, line", [
    ("gpu", "--runner 'gpu': give one of app, benchmark-model, native, or RUNTIME=PROGRAM for executorch / litert."),
    ("executorch=benchmark-model", "--runner 'executorch=benchmark-model': executorch runs in native or app, not benchmark-model."),
])
def test_a_wrong_runner_choice_is_one_line(text, line):
    with pytest.raises(AndroidDeviceError) as error:
        parse_runner_choice(text)
    assert str(error.value) == line


# ----------------------------------------------------------------------------------------------
# LiteRT delegates through benchmark_model

GPU_LOG = """\
INFO: STARTING!
INFO: Graph: [/data/local/tmp/harness/artifacts/m.tflite]
INFO: Use gpu: [1]
INFO: Created TensorFlow Lite delegate for GPU.
INFO: GPU delegate created.
VERBOSE: Replacing 58 out of 64 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 2 partitions for the whole graph.
INFO: Initialized OpenCL-based API.
INFO: Created 2 GPU delegate kernels.
INFO: Explicitly applied GPU delegate, and the model graph will be partially executed by the delegate w/ 2 delegate kernels.
INFO: The input model file size (MB): 4.2761
INFO: Initialized session in 842.225ms.
INFO: count=13 first=115098 curr=36666 min=32079 max=115098 avg=40199.8 std=21694
INFO: count=20 first=35688 curr=33419 min=30394 max=42335 avg=35134.9 std=1733
INFO: Inference timings in us: Init: 842225, First inference: 115098, Warmup (avg): 40199.8, Inference (avg): 35134.9
INFO: Overall peak memory footprint (MB) via periodic monitoring: 74.6641
"""


def test_what_a_delegate_took_is_read_from_benchmark_models_words():
    report = parse_benchmark_output(GPU_LOG)
    assert report.ok and report.inference_avg_us == 35134.9
    assert report.delegates == ({"delegate": "GPU", "graph": "partial", "kernels": 2, "nodes": 58,
                                 "total_nodes": 64},)
    assert delegate_note(report, "gpu") == ("the gpu delegate took part of the graph (58 of 64 nodes), "
                                            "2 delegate kernels; the rest ran on the CPU")
    whole = parse_benchmark_output(GPU_LOG.replace(
        "partially executed by the delegate w/ 2 delegate kernels", "completely executed by the delegate"))
    assert whole.delegates[0]["graph"] == "complete" and delegate_note(whole, "gpu") == ""
    none = parse_benchmark_output("INFO: Though NNAPI delegate is explicitly applied, the model graph "
                                  "will not be executed by the delegate.\n")
    assert delegate_note(none, "nnapi") == "the nnapi delegate took none of the graph: this is LiteRT on the CPU"


@pytest.mark.parametrize("backend, flag", [("xnnpack", "--use_xnnpack=true"), ("gpu", "--use_gpu=true"),
                                           ("nnapi", "--use_nnapi=true")])
def test_each_delegate_is_its_benchmark_model_flag(backend, flag):
    request = RunRequest(model="m", format="tflite", runtime="litert", artifact_path="m.tflite",
                         artifact_sha256="0" * 64, input_shape=(1, 3, 8, 8), backend=backend)
    argv = benchmark_model_argv("/bin/benchmark_model", "/g.tflite", request)
    assert flag in argv and sum(a.startswith("--use_") for a in argv) == 1


@pytest.mark.slow  # LiteRT on the phone stays in the default tier through test_android_runner
@needs_sandbox
def test_litert_delegates_are_cells_of_their_own(env, phone, tmp_path):
    # benchmark_model here is a script printing the GPU log above (20 timed runs: a short idle
    # window before the next trial), with the flags it was given on stderr,
    # so the cells, the flags and the stored warning are the harness's, end to end.
    tool = tmp_path / "benchmark_model"
    tool.write_text("#!/system/bin/sh\necho \"$@\" >&2\ncat <<'LOG'\n" + GPU_LOG + "LOG\n")
    tool.chmod(0o755)
    out = run(env, "--benchmark-model", str(tool), "--litert-delegates", "gpu,nnapi", formats="tflite")
    assert out.exit_code in (0, 3), out.output
    stored = {r.format: r for r in records(env)}
    assert set(stored) == {"tflite", "tflite@gpu", "tflite@nnapi"}
    assert any("--use_gpu=true" in c for c in phone.shell_commands())
    assert stored["tflite@gpu"].trials[0].measured_by == "benchmark_model"
    assert any("the gpu delegate took part of the graph (58 of 64 nodes)" in w for w in stored["tflite@gpu"].warnings)
    assert not any("delegate took" in w for w in stored["tflite"].warnings)


@needs_sandbox
def test_a_wrong_delegate_is_one_line_before_any_work(env):
    out = CliRunner().invoke(main, ["run", "--device", SERIAL, "--models", TINY, "--formats", "tflite",
                                    "--litert-delegates", "gpu,tpu"], env=env)
    assert out.exit_code != 0 and "Traceback" not in out.output
    assert "--litert-delegates: tpu is not a LiteRT delegate here; give gpu and/or nnapi" in out.output
    assert not Path(env["HARNESS_DB"]).exists() or not records(env)  # nothing measured


@pytest.mark.slow
@needs_sandbox
def test_a_profiled_cell_on_the_phone_stores_its_operators(env, native_runner):
    # The native runner writes an ETDump on the phone, the harness pulls it back over adb's
    # sync protocol and reads it with ExecuTorch's Inspector.
    slow = f"{TESTS / 'tiny_models.py'}:slow_convnet"
    out = CliRunner().invoke(main, ["run", "--device", SERIAL, "--models", slow, "--formats", "executorch",
                                    "--native-runner", str(native_runner), "--profile", *FAST,
                                    "--leaderboard", env["HARNESS_DB"] + ".md"], env=env, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    [record] = records(env)
    profile = record.result.context["operator_profile"]
    assert profile["source"] == "etdump", profile
    assert any(op["delegate"] == "xnnpack" and op["total_ms"] > 0 for op in profile["ops"])
    shown = CliRunner().invoke(main, ["show", "latest", "--ops"], env=env)
    assert shown.exit_code == 0 and "Convolution" in shown.output, shown.output
