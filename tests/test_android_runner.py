"""`harness run` on a phone, end to end, against the loopback adb server (tests/support/adb_sim).

The real adbutils client talks to `AdbSimServer` over TCP, found through
ANDROID_ADB_SERVER_HOST/PORT as adb itself would be. The simulated phone runs the host build of
the native runner where a phone runs the Android one, reads its ODPM rails, battery and thermal
service from files the test controls, and logs every shell command and file transfer, so the
tests can check what crossed the cable.

Energy tolerance: ODPM counters are exact functions of the boot-clock millisecond printed with
them (adb_sim/sysfs.py), so the stored energy must equal the rails' energy over the stored
windows to float rounding (relative 1e-9). The windows themselves can be off by the simulator's
refresh tick (20 ms), which the window checks allow for.
"""

from __future__ import annotations

import math
import sqlite3
import threading

import pytest
from click.testing import CliRunner

from tests.support.adb_sim import AdbSimServer, SimulatedPhone, sandbox_unavailable_reason
from tests.support.wait import wait_until
from tests.support.paths import TESTS, TINY
from device_runners.native.build import build_native_runner
from harness.cli import main
from harness.store import RUN_COMPLETE, Store

pytestmark = pytest.mark.needs(sandbox_unavailable_reason())

SERIAL = "SIMPIXEL7"
SLOW = f"{TESTS / 'tiny_models.py'}:slow_convnet"
WORKDIR = "/data/local/tmp/harness"
RUNNER_ON_PHONE = f"{WORKDIR}/bin/harness_runner"
FAST = ["--warmup", "2", "--iterations", "20", "--min-time", "0.3", "--trials", "1"]
SIM_TICK_S = 0.02  # how stale a simulated sysfs file can be (SimulatedPhone's default tick_s)
# Rails with a power that changes over time, so no window's energy is a round number.
RAILS = {"S4M_VDD_CPUCL0": 0.35, "S3M_VDD_CPUCL2": lambda t: 1.2 + 0.4 * math.sin(3 * t)}


@pytest.fixture(scope="session")
def native_runner():
    return build_native_runner("host")  # incremental: a no-op when nothing changed


class ThermalService:
    """`dumpsys thermalservice` answers with whatever status and temperature the test sets."""

    def __init__(self, phone: SimulatedPhone, status: int = 0, temp_c: float = 38.5):
        self.status, self.temp_c = status, temp_c
        phone.set_dumpsys("thermalservice", lambda t: self.text())

    def text(self) -> str:
        return (f"IsStatusOverride: false\nThermal Status: {self.status}\n"
                "Current temperatures from HAL:\n"
                f"\tTemperature{{mValue={self.temp_c}, mType=0, mName=BIG, mStatus={self.status}}}\n"
                "\tTemperature{mValue=31.0, mType=3, mName=VIRTUAL-SKIN, mStatus=0}\n")


@pytest.fixture
def phone(tmp_path):
    with SimulatedPhone(SERIAL, root=tmp_path / "phone") as phone:
        phone.sysfs.set_battery(current_ua=-420_000, voltage_uv=3_910_000, capacity=76)
        yield phone


@pytest.fixture
def odpm(phone):
    return phone.sysfs.add_odpm(RAILS)


@pytest.fixture
def thermal(phone):
    return ThermalService(phone)


@pytest.fixture
def server(phone):
    with AdbSimServer([phone]) as server:
        yield server
    assert server.errors == []


@pytest.fixture
def harness_env(server, thermal, tmp_path, shared_cache):
    return {
        "ANDROID_ADB_SERVER_HOST": server.host,
        "ANDROID_ADB_SERVER_PORT": str(server.port),
        "HARNESS_DB": str(tmp_path / "harness.db"),
        "HARNESS_CACHE": str(shared_cache),  # the tiny models are exported once per session
    }


def harness_run(env, models, native_runner, *extra, formats="executorch"):
    args = ["run", "--device", SERIAL, "--models", models, "--formats", formats,
            "--native-runner", str(native_runner), "--leaderboard", env["HARNESS_DB"] + ".md",
            *FAST, *extra]
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def measurement_scripts(phone) -> list[str]:
    return [c for c in phone.shell_commands() if c.startswith(f"cd {WORKDIR} || exit 90")]


def asks_for_the_phone_after(server, seen: int) -> bool:
    """The harness has asked the adb server about the phone since request number `seen`
    (after an unplug: it noticed, and is waiting for it to come back)."""
    return any(SERIAL in r or r.startswith("host:devices") for r in server.requests[seen:])


