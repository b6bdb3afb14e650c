"""The battery's instantaneous current and voltage, read locally or over adb.

`/sys/class/power_supply/battery/{current_now,voltage_now,status}`. The kernel ABI says µA and
µV with current positive while charging, but phones disagree on both, so the values are stored
as printed and `harness.energy` settles units and sign from magnitude and status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

from device_runners.sensors.source import EnergySource, Reading

# The command for `adb shell` whose output `parse_battery` reads.
BATTERY_SHELL = "cd /sys/class/power_supply/battery && cat current_now voltage_now status"


class BatteryReading(NamedTuple):
    current: int  # as printed: µA by the kernel ABI, mA on some phones; sign varies by vendor
    voltage: int  # as printed: µV by the kernel ABI, mV on some phones
    status: str  # Charging, Discharging, Not charging, Full, Unknown


def parse_battery(text: str) -> BatteryReading:
    """Parse the three lines `cat current_now voltage_now status` prints (see `BATTERY_SHELL`)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < 3:
        raise ValueError(f"Expected current_now, voltage_now and status lines, got {text!r}.")
    return BatteryReading(int(lines[0]), int(lines[1]), lines[2])


def battery_source(read_text: Callable[[], str]) -> EnergySource:
    """A battery source over any transport: `read_text` returns what `BATTERY_SHELL` prints."""
    parse_battery(read_text())  # fail now, not in the sampler thread

    def read() -> Reading:
        battery = parse_battery(read_text())
        return Reading((float(battery.current), float(battery.voltage)), status=battery.status)

    return EnergySource(
        name="battery",
        kind="battery",
        unit="sysfs",
        channels=("current", "voltage"),
        summed=("current", "voltage"),
        read=read,
    )


def find_battery(root: str | Path = "/") -> EnergySource | None:
    """The battery under `root` (`power_supply/battery`, else the first supply of type Battery)."""
    supplies = Path(root) / "sys/class/power_supply"
    candidates = [supplies / "battery"] + sorted(supplies.glob("*"))
    for supply in candidates:
        files = [supply / n for n in ("current_now", "voltage_now", "status")]
        if not all(f.is_file() for f in files):
            continue
        if supply.name != "battery":
            kind = supply / "type"
            if not kind.is_file() or kind.read_text().strip() != "Battery":
                continue
        try:
            return battery_source(lambda files=files: "\n".join(f.read_text() for f in files))
        except (OSError, ValueError):
            continue
    return None
