"""The iPhone's health around every trial, from the benchmark app's status answer (iOS shows an
app its thermal state, battery level and state, and Low Power Mode; no clocks, no other load)
and the battery's temperature where the transport reads it."""

from __future__ import annotations

CALM = ("nominal", "unknown")


def snapshot(status: dict, battery_temp_c: float | None = None) -> dict:
    level = status.get("battery_level")
    return {
        "battery_pct": round(float(level) * 100) if isinstance(level, (int, float)) and level >= 0 else None,
        "charging": status.get("battery_state") in ("charging", "full"),
        "thermal": {"state": str(status.get("thermal_state", "unknown")),
                    "temps_c": {"battery": battery_temp_c} if battery_temp_c is not None else {}},
        "low_power_mode": bool(status.get("low_power_mode")),
    }


def health_warnings(before: dict, after: dict) -> list[str]:
    warnings = []
    if before.get("charging") or after.get("charging"):
        warnings.append("measured while charging: the charger heats the iPhone and hides the "
                        "battery's reading of the load; unplug it")
    states = [s for s in ((before.get("thermal") or {}).get("state"), (after.get("thermal") or {}).get("state"))
              if s and s not in CALM]
    if states:
        warnings.append(f"measured while the iPhone's thermal state was {states[-1]}: iOS lowers "
                        "the clocks; let it cool (--cooldown, --thermal-gate)")
    if before.get("low_power_mode") or after.get("low_power_mode"):
        warnings.append("Low Power Mode was on: iOS lowers the clocks; turn it off in Settings > Battery")
    return warnings
