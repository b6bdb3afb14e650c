"""What every phone kind shares: the `harness run` options of a phone (one flag, one meaning,
whichever kind takes it) and how a catalog matches the names people type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from device_runners.errors import DeviceError
from device_runners.runner import DeviceOption

# Both phone kinds declare these, so `--min-battery` is one option of `harness run` that either
# kind takes (harness/devices.py merges options by flag).
PHONE_OPTIONS = (
    DeviceOption("--min-battery", "min_battery_pct", minimum=0, maximum=100,
                 help="Phones: refuse a phone below this battery % unless charging [20]."),
    DeviceOption("--thermal-gate", "gate_c",
                 help="Phones: start a model only below this temperature, °C [Android 45, iPhone 35]."),
    DeviceOption("--thermal-timeout", "gate_timeout_s", minimum=0,
                 help="Phones: longest wait for the thermal gate, s [180]."),
)


@dataclass(frozen=True)
class CoreCluster:
    """One cluster of a phone SoC's CPU, as both phone catalogs write it (devices.yaml): how
    many cores, which core, and its highest clock in MHz (sysfs speaks kHz: `max_khz`)."""

    cores: int
    core: str
    max_mhz: int

    @property
    def max_khz(self) -> int:
        return self.max_mhz * 1000


def describe_clusters(clusters) -> str:
    """"4x1.80 + 2x2.35 + 2x2.85 GHz (nominal)", slowest cluster first."""
    return " + ".join(f"{c.cores}x{c.max_mhz / 1000:.2f}" for c in clusters) + " GHz (nominal)"


class CatalogError(DeviceError):
    """A catalog file is malformed; the message names the entry and what is wrong."""


def normalize_name(name: str) -> str:
    """"Pixel 7", "pixel-7", "pixel_7" -> "pixel7"; "+" survives ("s22+" is not "s22")."""
    return re.sub(r"[^a-z0-9+]", "", name.lower())
