"""ODPM: Android's On-Device Power Monitor (Pixel 6 and later), read locally or over adb.

`/sys/bus/iio/devices/iio:deviceN/energy_value` is a `t=<boot time, ms>` line and then one line
per channel, `CH<n>(T=<ms since the channel started>)[<RAIL_NAME>], <cumulative energy, µWs>`
(µWs is µJ; the counter is 64-bit and does not wrap). `enabled_rails` lists
`CH<n>[<RAIL_NAME>]:<subsystem>`. Phones have two such devices (main and sub PMIC); rail names
are unique across them, and all enabled rails are summed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, NamedTuple

from device_runners.sensors.source import EnergySource, Reading, SensorUnavailable

# Commands for `adb shell` whose output the parsers below read.
ODPM_SHELL = "cat /sys/bus/iio/devices/iio:device*/energy_value"
ODPM_RAILS_SHELL = "cat /sys/bus/iio/devices/iio:device*/enabled_rails"


class OdpmReading(NamedTuple):
    t_ms: int  # the device's boot clock when the first block was printed
    energy_uws: dict[str, int]  # rail name -> cumulative energy in µWs (= µJ)


_ODPM_LINE = re.compile(r"^CH(\d+)\(T=(\d+)\)\[([^\]]+)\],\s*(\d+)$")
_ODPM_RAIL = re.compile(r"^CH(\d+)\[([^\]]+)\]:(.*)$")


def parse_odpm(text: str) -> OdpmReading:
    """Parse `energy_value` text; several devices' files may be concatenated (as `ODPM_SHELL` does).

        t=123456
        CH0(T=123456)[S4M_VDD_CPUCL0], 18391718660
    """
    t_ms: int | None = None
    energy: dict[str, int] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("t="):
            if t_ms is None:
                t_ms = int(line[2:])
            continue
        match = _ODPM_LINE.match(line)
        if match is None:
            raise ValueError(f"Not an ODPM energy_value line: {line!r}")
        rail = match.group(3)
        if rail in energy:
            raise ValueError(f"ODPM rail {rail!r} appears twice.")
        energy[rail] = int(match.group(4))
    if t_ms is None or not energy:
        raise ValueError("ODPM energy_value text has no 't=' line or no channels.")
    return OdpmReading(t_ms, energy)


def parse_odpm_rails(text: str) -> dict[str, str]:
    """Parse `enabled_rails` text into {rail name: subsystem}, e.g. {"S4M_VDD_CPUCL0": "CPU"}."""
    rails = {}
    for line in text.splitlines():
        match = _ODPM_RAIL.match(line.strip())
        if match:
            rails[match.group(2)] = match.group(3).strip()
    return rails


def odpm_source(read_text: Callable[[], str], rails_text: str = "") -> EnergySource:
    """An ODPM source over any transport: `read_text` returns `energy_value` text (e.g. over adb).

    With `rails_text` (the `enabled_rails` text) only enabled rails are kept, as Android's
    power-stats HAL does; otherwise every channel printed is.
    """
    first = parse_odpm(read_text())
    enabled = parse_odpm_rails(rails_text)
    channels = tuple(r for r in first.energy_uws if not enabled or r in enabled)
    if not channels:
        raise SensorUnavailable("ODPM lists no enabled rail; nothing to measure.")

    def read() -> Reading:
        reading = parse_odpm(read_text())
        return Reading(tuple(float(reading.energy_uws[r]) for r in channels), reading.t_ms / 1000)

    return EnergySource(
        name="odpm",
        kind="counter",
        unit="uJ",
        channels=channels,
        summed=channels,
        read=read,
        counter_ranges=None,
    )


def find_odpm(root: str | Path = "/") -> EnergySource | None:
    """The ODPM devices under `root` as one source, or None where there are none."""
    devices = sorted((Path(root) / "sys/bus/iio/devices").glob("iio:device*"))
    energy_files = [d / "energy_value" for d in devices if (d / "energy_value").is_file()]
    if not energy_files:
        return None
    try:
        rails_text = "".join(
            (d / "enabled_rails").read_text() for d in devices if (d / "enabled_rails").is_file()
        )
        return odpm_source(lambda: "".join(f.read_text() for f in energy_files), rails_text)
    except PermissionError:
        raise SensorUnavailable(
            f"ODPM files under {energy_files[0].parent.parent} are not readable by this user."
        ) from None
