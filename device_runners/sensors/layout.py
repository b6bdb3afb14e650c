"""The `energy_samples` layout every runner emits, and the windows it is made of.

A contract between every runner (Python, C++, Kotlin, Swift) and `harness.energy`; plain JSON.

    {
      "layout": 1,
      "source": "rapl" | "odpm" | "battery" | "ios" | "none",
      "note": "why there is no source"                  # only with source "none"
      "kind": "counter" | "power" | "battery",
      "unit": "uJ" | "mJ" | "J"                          # kind "counter": cumulative energy
            | "uW" | "mW" | "W"                          # kind "power": instantaneous power
            | "sysfs",                                   # kind "battery": values as printed
      "channels": ["package-0", "package-0/core", ...],  # one name per column of "values"
      "summed": ["package-0"],                           # channels whose sum is the device's draw
      "counter_ranges": [262143328850, ...] | null,      # per channel, where a counter wraps to 0;
                                                         #   null (or a null entry): never wraps
      "interval_s": 0.05,                                # the sampling interval asked for
      "iterations": 250,                                 # timed iterations inside "active"
      "idle":   {"t_s": [...], "values": [[...], ...], "status": [...]} | null,
      "active": {"t_s": [...], "values": [[...], ...], "status": [...]}
    }

A window holds one entry per reading: `t_s` in seconds on any clock that only moves forward
(differences are all that is used; ODPM uses the device's own boot clock), `values` one row per
reading with one number per channel, and `status` the battery status word per reading (an empty
list for other sources). Kind "battery" has exactly two channels, `["current", "voltage"]`.

The idle window is taken with the device at rest just before the timed iterations and should
last as long as the active window; the active window's first reading is taken just before the
first timed iteration and its last just after the last one. An empty dict means nobody tried.
"""

from __future__ import annotations

from dataclasses import dataclass

from device_runners.sensors.source import EnergySource

LAYOUT_VERSION = 1


@dataclass(frozen=True)
class EnergyWindow:
    """Readings taken during one window (idle or active), in order."""

    t_s: tuple[float, ...]
    values: tuple[tuple[float, ...], ...]
    status: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.t_s[-1] - self.t_s[0] if self.t_s else 0.0

    def to_dict(self) -> dict:
        return {
            "t_s": list(self.t_s),
            "values": [list(row) for row in self.values],
            "status": list(self.status),
        }


def build_energy_samples(
    source: EnergySource,
    idle: EnergyWindow | None,
    active: EnergyWindow,
    iterations: int,
    interval_s: float,
) -> dict:
    """The `energy_samples` dict for a RunResult (layout in the module docstring)."""
    for window in (idle, active):
        if window is not None and any(len(row) != len(source.channels) for row in window.values):
            raise ValueError(f"Every reading must have one value per channel of {source.name}.")
    return {
        "layout": LAYOUT_VERSION,
        "source": source.name,
        "kind": source.kind,
        "unit": source.unit,
        "channels": list(source.channels),
        "summed": list(source.summed),
        "counter_ranges": list(source.counter_ranges) if source.counter_ranges else None,
        "interval_s": interval_s,
        "iterations": iterations,
        "idle": idle.to_dict() if idle is not None else None,
        "active": active.to_dict(),
    }


def no_energy_samples(reason: str) -> dict:
    """The `energy_samples` dict for a run without an energy source, saying why."""
    return {"layout": LAYOUT_VERSION, "source": "none", "note": reason}

