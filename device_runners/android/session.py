"""What the Android runner decides once per session: whether the battery allows a run, which
energy source to read, and the context every result of the session carries."""

from __future__ import annotations

import dataclasses

from device_runners.android import measure
from device_runners.android.adb import AndroidDeviceError
from device_runners.android.catalog import PhoneSpec
from device_runners.android.probe import MARKER, BatteryState, PhoneProbe
from device_runners.sensors import ODPM_RAILS_SHELL, ODPM_SHELL, SensorUnavailable

# Below this charge a phone's governor and thermal policy change; the run is refused unless it
# is charging (then the battery reading is skewed, and the record says so).
MIN_BATTERY_PCT = 20

# One shell call's worth of probing, in sections: the energy readings and the tools the phone has.
SENSOR_PROBE = (
    f"echo {MARKER}odpm; {ODPM_SHELL} 2>/dev/null; "
    f"echo {MARKER}rails; {ODPM_RAILS_SHELL} 2>/dev/null; "
    f"echo {MARKER}battery; {measure.BATTERY_READING} 2>/dev/null; "
    f"echo {MARKER}tools; for t in taskset timeout sha256sum; do "
    'command -v $t >/dev/null 2>&1 && echo $t; done'
)


def check_battery(serial: str, battery: BatteryState, min_battery_pct: float) -> str | None:
    """None when the battery allows a run, a note for the record when it is low but charging;
    raises AndroidDeviceError (saying what to do) when it is low and discharging."""
    if battery.level_pct is None or battery.level_pct >= min_battery_pct:
        return None
    if battery.on_external_power:
        return f"battery at {battery.level_pct}% (below {min_battery_pct:g}%), charging"
    raise AndroidDeviceError(
        f"{serial}'s battery is at {battery.level_pct}%, below {min_battery_pct:g}%: "
        "charge it first, or pass --min-battery 0 to measure anyway."
    )


def find_sensor(parts: dict[str, str], entry: PhoneSpec | None) -> tuple[measure.Sensor, list[str]]:
    """ODPM when its counters read, else the battery, else none (with the reason); and notes
    for the record (a phone the catalog says has ODPM whose counters did not read)."""
    problems, notes = [], []
    try:
        return measure.odpm_sensor(parts.get("odpm", ""), parts.get("rails", "")), notes
    except (ValueError, SensorUnavailable) as exc:
        problems.append(f"ODPM: {exc}")
    if entry is not None and entry.energy == "odpm":
        notes.append(f"{entry.name} has ODPM rail counters, but they did not read "
                     f"({problems[-1]}); energy comes from the battery instead")
    try:
        return measure.battery_sensor(parts.get("battery", "")), notes
    except (ValueError, IndexError, SensorUnavailable) as exc:
        problems.append(f"battery: {exc}")
    why = "no readable energy sensor on the phone (" + "; ".join(problems) + ")"
    return measure.no_sensor(why), notes


def session_context(serial: str, probe: PhoneProbe, entry: PhoneSpec | None,
                    sensor: measure.Sensor, notes: list[str]) -> dict:
    """The `android` block of every result's context: which phone, build and energy source."""
    return {
        "serial": serial,
        "fingerprint": probe.props.get("ro.build.fingerprint", ""),
        "sdk": probe.props.get("ro.build.version.sdk", ""),
        "abi": probe.props.get("ro.product.cpu.abi", ""),
        "catalog": entry.key if entry else None,
        "energy_source": sensor.name,
        "battery_at_start": dataclasses.asdict(probe.battery),
        "notes": list(notes),
    }
