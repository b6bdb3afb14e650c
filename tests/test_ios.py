"""iPhones, end to end, through both transports, against stand-ins for Xcode's devicectl and
xcodebuild and for pymobiledevice3's command line (tests/support/ios_sim): the real harness, the real
transports and parsers, a stand-in app that follows the Swift app's file protocol and measures
with this machine's runtimes, so the stored samples are real.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.support.paths import TINY
from device_runners.ios import catalog, devicectl, pmd3, xctest
from device_runners.ios import energy as ios_energy
from device_runners.ios.transport import BatteryReading
from harness.energy import energy_from_samples
from harness.cli import main
from harness.store import Store
from tests.support.ios_sim import IosSim

UDID = "00008101-000A1B2C3D4E5F60"
FAST = ["--warmup", "2", "--iterations", "10", "--min-time", "0.3", "--trials", "1"]


@pytest.fixture
def sim(tmp_path):
    with IosSim(tmp_path / "ios") as sim:
        sim.add_phone(UDID, product_type="iPhone13,2", name="Test iPhone 12")
        yield sim


def harness_run(tmp_path, shared_cache, transport, *extra, models=TINY, formats="executorch,tflite"):
    env = {"HARNESS_DB": str(tmp_path / "h.db"), "HARNESS_CACHE": str(shared_cache)}
    args = ["run", "--device", "iphone12", "--models", models, "--formats", formats,
            "--ios-transport", transport, "--leaderboard", str(tmp_path / "board.md"), *FAST, *extra]
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def records(tmp_path) -> dict[str, object]:
    with Store(tmp_path / "h.db", readonly=True) as store:
        return {r.format: r for r in store.records(store.runs()[0].id, samples=True)}


# ----------------------------------------------------------------------------------------------
# The catalog and the parsers, on the tools' own output shapes


def test_the_catalog_knows_iphones_by_name_and_product_type():
    cat = catalog.load_catalog()
    iphone12 = cat.lookup("iPhone 12")
    assert iphone12.product_types == ("iPhone13,2",) and iphone12.soc.name == "Apple A14 Bionic"
    assert cat.lookup("iphone-12") is iphone12 and cat.for_product_type("iPhone13,2") is iphone12
    assert iphone12.soc.core_count == 6 and iphone12.soc.neural_engine_cores == 16
    for generation in ("iphone11", "iphone12", "iphone13", "iphone14", "iphone15", "iphone16"):
        assert cat.lookup(generation) is not None, generation
    assert cat.lookup("iphone99") is None


DEVICECTL_LIST = {
    "info": {"arguments": ["devicectl", "list", "devices"], "commandType": "devicectl.list.devices",
             "environment": {"TERM": "xterm"}, "jsonVersion": 2, "outcome": "success", "version": "397.21"},
    "result": {"devices": [
        {"capabilities": [], "connectionProperties": {"pairingState": "paired", "transportType": "wired",
                                                      "tunnelState": "connected"},
         "deviceProperties": {"bootState": "booted", "developerModeStatus": "enabled", "name": "Ann's iPhone",
                              "osVersionNumber": "17.5.1", "ddiServicesAvailable": True},
         "hardwareProperties": {"deviceType": "iPhone", "marketingName": "iPhone 12", "platform": "iOS",
                                "productType": "iPhone13,2", "reality": "physical", "udid": UDID},
         "identifier": "4C0D1E2F-0000-4000-8000-000000000001"},
        {"connectionProperties": {"pairingState": "unpaired", "transportType": "localNetwork"},
         "deviceProperties": {"name": "Bob's iPhone", "osVersionNumber": "18.1",
                              "developerModeStatus": "disabled"},
         "hardwareProperties": {"platform": "iOS", "productType": "iPhone16,1", "reality": "physical",
                                "udid": "00008130-0002"}, "identifier": "X"},
        {"deviceProperties": {"name": "iPad"}, "hardwareProperties": {"platform": "iOS", "reality": "virtual",
                                                                      "udid": "SIM"}}]}}


def test_devicectl_json_is_read_with_each_phone_s_problem():
    ann, bob = devicectl.parse_devices(DEVICECTL_LIST)  # the simulator is left out
    assert (ann.udid, ann.product_type, ann.os_version, ann.connection, ann.problem) == (
        UDID, "iPhone13,2", "17.5.1", "usb", "")
    assert bob.connection == "wifi" and "is not paired with this computer" in bob.problem
    code, text = devicectl.error_text({"error": {"code": 7000, "domain": "com.apple.dt.CoreDeviceError",
                                                 "userInfo": {"NSLocalizedDescription": {"string": "gone"}}}})
    assert (code, text) == (7000, "gone")


def test_pymobiledevice3_listing_and_battery_lines_are_read():
    listed = [{"BuildVersion": "21F90", "ConnectionType": "USB", "DeviceClass": "iPhone",
               "DeviceName": "Ann's iPhone", "Identifier": UDID, "ProductType": "iPhone13,2",
               "ProductVersion": "17.5.1", "UniqueDeviceID": UDID},
              {"DeviceClass": "Watch", "Identifier": "W"}, "00008130-0002"]
    ann, refused = pmd3.parse_devices(listed)
    assert (ann.udid, ann.product_type, ann.problem) == (UDID, "iPhone13,2", "")
    assert "not paired" in refused.problem
    reading = pmd3.parse_battery_line('{"InstantAmperage": 65186, "Temperature": 2950, '
                                      '"Voltage": 3910, "IsCharging": false, "CurrentCapacity": 80}', 12.5)
    assert (reading.current_ma, reading.voltage_mv, reading.charging, reading.temperature_c) == (
        -350, 3910, False, 29.5)  # the unsigned 16-bit serialisation read as its signed value
    assert pmd3.parse_battery_line("Traceback (most recent call last):", 1.0) is None


def _trace(seconds, current_ma, voltage_mv=3900.0, charging=False):
    return [BatteryReading(float(t), current_ma, voltage_mv, charging) for t in seconds]


def test_battery_energy_of_a_known_trace():
    """Idle 310 mA, busy 920 mA at 3.9 V from t = 5 s: the model adds 0.61 A x 3.9 V = 2.379 W
    over the timed loop, 10.0 s from t = 10.5 (cut between readings, not at them): 23.79 J over
    1000 iterations, 23.79 mJ each. The loop's edges are interpolated: the warm-up before
    t = 10.5 is not counted, and the draw falling back after it is cut at t = 20.5."""
    readings = _trace(range(0, 5), -310.0) + _trace(range(5, 21), -920.0) + _trace(range(21, 26), -310.0)
    samples = ios_energy.energy_samples(readings, launched_at=4.5, finished_at=25.5,
                                        timed_start=10.5, timed_end=20.5, iterations=1000)
    energy = energy_from_samples(samples)
    assert energy.source == "ios"
    assert energy.idle_power_w == pytest.approx(0.310 * 3.9)
    # 10 s at 920 mA but the last half second, where the draw falls linearly to 615 mA
    # (half way from 920 to 310 mA between t = 20 and 21): 0.5 s x 152.5 mA less on average.
    expected_j = (0.610 * 3.9 * 10.0 - 0.5 * 0.1525 * 3.9) / 1000
    assert energy.joules_per_inference == pytest.approx(expected_j, rel=1e-9)


@pytest.mark.parametrize("start, end, says", [
    (10.0, 20.0, "energy unavailable while charging"),  # charging: no figure at all
    (90.0, 100.5, "clock is about 75 s ahead of this computer's"),  # the loop after the result
    (10.2, 12.4, "held 2 of the battery monitor's readings"),  # too short for 1 Hz readings
])
def test_battery_energy_is_refused_when_it_would_mislead(start, end, says):
    charging = says.startswith("energy unavailable")
    readings = _trace(range(0, 26), -920.0, charging=charging)
    samples = ios_energy.energy_samples(readings, 4.5, 25.5, start, end, 1000)
    assert samples["note"].startswith(says) if charging else says in samples["note"]
    assert energy_from_samples(samples).joules_per_inference is None


XCRESULT_METRICS = [{"testIdentifier": "HarnessBenchTests/test_m_executorch()", "testIdentifierURL": "test://x",
                     "testRuns": [{"device": {"deviceId": UDID, "deviceName": "iPhone"},
                                   "testPlanConfiguration": {"configurationId": "1", "configurationName": "Test Scheme Action"},
                                   "metrics": [{"displayName": "Clock Monotonic Time",
                                                "identifier": "com.apple.dt.XCTMetric_Clock.time.monotonic",
                                                "unitOfMeasurement": "s", "measurements": [0.0124, 0.0120, 0.0121],
                                                "polarity": "prefers smaller", "baselineAverage": None},
                                               {"displayName": "Memory Peak Physical", "identifier": "x",
                                                "unitOfMeasurement": "kB", "measurements": []}]}]}]
XCODEBUILD_LOG = ("/Users/ci/BenchTests.swift:30: Test Case '-[HarnessBenchTests.HarnessBenchTests test_m_executorch]' "
                  "measured [Clock Monotonic Time, s] average: 0.012, relative standard deviation: 1.650%, "
                  "values: [0.012400, 0.012000, 0.012100], performanceMetricID:com.apple.dt.XCTMetric_Clock.time.monotonic, "
                  "baselineName: \"\", baselineAverage: , polarity: prefers smaller, maxPercentRegression: 10.000%, "
                  "maxPercentRelativeStandardDeviation: 10.000%, maxRegression: 0.100, maxStandardDeviation: 0.100\n")


def test_xctest_values_come_from_the_result_bundle_or_the_log_never_the_rounded_average():
    from_bundle = xctest.find_test(xctest.parse_metrics(XCRESULT_METRICS),
                                   "HarnessBenchTests/HarnessBenchTests/test_m_executorch")
    assert from_bundle["Clock Monotonic Time"].values == (0.0124, 0.0120, 0.0121)
    assert "Memory Peak Physical" not in from_bundle  # no measurements: nothing to report
    from_log = xctest.find_test(xctest.parse_log(XCODEBUILD_LOG),
                                "HarnessBenchTests/HarnessBenchTests/test_m_executorch")
    assert from_log["Clock Monotonic Time"].values == (0.0124, 0.0120, 0.0121)  # not 0.012 x 3


# ----------------------------------------------------------------------------------------------
# End to end, through each transport


@pytest.mark.parametrize("transport", ["devicectl", pytest.param("pymobiledevice3", marks=pytest.mark.slow)])
def test_harness_run_on_an_iphone_stores_real_samples(sim, tmp_path, shared_cache, transport):
    # --min-time 1: the timed loop holds several of the stand-in's battery readings (0.2 s apart)
    out = harness_run(tmp_path, shared_cache, transport, "--min-time", "1")
    assert out.exit_code == 0, out.output
    cells = records(tmp_path)
    assert sorted(cells) == ["executorch", "tflite"]
    for name, record in cells.items():
        assert record.status == "ok", (name, record.reason)
        result = record.result
        assert (result.device.device_id, result.device.product_model, result.device.soc) == (
            UDID, "iPhone 12", "Apple A14 Bionic")
        assert result.device.kind == "ios" and result.device.os_version == "iOS 17.5.1"
        assert record.stats.n >= 10 and len(result.samples_ms) == record.stats.n
        assert record.trials[0].context["ios"]["transport"] == transport
        assert record.trials[0].context["device_numerics"]["passed"]  # checked on the "phone"
        energy = record.result.energy
        if transport == "pymobiledevice3":  # battery readings around the timed loop
            assert energy.source == "ios" and energy.avg_power_w > 0 and energy.joules_per_inference > 0
        else:
            assert energy.source == "none"
    pushed = [c for c in sim.commands() if "push" in c or "to" in c[:4]]
    assert pushed  # artifacts, inputs and requests went into the app's Documents
    assert (sim.documents(UDID) / "harness" / "artifacts").is_dir()
    assert "iPhone 12" in (tmp_path / "board.md").read_text()


def test_harness_devices_lists_the_iphone(sim):
    out = CliRunner().invoke(main, ["devices"], catch_exceptions=False)
    assert out.exit_code == 0
    assert UDID in out.output and "iPhone 12" in out.output


@pytest.mark.slow  # iPhone energy stays in the default tier through test_harness_run_on_an_iphone_stores_real_samples
def test_a_charging_iphone_gives_no_energy_and_says_how_to_get_it(sim, tmp_path, shared_cache):
    sim.set(UDID, charging=True)
    out = harness_run(tmp_path, shared_cache, "pymobiledevice3", formats="executorch")
    assert out.exit_code == 0, out.output
    [record] = records(tmp_path).values()
    assert record.result.energy.source == "none"
    assert record.trials[0].energy_samples["note"].startswith("energy unavailable while charging")


@pytest.mark.parametrize("transport", ["devicectl", "pymobiledevice3"])
@pytest.mark.parametrize("fault, line", [
    (dict(locked=True), "is locked: unlock it"),
    (dict(installed=[]), "The benchmark app (org.harnessbench.HarnessBench) is not installed"),
    (dict(tunnel=False), "The developer tunnel to"),
    (dict(developer_mode=False), "Developer Mode is off"),
])
def test_a_phone_that_cannot_be_used_gives_each_cell_its_line(sim, tmp_path, shared_cache, transport, fault, line):
    sim.set(UDID, **fault)
    out = harness_run(tmp_path, shared_cache, transport)
    assert out.exit_code == 4, out.output  # nothing measured, every cell a row
    cells = records(tmp_path)
    assert sorted(cells) == ["executorch", "tflite"]
    for record in cells.values():
        assert record.status == "run_failed" and line in record.reason, record.reason
        assert "\n" not in record.reason


def test_an_unpaired_iphone_is_named_with_what_to_do(sim, tmp_path, shared_cache):
    sim.set(UDID, paired=False)
    out = harness_run(tmp_path, shared_cache, "devicectl", formats="executorch")
    assert out.exit_code == 4, out.output  # nothing measured
    [record] = records(tmp_path).values()
    assert record.status == "run_failed" and "is not paired with this computer" in record.reason


def test_xctest_mode_reads_every_iteration(sim, tmp_path, shared_cache):
    xctestrun = tmp_path / "Bench.xctestrun"  # the stand-in xcodebuild reads it as JSON
    xctestrun.write_text(json.dumps({
        "HarnessBenchTests/HarnessBenchTests/test_tiny_models_tiny_convnet_executorch": [0.0124, 0.0120, 0.0121]}))
    out = harness_run(tmp_path, shared_cache, "devicectl", "--xctestrun", str(xctestrun),
                      formats="executorch")
    assert out.exit_code == 0, out.output
    [record] = records(tmp_path).values()
    assert record.status == "ok", record.reason
    assert record.result.samples_ms == pytest.approx((12.4, 12.0, 12.1))
    context = record.trials[0].context
    assert context["xctest"]["source"] == "xcresulttool"
    assert context["not_measured"]["load_ms"] == "XCTest reports no load time"


@pytest.mark.slow  # the paper check stays in the default tier through test_results_io and test_site
def test_repvit_on_an_iphone_12_stands_beside_its_paper_latency(sim, tmp_path, shared_cache):
    """The claim the project checks: RepViT on an iPhone 12. The leaderboard's iPhone 12 table
    holds the measured cell and, beside it, the paper's latency with the device it names.
    (test_android_runner exports repvit_m0_9 to ExecuTorch first, into the same cache.)"""
    out = harness_run(tmp_path, shared_cache, "devicectl", models="repvit_m0_9", formats="executorch")
    assert out.exit_code == 0, out.output
    [record] = records(tmp_path).values()
    assert record.status == "ok", record.reason
    assert record.trials[0].context["device_numerics"]["passed"]
    board = (tmp_path / "board.md").read_text()
    table = board[board.index(f"## iPhone 12 ({UDID}) / executorch"):]
    row = next(line for line in table.splitlines() if line.startswith("| repvit_m0_9 |"))
    assert "ms on iPhone 12" in row  # the published figure, with the device it was measured on


@pytest.mark.parametrize("transport, hottest", [pytest.param("pymobiledevice3", 41.0, marks=pytest.mark.slow),
                                               ("devicectl", None)])
def test_the_thermal_gate_reads_the_battery_where_the_transport_can(sim, tmp_path, shared_cache,
                                                                    transport, hottest):
    """iOS gives apps only a thermal word; pymobiledevice3 adds the battery's temperature, and
    a phone at 41 °C does not pass a 35 °C gate (it gives up at once here: --thermal-timeout 0)."""
    sim.set(UDID, battery_temp_c=41.0)
    out = harness_run(tmp_path, shared_cache, transport, "--thermal-timeout", "0", formats="executorch")
    assert out.exit_code == 0, out.output
    [record] = records(tmp_path).values()
    gate = record.trials[0].context["thermal_gate"]
    assert gate["state"] == "nominal" and gate["hottest_c"] == hottest
    assert gate["timed_out"] is (hottest is not None)


@pytest.mark.slow  # iPhone runs stay in the default tier through test_harness_run_on_an_iphone_stores_real_samples
def test_litert_s_core_ml_delegate_is_its_own_cell_where_the_app_has_it(sim, tmp_path, shared_cache):
    """The app lists LiteRT's Core ML delegate: tflite is measured as built and through the
    delegate (tflite@coreml); the stand-in app cannot create the delegate, so that cell says so."""
    sim.set(UDID, litert_delegates=["coreml"])
    out = harness_run(tmp_path, shared_cache, "devicectl", formats="tflite")
    assert out.exit_code == 3, out.output  # one cell measured, one not
    cells = records(tmp_path)
    assert cells["tflite"].status == "ok"
    assert cells["tflite@coreml"].status == "unsupported"
    assert "Core ML delegate" in cells["tflite@coreml"].reason


# ----------------------------------------------------------------------------------------------
# What devicectl's JSON says: the install, the launched process, the kind of device


def test_the_install_is_confirmed_by_devicectl_s_record(sim, tmp_path, shared_cache):
    """--ios-app installs the app; devicectl's JSON names the bundle it installed and where, and
    an app whose bundle is another is refused with one line instead of trials that never start."""
    sim.set(UDID, installed=[])
    app = tmp_path / "HarnessBench.app"
    app.mkdir()
    out = harness_run(tmp_path, shared_cache, "devicectl", "--ios-app", str(app), formats="executorch")
    assert out.exit_code == 0, out.output
    [record] = records(tmp_path).values()
    notes = record.trials[0].context["ios"]["notes"]
    assert any(n.startswith("installed HarnessBench.app at file:///private/var/containers/") for n in notes)
    other = tmp_path / "Other.app"
    other.mkdir()
    (other / "bundle_id.txt").write_text("com.example.Other")
    sim.set(UDID, installed=[])
    out = harness_run(tmp_path / "2", shared_cache, "devicectl", "--ios-app", str(other),
                      formats="executorch")
    [record] = records(tmp_path / "2").values()
    assert record.status == "run_failed"
    assert "reported com.example.Other installed, not org.harnessbench.HarnessBench" in record.reason


@pytest.mark.slow  # the launch path stays in the default tier through test_harness_run_on_an_iphone_stores_real_samples
def test_an_app_that_dies_at_launch_fails_at_once_not_at_the_timeout(sim, tmp_path, shared_cache):
    """devicectl reports the launched pid; when that process is gone and no result came, the
    wait ends there, naming the pid, instead of polling until the trial's timeout."""
    import time

    sim.set(UDID, app_crashes=True)
    started = time.monotonic()
    out = harness_run(tmp_path, shared_cache, "devicectl", "--timeout", "120", formats="executorch")
    assert out.exit_code == 4, out.output
    [record] = records(tmp_path).values()
    assert record.status == "run_failed" and "exited before finishing" in record.reason
    assert "(pid " in record.reason
    assert time.monotonic() - started < 60  # the status wait alone would have taken 60 s
    ran = [c for c in sim.commands("xcrun") if c[1:4] == ["device", "info", "processes"]]
    assert ran  # it asked devicectl which processes run


@pytest.mark.slow  # the catalog stays in the default tier through test_the_catalog_knows_iphones
def test_an_ipad_is_refused_in_one_line_unless_asked_for(sim, tmp_path, shared_cache):
    ipad = "00008020-0011223344556677"
    sim.add_phone(ipad, product_type="iPad11,2", name="Test iPad", device_type="iPad",
                  marketing_name="iPad mini (5th generation)")
    env = {"HARNESS_DB": str(tmp_path / "h.db"), "HARNESS_CACHE": str(shared_cache)}
    args = ["run", "--device", ipad, "--models", TINY, "--formats", "executorch",
            "--ios-transport", "devicectl", "--leaderboard", str(tmp_path / "board.md"), *FAST]
    out = CliRunner().invoke(main, args, env=env)
    assert out.exit_code != 0
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and "is an iPad, not an iPhone" in lines[0]
    assert "--ios-allow-non-phone" in lines[0]
    out = CliRunner().invoke(main, args + ["--ios-allow-non-phone"], env=env, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    [record] = records(tmp_path).values()
    assert record.result.device.product_model == "iPad mini (5th generation)"  # not "iPad11,2"