def window_energy_j(window: dict) -> float:
    return (sum(window["values"][-1]) - sum(window["values"][0])) / 1e6


def window_s(window: dict) -> float:
    return window["t_s"][-1] - window["t_s"][0]


def assert_energy_is_the_rails(record, odpm) -> None:
    """Every stored reading is what the rails' counters read at its printed time, and the stored
    figures are the rails' energy over the stored windows."""
    [trial] = record.trials
    samples = trial.energy_samples
    assert samples["source"] == "odpm" and samples["channels"] == list(RAILS)
    for window in (samples["idle"], samples["active"]):
        for t_s, row in zip(window["t_s"], window["values"]):
            assert row == [odpm.counters[rail].energy_uws(round(t_s * 1000)) for rail in RAILS]
    active, idle = samples["active"], samples["idle"]
    iterations = len(trial.samples_ms)
    assert samples["iterations"] == iterations
    idle_power = window_energy_j(idle) / window_s(idle)
    energy = record.result.energy
    assert energy.source == "odpm"
    assert energy.avg_power_w == pytest.approx(window_energy_j(active) / window_s(active), rel=1e-9)
    assert energy.idle_power_w == pytest.approx(idle_power, rel=1e-9)
    assert energy.joules_per_inference == pytest.approx(
        (window_energy_j(active) - idle_power * window_s(active)) / iterations, rel=1e-9)


def test_a_phone_run_stores_the_rails_energy_waits_for_the_heat_and_pushes_only_once(
    phone, odpm, thermal, harness_env, native_runner
):
    # The phone starts throttled ("moderate") and cools once the gate has polled it 3 times.
    thermal.status = 2
    gate_poll = "dumpsys thermalservice 2>/dev/null"

    def cool_down_later():
        wait_until(lambda: phone.shell_commands().count(gate_poll) >= 3, 120, what="the gate's polls")
        thermal.status = 0

    cooler = threading.Thread(target=cool_down_later, daemon=True)
    cooler.start()
    first = harness_run(harness_env, TINY, native_runner)
    cooler.join(1)
    assert first.exit_code == 0, first.output

    # The runner, the artifact and the check inputs went over the cable once, after a hash check.
    [artifact] = phone.host_path(f"{WORKDIR}/artifacts").iterdir()
    [inputs] = phone.host_path(f"{WORKDIR}/inputs").iterdir()
    assert sorted(phone.sync_requests("SEND")) == [f"{WORKDIR}/artifacts/{artifact.name}",
                                                   RUNNER_ON_PHONE, f"{WORKDIR}/inputs/{inputs.name}"]
    assert artifact.name.endswith("-tiny_models_tiny_convnet.pte")
    log = phone.log
    hash_check = next(i for i, r in enumerate(log) if r.is_shell and r.argument.startswith("sha256sum "))
    assert hash_check < next(i for i, r in enumerate(log) if r.service == "SEND")
    assert len(measurement_scripts(phone)) == 1  # one trial, one shell

    with Store(harness_env["HARNESS_DB"]) as store:
        [run] = store.runs()
        [record] = store.records(run.id, samples=True)
    assert record.status == "ok", record.reason
    [trial] = record.trials
    result = record.result

    # Where and how it ran: the phone's identity, pinned to its fastest core (the simulated
    # phone's second half of CPUs), memory from the runner's /proc/self/status.
    assert result.device.device_id == SERIAL and result.device.kind == "android"
    assert (result.device.product_model, result.device.soc) == ("Pixel 7", "Google Tensor G2")
    assert result.cpu_affinity == (1,)
    assert trial.context["cpu_affinity_effective"] == [1]
    assert trial.context["android"]["fingerprint"].startswith("google/panther/panther:14/")
    assert result.peak_rss_inference_kb > 0 and result.load_ms > 0

    # The thermal gate held the first model back until the status dropped to 0.
    gate = trial.context["thermal_gate"]
    assert gate["waited_s"] >= 1.2 and gate["state"] == "none" and not gate["timed_out"]
    assert result.thermal.waited_s == gate["waited_s"]
    assert (result.thermal.before, result.thermal.after) == ("none", "none")
    assert result.thermal.max_temp_c_before == 38.5 and not result.thermal.throttled

    # Energy: the rails' own, over windows that hold the timed iterations after an idle baseline.
    assert_energy_is_the_rails(record, odpm)
    samples = trial.energy_samples
    active, idle = samples["active"], samples["idle"]
    # The windows: the idle baseline first, then an active window holding every timed iteration.
    timed_s = trial.context["timed_duration_s"]
    assert idle["t_s"][-1] <= active["t_s"][0]
    window = trial.context["energy_window"]
    assert window["idle_planned_s"] == 0.5  # MIN_IDLE_S, as the timed loop is shorter
    # The sampler's first reading may come a little after the idle sleep began on a busy host.
    assert 0.3 < window_s(idle) <= 0.5 + 0.2
    assert window_s(active) >= timed_s - SIM_TICK_S
    assert window["edge_s"] >= 0

    # The second run finds both files on the phone by their hash and pushes nothing.
    phone.clear_log()
    second = harness_run(harness_env, TINY, native_runner)
    assert second.exit_code == 0, second.output
    assert phone.sync_requests("SEND") == []
    assert [c for c in phone.shell_commands() if c.startswith("sha256sum ")]
    with Store(harness_env["HARNESS_DB"]) as store:
        latest = store.runs()[0]
        [again] = store.records(latest.id)
    assert again.status == "ok", again.reason
    assert set(again.trials[0].context["staging"].values()) == {"present"}
    assert again.trials[0].context["thermal_gate"]["waited_s"] < 1.0  # cool from the start
    # Trial files are removed when a run ends; the pushed runner and artifact stay.
    assert not phone.host_path(f"{WORKDIR}/trial").exists()
    assert phone.host_path(RUNNER_ON_PHONE).exists()


