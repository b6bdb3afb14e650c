"""Sensor readers and parsers on sysfs trees built in tmp_path, and the shell commands on them."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.support.wait import wait_until

from device_runners import sensors
from device_runners.contract import DeviceInfo, RunResult
from harness.energy import energy_from_samples

# Two ODPM devices in the format the Pixel kernel driver prints (values made up, rails real).
ODPM_MAIN = """t=5321987
CH0(T=5321987)[S10M_VDD_TPU], 3130871461
CH1(T=5321987)[VSYS_PWR_MODEM], 4786355930
CH2(T=5321987)[S4M_VDD_CPUCL0], 18391718660
"""
ODPM_SUB = """t=5321989
CH0(T=5321989)[VSYS_PWR_DISPLAY], 23457117180
CH1(T=5321989)[S2S_VDD_G3D], 6034981223
"""
RAILS_MAIN = "CH0[S10M_VDD_TPU]:TPU\nCH1[VSYS_PWR_MODEM]:Modem\nCH2[S4M_VDD_CPUCL0]:CPU(LITTLE)\n"
RAILS_SUB = "CH0[VSYS_PWR_DISPLAY]:Display\n"  # the GPU rail is not enabled

THERMALSERVICE = """IsStatusOverride: false
Thermal Status: 2
Cached temperatures:
\tTemperature{mValue=31.5, mType=0, mName=AP, mStatus=0}
HAL Ready: true
Current temperatures from HAL:
\tTemperature{mValue=41.25, mType=0, mName=AP, mStatus=2}
\tTemperature{mValue=28.0, mType=2, mName=BAT, mStatus=0}
\tTemperature{mValue=NaN, mType=3, mName=SKIN, mStatus=0}
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_rapl(root: Path, zones: dict[str, tuple[str, int]], max_range: int = 262143328850):
    for directory, (name, energy) in zones.items():
        zone = root / "sys/class/powercap" / directory
        write(zone / "name", name + "\n")
        write(zone / "energy_uj", f"{energy}\n")
        write(zone / "max_energy_range_uj", f"{max_range}\n")


def run_shell(command: str, root: Path) -> str:
    """Run an `adb shell` command locally against the tree under `root`."""
    local = command.replace("/sys/", f"{root}/sys/")
    return subprocess.run(["sh", "-c", local], capture_output=True, text=True, check=True).stdout


# ----------------------------------------------------------------------------------------------
# RAPL


def test_rapl_tree_gives_every_zone_and_sums_only_packages(tmp_path):
    make_rapl(tmp_path, {
        "intel-rapl:0": ("package-0", 1000),
        "intel-rapl:0:0": ("core", 400),
        "intel-rapl:0:1": ("dram", 70),
        "intel-rapl:1": ("package-1", 2000),
        "intel-rapl:2": ("psys", 5000),
        "intel-rapl-mmio:0": ("package-0", 999),  # the same package through MMIO: skipped
    }, max_range=65536)
    source = sensors.find_rapl(tmp_path)
    assert source.channels == ("package-0", "package-0/core", "package-0/dram", "package-1", "psys")
    assert source.summed == ("package-0", "package-1")
    assert source.counter_ranges == (65536,) * 5
    assert (source.kind, source.unit) == ("counter", "uJ")
    assert source.read().values == (1000.0, 400.0, 70.0, 2000.0, 5000.0)
    assert sensors.read_rapl(tmp_path)["package-0/core"] == 400


def test_rapl_zones_sort_by_number_not_text(tmp_path):
    make_rapl(tmp_path, {f"intel-rapl:{i}": (f"package-{i}", i) for i in (0, 2, 10)})
    assert sensors.find_rapl(tmp_path).channels == ("package-0", "package-2", "package-10")


def test_rapl_without_packages_sums_the_top_level_zones(tmp_path):
    make_rapl(tmp_path, {"intel-rapl:0": ("psys", 10), "intel-rapl:0:0": ("core", 5)})
    assert sensors.find_rapl(tmp_path).summed == ("psys",)


def test_no_sensor_anywhere_is_none_not_an_error(tmp_path):
    assert sensors.find_energy_source(tmp_path) is None
    assert sensors.read_rapl(tmp_path) == {}
    assert sensors.read_thermal(tmp_path) == sensors.ThermalReading()
    # This machine has no RAPL, battery or thermal zone; the real root must not raise either.
    found = sensors.find_energy_source("/")
    assert found is None or isinstance(found, sensors.EnergySource)


# ----------------------------------------------------------------------------------------------
# ODPM


def test_parse_odpm_reads_concatenated_devices():
    reading = sensors.parse_odpm(ODPM_MAIN + ODPM_SUB)
    assert reading.t_ms == 5321987
    assert reading.energy_uws == {
        "S10M_VDD_TPU": 3130871461,
        "VSYS_PWR_MODEM": 4786355930,
        "S4M_VDD_CPUCL0": 18391718660,
        "VSYS_PWR_DISPLAY": 23457117180,
        "S2S_VDD_G3D": 6034981223,
    }


