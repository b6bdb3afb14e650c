"""Temperatures and thermal states: Linux thermal zones, and Android's thermal service.

Every reader takes `root` (default "/") so tests point it at a temporary tree; every parser
takes text, so the Android runner reuses it on what `adb shell` printed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

# Commands for `adb shell` whose output the parsers below read.
THERMAL_SHELL = (
    "for z in /sys/class/thermal/thermal_zone*; do "
    'echo "$z $(cat $z/type) $(cat $z/temp)"; done 2>/dev/null'
)
THERMALSERVICE_SHELL = "dumpsys thermalservice"

# Temperatures outside this range (°C) come from absent or disabled sensors, which print values
# such as -273000 or 2^31-1 instead of failing.
PLAUSIBLE_TEMP_C = (-40.0, 150.0)

# Android's PowerManager.THERMAL_STATUS_* constants, in order from 0.
ANDROID_THERMAL_STATUS = (
    "none", "light", "moderate", "severe", "critical", "emergency", "shutdown"
)


@dataclass(frozen=True)
class ThermalReading:
    """The thermal state at one moment: the device's own word and every zone's temperature."""

    state: str = "unknown"  # Android: none, light, ... shutdown; iOS: nominal, fair, ...
    temps_c: dict[str, float] = field(default_factory=dict)

    @property
    def max_temp_c(self) -> float | None:
        return max(self.temps_c.values()) if self.temps_c else None

    def to_dict(self) -> dict:
        return {"state": self.state, "temps_c": dict(self.temps_c)}

    @classmethod
    def from_dict(cls, data: dict) -> "ThermalReading":
        return cls(data.get("state", "unknown"), dict(data.get("temps_c", {})))


def parse_millicelsius(text: str) -> float | None:
    """A thermal zone's `temp` (millidegrees Celsius) in °C; None if unreadable or implausible."""
    try:
        celsius = int(text.strip()) / 1000
    except ValueError:
        return None
    low, high = PLAUSIBLE_TEMP_C
    return celsius if low <= celsius <= high else None


def _zone_temps(rows: Sequence[tuple[str, str, str]]) -> dict[str, float]:
    """{zone type: °C} from (zone directory, type, temp text) rows; a repeated type gets @zone."""
    temps: dict[str, float] = {}
    for zone, kind, temp_text in rows:
        celsius = parse_millicelsius(temp_text)
        if celsius is None:
            continue
        key = kind or zone
        if key in temps:
            key = f"{kind}@{zone}"
        temps[key] = celsius
    return temps


def _zone_number(path: Path) -> int:
    digits = path.name.removeprefix("thermal_zone")
    return int(digits) if digits.isdigit() else -1


def read_thermal_zones(root: str | Path = "/") -> dict[str, float]:
    """{zone type: °C} for every readable thermal zone under `root`; {} where there are none."""
    rows = []
    zones = (Path(root) / "sys/class/thermal").glob("thermal_zone*")
    for zone in sorted(zones, key=_zone_number):
        try:
            kind, temp = (zone / "type").read_text().strip(), (zone / "temp").read_text()
            rows.append((zone.name, kind, temp))
        except OSError:  # disabled zones fail to read (EINVAL, ENODATA)
            continue
    return _zone_temps(rows)


def parse_thermal_zones(text: str) -> dict[str, float]:
    """Parse what `THERMAL_SHELL` prints: one `<zone path> <type> <millidegrees>` line per zone."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            rows.append((Path(parts[0]).name, " ".join(parts[1:-1]), parts[-1]))
    return _zone_temps(rows)


_THERMAL_STATUS = re.compile(r"^\s*Thermal Status:\s*(\d+)", re.MULTILINE)
_HAL_TEMPERATURE = re.compile(r"Temperature\{mValue=([^,]+), mType=[^,]*, mName=([^,]+),")


def parse_thermalservice(text: str) -> ThermalReading:
    """Parse `dumpsys thermalservice` (Android 10+): the status word and the HAL's temperatures."""
    match = _THERMAL_STATUS.search(text)
    state = "unknown"
    if match and int(match.group(1)) < len(ANDROID_THERMAL_STATUS):
        state = ANDROID_THERMAL_STATUS[int(match.group(1))]
    temps: dict[str, float] = {}
    low, high = PLAUSIBLE_TEMP_C
    # "Current temperatures from HAL" comes after "Cached temperatures", so it wins.
    for value, name in _HAL_TEMPERATURE.findall(text):
        try:
            celsius = float(value)
        except ValueError:
            continue
        if math.isfinite(celsius) and low <= celsius <= high:
            temps[name] = celsius
    return ThermalReading(state, temps)


def read_thermal(root: str | Path = "/") -> ThermalReading:
    """This machine's thermal reading. Linux has no state word, so the state is "unknown"."""
    return ThermalReading("unknown", read_thermal_zones(root))