@pytest.mark.slow  # a lost adb server stays in the default tier through test_worker_faults
def test_a_phone_unplugged_mid_trial_fails_that_cell_and_the_run_goes_on(
    phone, odpm, server, harness_env, native_runner
):
    before = harness_run(harness_env, TINY, native_runner)
    assert before.exit_code == 0, before.output
    with sqlite3.connect(harness_env["HARNESS_DB"]) as db:
        stored_before = db.execute("SELECT * FROM records ORDER BY id").fetchall()

    phone.clear_log()

    def unplug_during_the_first_trial():
        wait_until(lambda: measurement_scripts(phone), 120, what="the first trial")
        seen = len(server.requests)
        phone.disconnect()
        wait_until(lambda: asks_for_the_phone_after(server, seen), 60, what="the harness to miss the phone")
        phone.reconnect()

    unplugger = threading.Thread(target=unplug_during_the_first_trial, daemon=True)
    unplugger.start()
    out = harness_run(harness_env, f"{TINY},{SLOW}", native_runner, "--reconnect-timeout", "30")
    unplugger.join(5)
    assert out.exit_code == 3, out.output  # some cells not measured (harness.exit_codes)

    with Store(harness_env["HARNESS_DB"]) as store:
        latest, earlier = store.runs()
        records = {r.model: r for r in store.records(latest.id)}
    assert latest.status == RUN_COMPLETE
    unplugged = records["tiny_models_tiny_convnet"]
    assert unplugged.status == "run_failed"
    assert "the phone disconnected during the trial" in unplugged.reason
    assert "came back" in unplugged.reason and "\n" not in unplugged.reason
    after = records["tiny_models_slow_convnet"]
    assert after.status == "ok", after.reason
    assert after.result.energy.source == "odpm" and after.result.energy.avg_power_w > 0
    # The earlier run's rows are exactly as they were.
    with sqlite3.connect(harness_env["HARNESS_DB"]) as db:
        assert db.execute(
            "SELECT * FROM records WHERE run_id = ? ORDER BY id", (earlier.id,)
        ).fetchall() == stored_before


@pytest.mark.slow  # a lost phone; faults stay in the default tier through test_worker_faults and test_faults
def test_a_phone_that_never_comes_back_fails_the_remaining_cells_without_waiting_again(
    phone, harness_env, native_runner
):
    def unplug_for_good():
        wait_until(lambda: measurement_scripts(phone), 120, what="the first trial")
        phone.disconnect()

    unplugger = threading.Thread(target=unplug_for_good, daemon=True)
    unplugger.start()
    out = harness_run(harness_env, f"{TINY},{SLOW}", native_runner, "--reconnect-timeout", "1")
    unplugger.join(5)
    assert out.exit_code == 4, out.output  # nothing measured (harness.exit_codes)
    with Store(harness_env["HARNESS_DB"]) as store:
        [run] = store.runs()
        records = {r.model: r for r in store.records(run.id)}
    assert run.status == RUN_COMPLETE
    assert "it did not come back within 1 s" in records["tiny_models_tiny_convnet"].reason
    # The next cell only looks (the waiting path would say "did not come back within").
    assert records["tiny_models_slow_convnet"].status == "run_failed"
    assert "has not come back" in records["tiny_models_slow_convnet"].reason
    assert len(measurement_scripts(phone)) == 1  # nothing was attempted on the missing phone


