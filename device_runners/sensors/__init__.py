"""Sensors: raw energy, power and temperature readings, and the `energy_samples` layout runners emit.

Runners read sensors with this module and put the raw readings into `RunResult.energy_samples`;
`harness.energy` turns them into joules per inference. Nothing here computes an energy, so every
figure in a report traces back to numbers a sensor printed.

Every reader takes `root` (default "/") and reads `<root>/sys/...`, so tests point it at a
temporary tree. Every parser takes text, so the Android runner reuses it on what `adb shell`
printed (the `*_SHELL` commands below print exactly what the parsers expect). A machine without
a sensor is the common case: finders then return None, readers an empty result.

Energy sources
--------------
rapl     Linux powercap, `/sys/class/powercap/intel-rapl:N[:M]/energy_uj`: cumulative µJ that
         wraps at `max_energy_range_uj`. AMD Zen uses the same `intel-rapl:N` names (Linux 5.11+).
         The `intel-rapl-mmio:N` zones repeat package-N through another interface and are skipped.
         Subzones (core, uncore, dram) are recorded, but only the top-level `package-N` zones are
         summed: core and uncore lie inside the package, and psys contains it.
odpm     Android On-Device Power Monitor (Pixel 6 and later), `/sys/bus/iio/devices/iio:deviceN/`.
         `energy_value` is a `t=<boot time, ms>` line and then one line per channel,
         `CH<n>(T=<ms since the channel started>)[<RAIL_NAME>], <cumulative energy, µWs>`
         (µWs is µJ; the counter is 64-bit and does not wrap). `enabled_rails` lists
         `CH<n>[<RAIL_NAME>]:<subsystem>`. Phones have two such devices (main and sub PMIC);
         rail names are unique across them, and all enabled rails are summed.
battery  `/sys/class/power_supply/battery/{current_now,voltage_now,status}`: instantaneous
         current and voltage, and the charging status word. The kernel ABI says µA and µV with
         current positive while charging, but phones disagree on both, so the values are stored
         as printed and `harness.energy` settles units and sign from magnitude and status.

Layout of `RunResult.energy_samples`: sensors/layout.py. One module per source: rapl.py,
odpm.py, battery.py, thermal.py; sampler.py reads a source on a clock. This package re-exports
what runners use, and picks the best energy source of a machine.
"""

from __future__ import annotations

from pathlib import Path

from device_runners.sensors.battery import (
    BATTERY_SHELL,
    BatteryReading,
    battery_source,
    find_battery,
    parse_battery,
)
from device_runners.sensors.layout import (
    LAYOUT_VERSION,
    EnergyWindow,
    build_energy_samples,
    no_energy_samples,
)
from device_runners.sensors.odpm import (
    ODPM_RAILS_SHELL,
    ODPM_SHELL,
    OdpmReading,
    find_odpm,
    odpm_source,
    parse_odpm,
    parse_odpm_rails,
)
from device_runners.sensors.rapl import find_rapl, read_rapl
from device_runners.sensors.sampler import EnergySampler
from device_runners.sensors.source import EnergySource, Reading, SensorUnavailable
from device_runners.sensors.thermal import (
    ANDROID_THERMAL_STATUS,
    PLAUSIBLE_TEMP_C,
    THERMAL_SHELL,
    THERMALSERVICE_SHELL,
    ThermalReading,
    parse_millicelsius,
    parse_thermal_zones,
    parse_thermalservice,
    read_thermal,
    read_thermal_zones,
)


__all__ = [
    "ANDROID_THERMAL_STATUS",
    "BATTERY_SHELL",
    "BatteryReading",
    "EnergySampler",
    "EnergySource",
    "EnergyWindow",
    "LAYOUT_VERSION",
    "ODPM_RAILS_SHELL",
    "ODPM_SHELL",
    "OdpmReading",
    "PLAUSIBLE_TEMP_C",
    "Reading",
    "SensorUnavailable",
    "THERMALSERVICE_SHELL",
    "THERMAL_SHELL",
    "ThermalReading",
    "battery_source",
    "build_energy_samples",
    "find_battery",
    "find_energy_source",
    "find_odpm",
    "find_rapl",
    "no_energy_samples",
    "odpm_source",
    "parse_battery",
    "parse_millicelsius",
    "parse_odpm",
    "parse_odpm_rails",
    "parse_thermal_zones",
    "parse_thermalservice",
    "read_rapl",
    "read_thermal",
    "read_thermal_zones",
]


def find_energy_source(root: str | Path = "/") -> EnergySource | None:
    """The best energy source under `root`: RAPL, then ODPM, then the battery; None if none.

    Raises SensorUnavailable when a sensor exists but none can be read.
    """
    problems = []
    for find in (find_rapl, find_odpm, find_battery):
        try:
            source = find(root)
        except SensorUnavailable as exc:
            problems.append(str(exc))
            continue
        if source is not None:
            return source
    if problems:
        raise SensorUnavailable(" ".join(problems))
    return None
