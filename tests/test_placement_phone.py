"""Where every operator ran, on the simulated phone (tests/support/adb_sim): one profiled run of
tests/tiny_models.py:fallback_convnet over the real adb protocol gives a map for each runtime:
ExecuTorch's from the ETDump the native runner wrote on the phone and the harness pulled back
over adb, LiteRT's from benchmark_model's op profiling (a stand-in script that prints the tool's
real format for this model, tests/test_profiles.py holding that format to real logs), and the
overlays place the phone's times on the model's graph.

Slow: exports, the native runner and a profiled run on the phone (about 60 s). The default tier
keeps the component with tests/test_placement.py.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from device_runners.native.build import build_native_runner
from harness.cli import main
from harness.placement.model_explorer import check_node_data
from harness.store import Store
from tests.support import adb_sim
from tests.support.paths import TESTS

SERIAL = "SIMPLACE1"
MODEL = f"{TESTS / 'tiny_models.py'}:fallback_convnet"
FAST = ["--trials", "1", "--warmup", "2", "--iterations", "10", "--min-time", "0.1"]

pytestmark = [pytest.mark.slow, pytest.mark.needs(adb_sim.sandbox_unavailable_reason())]

# benchmark_model as a script: its timings, the XNNPACK delegate's "Replacing" line, and with
# --enable_op_profiling=true the op profile of fallback_convnet's .tflite: XNNPACK's two
# partitions as nodes 6 and 7 (after the model's six operators) and node 2, CUMSUM, left to
# TFLite's own kernels between them (tab-separated, as TensorFlow 2.x builds print it).
FAKE_BENCHMARK_MODEL = """\
#!/system/bin/sh
graph=""; profile=0
for arg in "$@"; do case $arg in --graph=*) graph=${arg#--graph=} ;; --enable_op_profiling=true) profile=1 ;; esac; done
if [ ! -f "$graph" ]; then echo "ERROR: Could not open '$graph'."; exit 1; fi
sleep 0.2
cat <<'EOF'
INFO: Graph: [$graph]
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: Replacing 5 out of 6 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 2 partitions for the whole graph.
INFO: count=3 first=900 curr=400 min=400 max=900 avg=566.7 std=235
INFO: count=20 first=410 curr=400 min=390 max=430 avg=402.5 std=9 p5=392 median=401 p95=425
INFO: Inference timings in us: Init: 2210, First inference: 900, Warmup (avg): 566.7, Inference (avg): 402.5
EOF
if [ $profile = 1 ]; then
printf 'INFO: Operator-wise Profiling Info for Regular Benchmark Runs:\\n'
printf '============================== Run Order ==============================\\n'
printf '\\t[node type]\\t[start]\\t[first]\\t[avg ms]\\t[%%]\\t[cdf%%]\\t[mem KB]\\t[times called]\\t[Name]\\n'
printf '\\tTfLiteXNNPackDelegate\\t0.000\\t0.130\\t0.120\\t30.000%%\\t30.000%%\\t0.000\\t1\\t[conv0]:6\\n'
printf '\\tCUMSUM\\t0.120\\t0.210\\t0.200\\t50.000%%\\t80.000%%\\t0.000\\t1\\t[cumsum2]:2\\n'
printf '\\tTfLiteXNNPackDelegate\\t0.320\\t0.090\\t0.080\\t20.000%%\\t100.000%%\\t0.000\\t1\\t[logits]:7\\n'
printf '============================== Summary by node type ==============================\\n'
printf '\\t[Node type]\\t[count]\\t[avg ms]\\t[avg %%]\\t[cdf %%]\\t[mem KB]\\t[times called]\\n'
printf '\\tCUMSUM\\t1\\t0.200\\t50.000%%\\t50.000%%\\t0.000\\t1\\n'
printf '\\tTfLiteXNNPackDelegate\\t2\\t0.200\\t50.000%%\\t100.000%%\\t0.000\\t2\\n'
printf 'Timings (microseconds): count=10 first=420 curr=400 min=395 max=430 avg=405 std=10\\n'
fi
"""


@pytest.fixture(scope="module")
def phone_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("placement-phone")
    (fake := root / "benchmark_model").write_text(FAKE_BENCHMARK_MODEL)
    fake.chmod(0o755)
    argv = ["run", "--device", SERIAL, "--models", MODEL, "--formats", "executorch,tflite",
            "--native-runner", str(build_native_runner("host")), "--benchmark-model", str(fake),
            "--profile", "--leaderboard", str(root / "board.md"), *FAST]
    with adb_sim.SimulatedPhone(SERIAL, root=root / "phone") as phone, \
            adb_sim.AdbSimServer([phone]) as server:
        phone.sysfs.set_battery(current_ua=-420_000, voltage_uv=3_910_000, capacity=76)
        env = {"ANDROID_ADB_SERVER_HOST": server.host, "ANDROID_ADB_SERVER_PORT": str(server.port),
               "HARNESS_DB": str(root / "h.db"), "HARNESS_CACHE": str(root / "cache")}
        out = CliRunner().invoke(main, argv, env=env, catch_exceptions=False)
        pulled = phone.sync_requests("RECV")
        assert server.errors == []
    assert out.exit_code == 0, out.output
    with Store(root / "h.db", readonly=True) as store:
        records = {r.format: r for r in store.records(store.runs()[0].id)}
    return {"root": root, "records": records, "pulled": pulled, "env": env}


def test_an_etdump_pulled_back_over_adb_gives_a_map(phone_run):
    assert any(path.endswith("/profile.etdump") for path in phone_run["pulled"])
    placement = phone_run["records"]["executorch"].result.context["placement"]
    assert placement["sources"] == ["etdump", "export"]
    [cumsum] = [r for r in placement["rows"] if r["kind"] == "cumsum"]
    assert (cumsum["unit"], cumsum["delegated"]) == ("cpu", False) and cumsum["ms"] > 0
    assert any(r["unit"] == "xnnpack" and r["kind"] == "convolution" for r in placement["rows"])


def test_an_op_profiled_litert_cell_gives_a_map(phone_run):
    record = phone_run["records"]["tflite"]
    placement = record.result.context["placement"]
    assert placement["sources"][:2] == ["benchmark_model", "benchmark_model delegate lines"]
    assert placement["ops"] == {"delegated": 5, "cpu": 1, "total": 6, "source": "benchmark_model"}
    by_operator = {r["operator"]: r for r in placement["rows"]}
    assert by_operator["CUMSUM"] == {"operator": "CUMSUM", "kind": "cumsum", "unit": "cpu",
                                     "delegated": False, "count": 1, "ms": 0.2, "share": 0.5}
    assert by_operator["TfLiteXNNPackDelegate"]["unit"] == "xnnpack"
    assert placement["units"]["xnnpack"]["share"] == pytest.approx(0.5)


def test_the_phone_s_times_reach_the_graph(phone_run, tmp_path):
    out = tmp_path / "overlays"
    shown = CliRunner().invoke(main, ["show", "latest", "--model-explorer", str(out)], env=phone_run["env"])
    assert shown.exit_code == 0, shown.output
    latency = out / "tiny_models_fallback_convnet.tflite.latency.json"
    assert check_node_data(latency) is None
    assert json.loads(latency.read_text())["main"]["results"] == {"2": {"value": 0.2}}
    marks = json.loads((out / "tiny_models_fallback_convnet.tflite.placement.json").read_text())
    assert {k: v["value"] for k, v in marks["main"]["results"].items()} == {
        "0": 1, "1": 1, "2": 0, "3": 1, "4": 1, "5": 1}
    assert "TfLiteXNNPackDelegate partition 0.2000 ms" in (out / "overlays.txt").read_text()