def test_a_low_battery_is_refused_before_anything_is_stored(phone, harness_env, native_runner):
    phone.sysfs.set_battery(capacity=9, status="Discharging")
    out = harness_run(harness_env, TINY, native_runner)
    assert out.exit_code == 1
    assert (f"{SERIAL}'s battery is at 9%, below 20%: charge it first, or pass --min-battery 0 "
            "to measure anyway.") in out.output
    with Store(harness_env["HARNESS_DB"]) as store:
        assert store.runs() == []
    assert phone.sync_requests("SEND") == []


# benchmark_model stands in here as a script: it checks its arguments as the real tool does,
# writes what it was given and where it was pinned, runs for 0.4 s and prints a log in the
# real format (40 runs averaging 10004.2 us: the 0.4 s it slept).
FAKE_BENCHMARK_MODEL = """\
#!/system/bin/sh
graph=""
for arg in "$@"; do case $arg in --graph=*) graph=${arg#--graph=} ;; esac; done
if [ ! -f "$graph" ]; then echo "ERROR: Could not open '$graph'."; echo "ERROR: Benchmarking failed."; exit 1; fi
{ echo "$@"; grep Cpus_allowed_list /proc/self/status; } > /data/local/tmp/benchmark_model_args.txt
sleep 0.4
cat <<'EOF'
INFO: STARTING!
INFO: Graph: [$graph]
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: The input model file size (MB): 0.0316
INFO: Initialized session in 2.21ms.
INFO: Running benchmark for at least 3 iterations and at least 0 seconds but terminate if exceeding 120 seconds.
INFO: count=3 first=15120 curr=9016 min=9016 max=15120 avg=11050.5 std=2880
INFO: Running benchmark for at least 20 iterations and at least 0.3 seconds but terminate if exceeding 120 seconds.
INFO: count=40 first=10512 curr=9876 min=9701 max=10512 avg=10004.2 std=153 p5=9750 median=9990 p95=10400
INFO: Inference timings in us: Init: 2210, First inference: 15120, Warmup (avg): 11050.5, Inference (avg): 10004.2
INFO: Memory footprint delta from the start of the tool (MB): init=1.5 overall=3.25
INFO: Overall peak memory footprint (MB) via periodic monitoring: 21.5
EOF
"""


def test_litert_runs_in_benchmark_model_pinned_with_its_output_parsed(
    phone, odpm, harness_env, native_runner, tmp_path
):
    fake = tmp_path / "benchmark_model"
    fake.write_text(FAKE_BENCHMARK_MODEL)
    fake.chmod(0o755)
    out = harness_run(harness_env, TINY, native_runner, "--benchmark-model", str(fake),
                      formats="tflite")
    assert out.exit_code == 0, out.output
    assert f"{WORKDIR}/bin/benchmark_model" in phone.sync_requests("SEND")
    args, pinned = phone.host_path("/data/local/tmp/benchmark_model_args.txt").read_text().splitlines()
    assert "--num_threads=1" in args and "--warmup_runs=3" in args and "--num_runs=20" in args
    assert pinned.split()[-1] == "1"  # taskset to the fastest core

    with Store(harness_env["HARNESS_DB"]) as store:
        [record] = store.records(store.runs()[0].id, samples=True)
    assert record.status == "ok", record.reason
    result = record.result
    assert result.samples_ms == pytest.approx((10.0042,))  # the mean of its 40 timed runs
    assert (result.load_ms, result.first_inference_ms) == pytest.approx((2.21, 15.12))
    assert result.peak_rss_inference_kb == round(21.5 * 1024)
    tool = record.trials[0].context["benchmark_model"]
    assert tool["timed"]["count"] == 40 and tool["timed"]["percentiles"]["median"] == 9990
    assert result.energy.source == "odpm" and result.energy.joules_per_inference is not None
    assert record.trials[0].energy_samples["iterations"] == 40


