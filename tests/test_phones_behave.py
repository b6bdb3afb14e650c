"""Phones as they behave, end to end: `harness run` on simulated phones with a phone's physics
(tests/support/phone_physics): clusters and --cores, the thermal gate against a phone that cools,
a charging phone, --pin-frequencies put back on Ctrl-C, a sustained run against the model's own
figures, and an iPhone whose thermal state and battery follow the model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from device_runners.native.build import build_native_runner
from harness.cli import main
from harness.store import Store
from tests.support.adb_sim import AdbSimServer, SimulatedPhone, sandbox_unavailable_reason
from tests.support.adb_sim.physics import attach_physics
from tests.support.paths import ROOT, TESTS, TINY
from tests.support.wait import wait_until

pytestmark = pytest.mark.needs(sandbox_unavailable_reason())

SERIAL = "SIMPIXEL7"
SLOW = f"{TESTS / 'tiny_models.py'}:slow_convnet"
FAST = ["--warmup", "2", "--iterations", "20", "--min-time", "0.2", "--trials", "1"]
CPUFREQ = "/sys/devices/system/cpu/cpu{}/cpufreq/{}"


@pytest.fixture(scope="module")
def native_runner():
    return build_native_runner("host")


@pytest.fixture
def pixel7(tmp_path):
    """A Pixel 7 whose heat runs 30 times faster than in life, behind a loopback adb server."""
    with SimulatedPhone(SERIAL, root=tmp_path / "phone") as phone, AdbSimServer([phone]) as server:
        physics = attach_physics(phone, "pixel7", seed=1, time_scale=30.0, rooted=True)
        env = {"ANDROID_ADB_SERVER_HOST": server.host, "ANDROID_ADB_SERVER_PORT": str(server.port),
               "HARNESS_DB": str(tmp_path / "h.db")}
        yield phone, physics, env


def run(env, shared_cache, native_runner, *extra, models=SLOW):
    args = ["run", "--device", SERIAL, "--models", models, "--formats", "executorch",
            "--native-runner", str(native_runner), "--thermal-gate", "80", *FAST, *extra]
    return CliRunner().invoke(main, args, env={**env, "HARNESS_CACHE": str(shared_cache)},
                              catch_exceptions=False)


def latest(env):
    with Store(env["HARNESS_DB"], readonly=True) as store:
        [record] = store.records(store.runs()[0].id, samples=True)
    return record


def test_prime_cores_run_faster_than_little_ones_and_each_trial_records_where_and_how(
        pixel7, shared_cache, native_runner):
    """The only default-tier run on a simulated phone with physics: --cores, the health around
    the trial and the cores' peak (the rest of this file is the slow tier's)."""
    phone, physics, env = pixel7
    physics.set_charging(True)  # on the charger: every trial says so
    medians = {}
    for cores in ("prime", "little"):
        out = run(env, shared_cache, native_runner, "--cores", cores)
        assert out.exit_code == 0, out.output
        assert f"{cores} cores" in out.output  # the run's settings line
        assert "measured while charging" in out.output
        record = latest(env)
        medians[cores] = record.stats.median
        context = record.trials[0].context
        assert context["cores"]["asked"] == cores and context["cores"]["clusters"] == [cores]
        expected = [6, 7] if cores == "prime" else [0, 1, 2, 3]
        assert context["cores"]["cpus"] == expected
        assert context["simulated_phone"]["cpus"] == expected[:1]  # one thread, one busy core
        health = context["health"]
        assert health["before"]["battery_pct"] and health["after"]["screen"] == "on"
        assert health["before"]["charging"] and any(w.startswith("measured while charging")
                                                    for w in record.warnings)
        assert set(health["before"]["cores"]) == {str(c) for c in range(8)}
        assert "Cortex-X1" in context["compute_peak"]["source"] if cores == "prime" else \
            "Cortex-A55" in context["compute_peak"]["source"]
    # The model's little core: 234/1024 of a prime one at its top clock.
    assert medians["little"] > 2.5 * medians["prime"], medians
    devices = CliRunner().invoke(main, ["devices"], env=env)
    assert "4 little 1.80 + 2 big 2.35 + 2 prime 2.85 GHz" in devices.output


def test_a_cluster_the_phone_lacks_is_one_line_before_any_work(tmp_path):
    with SimulatedPhone("SIM2CLUSTER", root=tmp_path / "phone", cpu_max_freqs_khz=[1_800_000, 2_400_000]) as phone, \
            AdbSimServer([phone]) as server:
        env = {"ANDROID_ADB_SERVER_HOST": server.host, "ANDROID_ADB_SERVER_PORT": str(server.port),
               "HARNESS_DB": str(tmp_path / "h.db"), "HARNESS_CACHE": str(tmp_path / "cache")}
        out = CliRunner().invoke(main, ["run", "--device", "SIM2CLUSTER", "--models", TINY,
                                        "--cores", "prime"], env=env)
        assert out.exit_code == 2, out.output
        lines = [line for line in out.output.splitlines() if line.strip()]
        assert lines[-1].startswith("Error: --cores prime: SIM2CLUSTER (Pixel 7) has no prime cores")
        assert lines[-1].endswith("use --cores big.")
        assert not (tmp_path / "cache").exists()  # nothing exported


@pytest.mark.slow
def test_the_thermal_gate_waits_for_the_modelled_phone_to_cool(
        pixel7, shared_cache, native_runner):
    phone, physics, env = pixel7
    start = time.monotonic()
    physics.log({"work": "heater", "pid": 0, "cpus": [4, 5, 6, 7]})  # a game left running
    wait_until(lambda: physics.model.skin_temp_c(physics.now()) > 41.0, 60, what="the phone to heat")
    physics.log({"done": "heater"})
    out = run(env, shared_cache, native_runner, "--thermal-gate", "36", "--thermal-timeout", "120",
              "--cores", "big")
    assert out.exit_code == 0, out.output
    trial = latest(env).trials[0]
    gate = trial.context["thermal_gate"]
    assert gate["waited_s"] > 1.0 and not gate["timed_out"]
    # Hot when the run began; cooled below the gate when the trial did.
    assert physics.model.die_temp_c(start + 1.0) > 36.0
    assert max(trial.context["health"]["before"]["thermal"]["temps_c"].values()) < 36.0


@pytest.mark.slow
def test_pinned_frequencies_are_put_back_when_the_run_is_interrupted(pixel7, shared_cache, native_runner, tmp_path):
    phone, physics, env = pixel7
    before = {(cpu, f): phone.sysfs.read(CPUFREQ.format(cpu, f)) for cpu in range(8)
              for f in ("scaling_governor", "scaling_min_freq", "scaling_max_freq")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "--device", SERIAL, "--models", SLOW,
         "--formats", "executorch", "--native-runner", str(native_runner), "--thermal-gate", "80",
         "--warmup", "1", "--min-time", "30", "--trials", "1", "--pin-frequencies"],
        env={**os.environ, **env, "HARNESS_CACHE": str(shared_cache), "PYTHONPATH": str(ROOT)},
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    pinned = lambda: phone.sysfs.read(CPUFREQ.format(7, "scaling_max_freq")).strip() == "2252000"  # noqa: E731
    try:
        wait_until(lambda: proc.poll() is None and pinned() and any(
            "harness_runner" in c for c in phone.shell_commands()), 300, what="a pinned trial")
        assert phone.sysfs.read(CPUFREQ.format(7, "scaling_governor")).strip() == "performance"
        physics.now()
        assert physics.model.freq_khz(time.monotonic(), 7) <= 2_252_000  # the model heard the pin
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    after = {key: phone.sysfs.read(CPUFREQ.format(*key)) for key in before}
    assert after == before
    assert not phone.host_path("/data/local/tmp/harness/pinned-frequencies").exists()
    pins = [json.loads(line) for line in physics.inputs.read_text().splitlines() if '"pin"' in line]
    assert {p["max_khz"] for p in pins if p["pin"] == 7} >= {2_252_000, 2_850_000}


@pytest.mark.slow
def test_a_sustained_run_finds_the_model_s_throttle_and_steady_state(pixel7, shared_cache, native_runner, tmp_path):
    phone, physics, env = pixel7
    out = run(env, shared_cache, native_runner, "--sustained", "12s", "--cores", "prime")
    assert out.exit_code == 0, out.output
    assert "sustained 12 s: first throttle at" in out.output and "keeps 0." in out.output, out.output
    record = latest(env)
    s = record.result.context["sustained"]
    assert len(s["windows"]) == 20 and s["first_throttle_s"] is not None
    # The model's own: when its first throttling step began, counted from the timed loop.
    start = record.result.context["health_series_start_s"]
    steps = [(t, step) for t, step in zip(physics.model.times, physics.model.steps) if t >= start]
    truth = next(t for t, step in steps if step > 0) - start
    tick = 12.0 / 200 if 12.0 / 200 > 0.25 else 0.25
    assert abs(s["first_throttle_s"] - truth) <= 2 * tick + 0.3, (s["first_throttle_s"], truth)
    assert 0.5 < s["steady_to_burst"] < 0.97
    assert s["energy_burst_j"] is not None and s["energy_steady_j"] is not None
    shown = CliRunner().invoke(main, ["show", "latest", "--db", env["HARNESS_DB"]])
    assert "from s  to s" in shown.output and "light" in shown.output
    site = CliRunner().invoke(main, ["site", "--out", str(tmp_path / "site"), "--db", env["HARNESS_DB"]])
    assert site.exit_code == 0, site.output
    page = next((tmp_path / "site" / "models").glob("*slow_convnet*.html")).read_text()
    assert "Sustained: latency and temperature over the run" in page and page.count("<svg") >= 3


@pytest.mark.slow
def test_an_iphone_s_thermal_state_and_battery_follow_its_model(tmp_path, shared_cache):
    from tests.support.ios_sim import IosSim

    udid = "00008101-000A1B2C3D4E5F60"
    with IosSim(tmp_path / "ios") as sim:
        sim.add_phone(udid, product_type="iPhone13,2", name="Test iPhone 12", physics="iphone12",
                      physics_time_scale=60.0)
        sim.physics_log(udid, work="heater", pid=0, cpus=[4, 5])  # hot from the start
        sim.physics_log(udid, charging=True)
        time.sleep(3.0)  # three modelled minutes of both big cores busy
        env = {"HARNESS_DB": str(tmp_path / "h.db"), "HARNESS_CACHE": str(shared_cache)}
        out = CliRunner().invoke(main, [
            "run", "--device", "iphone12", "--models", TINY, "--formats", "executorch",
            "--ios-transport", "pymobiledevice3", "--thermal-gate", "80", "--thermal-timeout", "1",
            *FAST], env=env, catch_exceptions=False)
        assert out.exit_code == 0, out.output
        with Store(tmp_path / "h.db", readonly=True) as store:
            [record] = store.records(store.runs()[0].id)
        context = record.result.context
        assert context["health"]["before"]["thermal"]["state"] in ("fair", "serious", "critical")
        assert context["health"]["before"]["charging"]
        assert any("thermal state was" in w for w in record.warnings)
        assert any(w.startswith("measured while charging") for w in record.warnings)
        assert context["simulated_phone"]["profile"] == "iphone12"
