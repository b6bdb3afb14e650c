"""RAPL: Linux powercap energy counters (Intel, and AMD Zen on Linux 5.11+).

`/sys/class/powercap/intel-rapl:N[:M]/energy_uj`: cumulative µJ that wraps at
`max_energy_range_uj`. The `intel-rapl-mmio:N` zones repeat package-N through another
interface and are skipped. Subzones (core, uncore, dram) are recorded, but only the top-level
`package-N` zones are summed: core and uncore lie inside the package, and psys contains it.
"""

from __future__ import annotations

from pathlib import Path

from device_runners.sensors.source import EnergySource, Reading, SensorUnavailable


def _rapl_zone_dirs(root: str | Path) -> list[Path]:
    base = Path(root) / "sys/class/powercap"
    # "intel-rapl:0" before "intel-rapl:0:0" before "intel-rapl:1", comparing the numbers.
    return sorted(
        base.glob("intel-rapl:*"),
        key=lambda p: tuple(int(n) for n in p.name.split(":")[1:] if n.isdigit()),
    )


def find_rapl(root: str | Path = "/") -> EnergySource | None:
    """The RAPL counters under `root`, or None where there are none.

    Raises SensorUnavailable when the counters exist but cannot be read: since Linux 5.10
    `energy_uj` is readable by root only (a power side channel, CVE-2020-8694).
    """
    dirs = _rapl_zone_dirs(root)
    if not dirs:
        return None
    names: dict[str, str] = {}  # directory name -> channel name
    channels, ranges, files, top_level = [], [], [], []
    for zone in dirs:
        try:
            name = (zone / "name").read_text().strip()
            max_range = int((zone / "max_energy_range_uj").read_text())
            (zone / "energy_uj").read_text()
        except PermissionError:
            raise SensorUnavailable(
                f"RAPL energy counters under {zone.parent} are readable by root only; run "
                f"`sudo chmod a+r {zone.parent}/intel-rapl:*/energy_uj` to measure energy."
            ) from None
        except (OSError, ValueError):
            continue  # a zone without an energy counter
        parent = zone.name.rsplit(":", 1)[0]
        channel = f"{names[parent]}/{name}" if parent in names else name
        names[zone.name] = channel
        if zone.name.count(":") == 1:
            top_level.append(channel)
        channels.append(channel)
        ranges.append(max_range)
        files.append(zone / "energy_uj")
    if not channels:
        return None
    packages = [c for c in top_level if c.startswith("package")]

    def read() -> Reading:
        return Reading(tuple(float(int(f.read_text())) for f in files))

    return EnergySource(
        name="rapl",
        kind="counter",
        unit="uJ",
        channels=tuple(channels),
        summed=tuple(packages or top_level),
        read=read,
        counter_ranges=tuple(ranges),
    )


def read_rapl(root: str | Path = "/") -> dict[str, int]:
    """µJ per RAPL zone, e.g. {"package-0": 123456, "package-0/core": 4567}; {} if none."""
    try:
        source = find_rapl(root)
    except SensorUnavailable:
        return {}
    if source is None:
        return {}
    return {name: int(v) for name, v in zip(source.channels, source.read().values)}