def test_without_odpm_the_battery_gives_the_energy_and_usb_charging_is_flagged(
    phone, harness_env, native_runner
):
    # A Pixel whose rail counters do not read, on a USB cable: the kernel's sign (positive while
    # charging) and µA/µV, a current that moves with time as a fuel gauge's does.
    phone.sysfs.set_battery(current_ua=lambda t: 150_000 + int(20_000 * math.sin(7 * t)),
                            voltage_uv=4_180_000, capacity=64, status="Charging")
    out = harness_run(harness_env, TINY, native_runner)
    assert out.exit_code == 0, out.output
    with Store(harness_env["HARNESS_DB"]) as store:
        [record] = store.records(store.runs()[0].id)
    assert record.status == "ok", record.reason
    [trial] = record.trials
    samples = trial.energy_samples
    assert samples["source"] == "battery" and samples["channels"] == ["current", "voltage"]
    assert set(samples["active"]["status"]) == {"Charging"}
    assert all(row[1] == 4_180_000 for row in samples["active"]["values"])
    energy = record.result.energy
    assert energy.source == "battery" and energy.avg_power_w is not None
    assert any("external power" in w and "Unplug USB" in w for w in energy.warnings)
    [note] = trial.context["android"]["notes"]
    assert "Google Pixel 7 has ODPM rail counters, but they did not read" in note


@pytest.mark.slow
def test_every_executorch_format_runs_in_the_native_runner_and_apple_delegates_do_not(
    phone, odpm, harness_env, native_runner
):
    """The runner dispatches on the runtime: fp32, int8 and portable .pte files all run on the
    phone; a .pte lowered to Core ML is refused by the phone's runner with its reason."""
    formats = "executorch,executorch-int8,executorch-portable,executorch-coreml"
    out = harness_run(harness_env, TINY, native_runner, formats=formats)
    assert out.exit_code == 3, out.output  # the Core ML cell is not measured
    with Store(harness_env["HARNESS_DB"]) as store:
        records = {r.format: r for r in store.records(store.runs()[0].id)}
    for name, backend in (("executorch", "xnnpack"), ("executorch-int8", "xnnpack"),
                          ("executorch-portable", "portable")):
        record = records[name]
        assert record.status == "ok", (name, record.reason)
        assert (record.result.runtime, record.result.backend) == ("executorch", backend)
        assert record.result.device.device_id == SERIAL and record.stats.n >= 20
        assert record.trials[0].context["runner"] == "harness_runner"
        assert record.result.energy.source == "odpm"
    coreml = records["executorch-coreml"]
    assert coreml.status == "unsupported"
    assert coreml.reason == "the coreml delegate runs on Apple platforms only"
    # Three artifacts, the runner and the check inputs crossed the cable, each once; nothing
    # for Core ML.
    pushed = phone.sync_requests("SEND")
    assert sorted(pushed) == sorted(set(pushed)) and len(pushed) == 5 and RUNNER_ON_PHONE in pushed
    # Each .pte ran the check inputs on the phone, and its outputs agree with eager PyTorch.
    for name in ("executorch", "executorch-int8", "executorch-portable"):
        device_check = records[name].trials[0].context["device_numerics"]
        assert device_check["passed"] and device_check["inputs"] == 3, (name, device_check)
    assert len(measurement_scripts(phone)) == 3


def test_cleanup_removes_everything_pushed(phone, harness_env, native_runner):
    out = harness_run(harness_env, TINY, native_runner, "--cleanup")
    assert out.exit_code == 0, out.output
    assert phone.sync_requests("SEND")  # it did push
    assert not phone.host_path(WORKDIR).exists()


@pytest.mark.slow
def test_repvit_on_a_phone(phone, odpm, harness_env, native_runner):
    """A zoo model, not a toy: RepViT-M0.9 exported to ExecuTorch and measured on the phone."""
    out = harness_run(harness_env, "repvit_m0_9", native_runner, "--iterations", "5",
                      "--min-time", "0.2")
    assert out.exit_code == 0, out.output
    with Store(harness_env["HARNESS_DB"]) as store:
        [record] = store.records(store.runs()[0].id, samples=True)
    assert record.status == "ok", record.reason
    assert record.stats.n >= 5 and record.result.peak_rss_inference_kb > 0
    assert record.artifact["numerics"]["cosine"] > 0.999
    assert_energy_is_the_rails(record, odpm)
