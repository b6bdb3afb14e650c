"""The most a device's cores could compute, for the plausibility of a measured latency.

A runner records `context["compute_peak"]` with each trial: the fp32 multiply-accumulates per
second the cores it ran on could do at their top clocks together, and where the figure comes
from. Phones: per core type from compute_peaks.yaml (vendors' pipe widths) times the cluster's
top frequency. This host: its SIMD extensions (AVX-512, AVX2 with FMA, else SSE) and the fastest
clock it reports, two FMA pipes assumed, which no x86 core of this decade exceeds.
harness.bench.plausibility divides a cell's MACs by its median by this peak.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

PEAKS_PATH = Path(__file__).with_name("compute_peaks.yaml")


@lru_cache(maxsize=1)
def _peaks() -> dict:
    return yaml.safe_load(PEAKS_PATH.read_text())


def macs_per_cycle(core: str) -> int | None:
    return _peaks()["cores"].get(core)


def memory_gb_s(soc: str) -> float | None:
    return _peaks()["memory_gb_s"].get(soc)


def phone_peak(clusters, cpus, soc: str = "") -> dict | None:
    """The peak of `cpus` on a phone whose `clusters` (device_runners/android/cores.Cluster)
    name their core types; None where a core type or clock is unknown."""
    total, parts = 0.0, []
    for cluster in clusters:
        used = [c for c in cpus if c in cluster.cpus]
        if not used:
            continue
        per_cycle = macs_per_cycle(cluster.core)
        if per_cycle is None or not cluster.max_khz:
            return None
        total += len(used) * per_cycle * cluster.max_khz * 1e3
        parts.append(f"{len(used)}x {cluster.core} ({per_cycle} fp32 MACs a cycle) at "
                     f"{cluster.max_khz / 1e6:.2f} GHz")
    if not parts:
        return None
    return {"fp32_macs_per_s": total, "source": "catalog: " + " + ".join(parts),
            "memory_gb_s": memory_gb_s(soc)}


def host_peak(cpus: int, cpuinfo: str | None = None, max_khz: int | None = None) -> dict | None:
    """This host's peak over `cpus` cores, from /proc/cpuinfo's flags and the fastest clock."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines()
                  if line.startswith(("flags", "Features"))), [])
    if "avx512f" in flags:
        lanes, name = 16, "AVX-512"
    elif "avx2" in flags and "fma" in flags:
        lanes, name = 8, "AVX2+FMA"
    elif "asimd" in flags:
        lanes, name = 4, "NEON"
    else:
        lanes, name = 4, "SSE"
    khz, how = (max_khz, "given") if max_khz else _max_khz(cpuinfo)
    if not khz:
        return None
    per_cycle = 2 * lanes  # two FMA pipes
    return {"fp32_macs_per_s": cpus * per_cycle * khz * 1e3,
            "source": f"this host: {name}, {per_cycle} fp32 MACs a cycle (two FMA pipes assumed) "
                      f"at {khz / 1e6:.2f} GHz ({how}) x {cpus} core{'s' if cpus != 1 else ''}",
            "memory_gb_s": None}


# A clock from /proc/cpuinfo is the current one, often the base: turbo may reach this much more.
TURBO_HEADROOM = 1.5


def _max_khz(cpuinfo: str) -> tuple[int | None, str]:
    try:
        return int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()), "cpufreq's maximum"
    except (OSError, ValueError):
        pass
    mhz = [float(line.split(":", 1)[1]) for line in cpuinfo.splitlines() if line.startswith("cpu MHz")]
    if not mhz:
        return None, ""
    return int(max(mhz) * 1000 * TURBO_HEADROOM), f"/proc/cpuinfo's clock x {TURBO_HEADROOM:g} for turbo"