def test_parse_odpm_rejects_what_it_does_not_understand():
    with pytest.raises(ValueError, match="Not an ODPM"):
        sensors.parse_odpm("t=1\nCH0[S4M_VDD_CPUCL0], 12\n")  # lpf_power's format, not energy
    with pytest.raises(ValueError, match="twice"):
        sensors.parse_odpm(ODPM_MAIN + ODPM_MAIN)
    with pytest.raises(ValueError, match="no 't='"):
        sensors.parse_odpm("")


def test_parse_odpm_rails():
    assert sensors.parse_odpm_rails(RAILS_MAIN)["S4M_VDD_CPUCL0"] == "CPU(LITTLE)"


def make_odpm(root: Path) -> None:
    devices = root / "sys/bus/iio/devices"
    write(devices / "iio:device0/energy_value", ODPM_MAIN)
    write(devices / "iio:device0/enabled_rails", RAILS_MAIN)
    write(devices / "iio:device1/energy_value", ODPM_SUB)
    write(devices / "iio:device1/enabled_rails", RAILS_SUB)
    write(devices / "iio:device2/name", "lsm6dso\n")  # an IMU: no energy_value


def test_odpm_tree_keeps_enabled_rails_and_uses_the_device_clock(tmp_path):
    make_odpm(tmp_path)
    source = sensors.find_odpm(tmp_path)
    assert source.channels == (
        "S10M_VDD_TPU", "VSYS_PWR_MODEM", "S4M_VDD_CPUCL0", "VSYS_PWR_DISPLAY"
    )
    assert source.summed == source.channels and source.counter_ranges is None
    reading = source.read()
    assert reading.t_s == pytest.approx(5321.987)
    assert reading.values[3] == 23457117180.0
    assert sensors.find_energy_source(tmp_path).name == "odpm"


def test_odpm_shell_output_parses_like_the_files(tmp_path):
    make_odpm(tmp_path)
    over_shell = sensors.odpm_source(
        lambda: run_shell(sensors.ODPM_SHELL, tmp_path),
        run_shell(sensors.ODPM_RAILS_SHELL, tmp_path),
    )
    assert over_shell.read() == sensors.find_odpm(tmp_path).read()


# ----------------------------------------------------------------------------------------------
# Battery


def make_battery(root: Path, name="battery", current="-412000", status="Discharging"):
    supply = root / "sys/class/power_supply" / name
    write(supply / "current_now", current + "\n")
    write(supply / "voltage_now", "3987000\n")
    write(supply / "status", status + "\n")
    write(supply / "type", "Battery\n")


def test_battery_tree_and_shell_read_the_same(tmp_path):
    make_battery(tmp_path)
    write(tmp_path / "sys/class/power_supply/usb/type", "USB\n")
    source = sensors.find_battery(tmp_path)
    assert (source.kind, source.channels) == ("battery", ("current", "voltage"))
    assert source.read() == sensors.Reading((-412000.0, 3987000.0), None, "Discharging")
    shell = sensors.parse_battery(run_shell(sensors.BATTERY_SHELL, tmp_path))
    assert shell == sensors.BatteryReading(-412000, 3987000, "Discharging")


def test_laptop_battery_is_found_by_its_type(tmp_path):
    make_battery(tmp_path, name="BAT0", current="1500000", status="Not charging")
    assert sensors.find_battery(tmp_path).read().status == "Not charging"


def test_parse_battery_needs_three_lines():
    with pytest.raises(ValueError, match="Expected"):
        sensors.parse_battery("-412000\n3987000\n")


# ----------------------------------------------------------------------------------------------
# Thermal


def make_zone(root: Path, number: int, kind: str, temp: str | None) -> None:
    zone = root / f"sys/class/thermal/thermal_zone{number}"
    write(zone / "type", kind + "\n")
    if temp is None:
        (zone / "temp").mkdir()  # reading fails, as a disabled zone's does
    else:
        write(zone / "temp", temp + "\n")


def make_zones(root: Path) -> None:
    make_zone(root, 0, "cpu-thermal", "45500")
    make_zone(root, 1, "battery", "31000")
    make_zone(root, 2, "cpu-thermal", "47250")  # the same type twice
    make_zone(root, 3, "modem", "-273000")  # an absent sensor
    make_zone(root, 10, "gpu-thermal", "52000")
    make_zone(root, 11, "disabled", None)


def test_thermal_zones_tree(tmp_path):
    make_zones(tmp_path)
    assert sensors.read_thermal_zones(tmp_path) == {
        "cpu-thermal": 45.5,
        "battery": 31.0,
        "cpu-thermal@thermal_zone2": 47.25,
        "gpu-thermal": 52.0,
    }
    reading = sensors.read_thermal(tmp_path)
    assert (reading.state, reading.max_temp_c) == ("unknown", 52.0)


