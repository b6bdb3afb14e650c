"""How numbers are written in every report, so a figure reads the same everywhere.

A figure that was not measured is "n/a", never 0: a machine without an energy sensor did not
use no energy.
"""

from __future__ import annotations

from device_runners.contract import EnergyInfo, RunResult, ThermalInfo
from harness.bench.stats import CI_LEVEL, SampleStats
from harness.store import BenchmarkRecord


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_count(value: float | None, unit: str = "M") -> str:
    if value is None:
        return "n/a"
    scale = {"M": 1e6, "G": 1e9}[unit]
    return f"{value / scale:.2f}{unit}"


def fmt_ci(stats: SampleStats) -> str:
    """`[1.21, 1.25]`; an interval short of the 95% promised (fewer than 6 samples: their range)
    says what it reaches, `[1.19, 1.30] (75%)`."""
    text = f"[{fmt_ms(stats.ci_low)}, {fmt_ms(stats.ci_high)}]"
    return text if stats.ci_level >= CI_LEVEL - 1e-9 else f"{text} ({stats.ci_level:.0%})"


def fmt_latency(record: BenchmarkRecord) -> str:
    """`1.23 [1.21, 1.25]` for a measured cell, with a mark when unstable; the status otherwise."""
    s = record.stats
    if s is None:
        return record.status
    text = f"{fmt_ms(s.median)} {fmt_ci(s)}"
    return text + " (unstable)" if record.unstable else text


def fmt_published_latency(info: dict) -> str:
    pub = info.get("published") or {}
    if pub.get("latency_ms") is None:
        return "n/a"
    return f"{pub['latency_ms']} ms ({pub.get('latency_device') or 'device not stated'})"


def fmt_top1(info: dict) -> str:
    pub = info.get("published") or {}
    return f"{pub['top1']:.1f}" if pub.get("top1") is not None else "n/a"


def fmt_rss_mb(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.0f}"


def fmt_memory(result: RunResult | None) -> str:
    """Peak resident memory in MB during load / during inference, e.g. `41 / 43`."""
    if result is None:
        return "n/a"
    return f"{fmt_rss_mb(result.peak_rss_load_kb)} / {fmt_rss_mb(result.peak_rss_inference_kb)}"


def _with_uncertainty(value: float, sigma: float | None, scale: float) -> str:
    value *= scale
    text = f"{value:.3g}"
    return text if sigma is None else f"{text} ± {sigma * scale:.2g}"


def fmt_energy_mj(energy: EnergyInfo | None) -> str:
    """Energy per inference in mJ with its uncertainty, or "n/a" where nothing measured it."""
    if energy is None or energy.source == "none" or energy.joules_per_inference is None:
        return "n/a"
    return _with_uncertainty(energy.joules_per_inference, energy.joules_per_inference_uncertainty, 1e3)


def fmt_power_w(energy: EnergyInfo | None) -> str:
    """Average power in W during the timed iterations, or "n/a"."""
    if energy is None or energy.source == "none" or energy.avg_power_w is None:
        return "n/a"
    return _with_uncertainty(energy.avg_power_w, energy.avg_power_w_uncertainty, 1.0)


def fmt_thermal(thermal: ThermalInfo | None) -> str:
    """`throttled`, or the hottest zone's temperature before -> after, or "n/a" without sensors."""
    if thermal is None:
        return "n/a"
    if thermal.throttled:
        return "THROTTLED"
    temps = (thermal.max_temp_c_before, thermal.max_temp_c_after)
    if all(t is not None for t in temps):
        return f"ok {temps[0]:.0f}->{temps[1]:.0f} °C"
    if thermal.before not in ("unknown", "") or thermal.after not in ("unknown", ""):
        return f"ok ({thermal.after})"
    return "n/a"


def fmt_trial_spread(record: BenchmarkRecord) -> str:
    """How far apart the trials' medians are, e.g. `3 trials, 1.2%`; one trial says so."""
    s = record.stats
    if s is None:
        return "n/a"
    spread = s.trial_spread
    return "1 trial" if spread is None else f"{s.trials} trials, {spread:.1%}"


def fmt_context(result: RunResult | None) -> str:
    """One line of the conditions a result was measured under: threads, CPUs, governor, load."""
    if result is None:
        return "n/a"
    ctx = result.context
    parts = [f"threads {result.threads}"]
    if result.cpu_affinity:
        parts.append("CPUs " + ",".join(str(c) for c in result.cpu_affinity))
    cpu = ctx.get("cpu") or {}
    if cpu.get("governors"):
        parts.append("governor " + "/".join(cpu["governors"]))
    freqs = [f.get("cur_khz") for f in (cpu.get("cpufreq") or {}).values() if f.get("cur_khz")]
    if freqs:
        parts.append(f"{min(freqs) / 1e6:.2f}-{max(freqs) / 1e6:.2f} GHz")
    if "turbo" in cpu:
        parts.append("turbo " + ("on" if cpu["turbo"] else "off"))
    load = ctx.get("loadavg_before") or {}
    if "1min" in load:
        parts.append(f"load {load['1min']:.2f}")
    versions = result.runtime_versions
    if versions:
        parts.append(", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    return "; ".join(parts)