def test_thermal_shell_output_parses_like_the_files(tmp_path):
    make_zones(tmp_path)
    shell = sensors.parse_thermal_zones(run_shell(sensors.THERMAL_SHELL, tmp_path))
    assert shell == sensors.read_thermal_zones(tmp_path)


def test_parse_millicelsius():
    assert sensors.parse_millicelsius("36600\n") == 36.6
    assert sensors.parse_millicelsius("-5000") == -5.0
    assert sensors.parse_millicelsius("2147483647") is None
    assert sensors.parse_millicelsius("") is None


def test_parse_thermalservice_takes_the_status_word_and_hal_temperatures():
    reading = sensors.parse_thermalservice(THERMALSERVICE)
    assert reading.state == "moderate"
    assert reading.temps_c == {"AP": 41.25, "BAT": 28.0}  # HAL's value wins, NaN dropped
    assert sensors.ThermalReading.from_dict(reading.to_dict()) == reading


# ----------------------------------------------------------------------------------------------
# Sampling and the energy_samples layout


class RaplWriter:
    """A thread that advances a RAPL counter file as a device drawing `watts` would."""

    def __init__(self, root: Path, watts: float):
        make_rapl(root, {"intel-rapl:0": ("package-0", 0)})
        self.file = root / "sys/class/powercap/intel-rapl:0/energy_uj"
        self.watts = watts
        self.energy_uj = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        last = time.monotonic()
        while not self.stop.wait(0.002):
            now = time.monotonic()
            self.energy_uj += self.watts * (now - last) * 1e6
            last = now
            partial = self.file.with_suffix(".tmp")
            partial.write_text(f"{int(self.energy_uj)}\n")
            os.replace(partial, self.file)  # atomic, so a reader never sees a half-written file

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def test_sampler_window_covers_the_work_and_measures_a_known_draw(tmp_path):
    with RaplWriter(tmp_path, watts=1.0) as writer:
        source = sensors.find_rapl(tmp_path)
        sampler = sensors.EnergySampler(source.read, interval_s=0.02)
        idle = sampler.sample_for(0.3)
        writer.watts = 6.0
        before = time.monotonic()
        sampler.start()
        time.sleep(0.3)  # "the timed iterations"
        active = sampler.stop()
        after = time.monotonic()
    assert len(idle.t_s) >= 6 and list(idle.t_s) == sorted(idle.t_s)
    assert before <= active.t_s[0] and active.t_s[-1] <= after
    assert active.duration_s == pytest.approx(0.3, abs=0.05)
    assert active.status == ()

    samples = sensors.build_energy_samples(source, idle, active, iterations=30, interval_s=0.02)
    result = RunResult(
        model="m", format="executorch", status="ok", device=DeviceInfo("host", "linux"),
        load_ms=1.0, first_inference_ms=1.0, samples_ms=(10.0,) * 30, energy_samples=samples,
    )
    samples = RunResult.from_json(result.to_json()).energy_samples  # survives the contract
    info = energy_from_samples(samples)
    assert info.source == "rapl"
    assert info.idle_power_w == pytest.approx(1.0, rel=0.1)
    assert info.avg_power_w == pytest.approx(6.0, rel=0.1)
    expected = 5.0 * info.duration_s / 30
    assert info.joules_per_inference == pytest.approx(expected, rel=0.1)


def test_sampler_raises_a_read_error_from_its_thread(tmp_path):
    make_rapl(tmp_path, {"intel-rapl:0": ("package-0", 5)})
    source = sensors.find_rapl(tmp_path)
    sampler = sensors.EnergySampler(source.read, interval_s=0.01)
    sampler.start()
    (tmp_path / "sys/class/powercap/intel-rapl:0/energy_uj").unlink()
    wait_until(lambda: sampler.error is not None, 10, poll_s=0.005, what="the sampler's thread to fail")
    with pytest.raises(FileNotFoundError):
        sampler.stop()


def test_sampler_keeps_battery_status(tmp_path):
    make_battery(tmp_path, status="Charging")
    window = sensors.EnergySampler(sensors.find_battery(tmp_path).read, 0.01).sample_for(0.03)
    assert set(window.status) == {"Charging"} and len(window.status) == len(window.t_s)


def test_build_energy_samples_checks_the_row_width(tmp_path):
    make_rapl(tmp_path, {"intel-rapl:0": ("package-0", 5)})
    source = sensors.find_rapl(tmp_path)
    bad = sensors.EnergyWindow(t_s=(0.0, 1.0), values=((1.0, 2.0), (3.0, 4.0)))
    with pytest.raises(ValueError, match="one value per channel"):
        sensors.build_energy_samples(source, None, bad, iterations=1, interval_s=0.1)


def test_no_energy_samples_carries_the_reason():
    samples = sensors.no_energy_samples("RAPL is readable by root only.")
    assert energy_from_samples(samples).warnings == ("RAPL is readable by root only.",)
