"""How numbers are written in every report, so a figure reads the same everywhere.

A figure that was not measured is "n/a", never 0: a machine without an energy sensor did not
use no energy.
"""

from __future__ import annotations

from device_runners.contract import EnergyInfo, RunResult, ThermalInfo
from harness.bench.stats import CI_LEVEL, SampleStats
from harness.store import BenchmarkRecord, ToolSummary


def fmt_ms(value: float | None) -> str:
    """Three significant figures from 1 ms up (`18.4`, `1.23`, `123`), two below 0.1 ms
    (`0.0059`: a figure under 0.01 ms still says what it is)."""
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 0.1 or value == 0:
        return f"{value:.2f}"
    return f"{value:.2g}"


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
    """`1.23 [1.21, 1.25]` for a measured cell, with a mark when unstable; one sample is one
    figure (`1.13 (1 sample)`), another tool's summary reads as that tool's (`fmt_summary`), a
    cell that measured only memory says so; the status otherwise."""
    s = record.stats
    if s is None:
        summary = record.tool_summary
        if summary is not None:
            return fmt_summary(summary)
        return "memory only" if record.memory_only else record.status
    text = f"{fmt_ms(s.median)} (1 sample)" if s.n == 1 else f"{fmt_ms(s.median)} {fmt_ci(s)}"
    return text + " (unstable)" if record.unstable else text


def fmt_summary(summary: ToolSummary) -> str:
    """Another tool's figures as its own: `11.9 mean (benchmark_model, n 84, 11.7-13.0)`,
    `0.593 (AI Hub's figure)`. Never a median or an interval the tool did not give."""
    if summary.statistic == "figure":
        return f"{fmt_ms(summary.value_ms)} ({summary.tool}'s figure)"
    parts = [summary.tool] + ([f"n {summary.n}"] if summary.n else [])
    if summary.min_ms is not None and summary.max_ms is not None:
        parts.append(f"{fmt_ms(summary.min_ms)}-{fmt_ms(summary.max_ms)}")
    return f"{fmt_ms(summary.value_ms)} {summary.statistic} ({', '.join(parts)})"


def central_ms(record: BenchmarkRecord) -> float | None:
    """The one latency a table sorts and compares a record by: the median of its samples, or
    the figure of the tool's own summary; None without either."""
    if record.stats is not None:
        return record.stats.median
    summary = record.tool_summary
    return summary.value_ms if summary is not None else None


def fmt_published_latency(info: dict) -> str:
    """The paper's latency with the device it was measured on, which is never this one:
    `0.9 ms on iPhone 12 (iOS 16 Core ML)`."""
    pub = info.get("published") or {}
    return published_latency_text(pub.get("latency_ms"), pub.get("latency_device"))


def published_latency_text(latency_ms: float | None, device: str | None) -> str:
    if latency_ms is None:
        return "n/a"
    return f"{latency_ms} ms on {device or 'a device the paper does not name'}"


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


def process_peak_kb(result: RunResult | None) -> int | None:
    """The measuring process's peak resident memory, load and inference together."""
    if result is None:
        return None
    peaks = [kb for kb in (result.peak_rss_load_kb, result.peak_rss_inference_kb) if kb is not None]
    return max(peaks) if peaks else None


def model_memory_kb(result: RunResult | None) -> int | None:
    """The model's own memory: the process peak minus what the process held before it loaded
    the model (`context["rss_before_load_kb"]`, which the Python worker and the native runner
    record): the runtime's and the model's, without the interpreter and imports of the process
    that measured it. None where the runner did not record it."""
    peak = process_peak_kb(result)
    before = result.context.get("rss_before_load_kb") if result is not None else None
    if peak is None or not isinstance(before, (int, float)):
        return None
    return max(0, int(peak - before))


def _mb(kb: int | None) -> str:
    if kb is None:
        return "n/a"
    mb = kb / 1024
    return f"{mb:.1f}" if mb < 10 else f"{mb:.0f}"


def fmt_model_memory(result: RunResult | None) -> str:
    """`12 / 399`: the model's own memory and the process peak, MB."""
    if result is None:
        return "n/a"
    return f"{_mb(model_memory_kb(result))} / {_mb(process_peak_kb(result))}"


def measured_by(result: RunResult | None) -> str:
    """Which program measured a result: the native C++ runner, ExecuTorch's Python bindings,
    the harness's Python worker (LiteRT, ONNX Runtime, PyTorch on a host), or a phone's tool."""
    if result is None:
        return "n/a"
    ctx = result.context
    imported = ctx.get("imported")
    if isinstance(imported, dict) and imported.get("tool"):
        return str(imported["tool"])  # another tool measured it (harness results import)
    if result.measured_by:  # the runner says so (the contract's measured_by)
        return "native runner" if result.measured_by.startswith("native runner") else result.measured_by
    # A result stored before runners said who measured: read its context as they wrote it.
    executorch = ctx.get("executorch_runner")
    if isinstance(executorch, str) and executorch:
        return "native runner" if executorch.startswith("native") else "Python bindings"
    runner = ctx.get("runner")
    if runner == "harness_runner":
        return "native runner"
    if isinstance(runner, str) and runner:
        return runner
    if "benchmark_model" in ctx:
        return "benchmark_model"
    if "runtime_import_ms" in ctx:
        return "Python worker"
    return result.runtime or "n/a"


def fmt_shape(shape) -> str:
    """`1x3x224x224`, or n/a."""
    return "x".join(str(int(v)) for v in shape) if shape else "n/a"


def fmt_affinity(cpus) -> str:
    return "CPUs " + ",".join(str(c) for c in cpus) if cpus else "any CPU"


def fmt_threads(threads: int | None) -> str:
    if threads is None:
        return "threads n/a"
    return f"{threads} thread" + ("" if threads == 1 else "s")


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
    imported = ctx.get("imported") if isinstance(ctx.get("imported"), dict) else None
    threads = imported.get("threads") if imported is not None else result.threads
    parts = [f"threads {threads if threads is not None else 'n/a'}"]
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


def origin_text(config: dict) -> str:
    """Where a run's records came from when the harness did not measure them (`harness results
    import`): `imported from pixel7.log (TFLite benchmark_model log)`; "" for the harness's."""
    imported = (config or {}).get("imported") or {}
    if not imported:
        return ""
    what = imported.get("tool_name") or imported.get("tool") or "another tool"
    return f"imported from {imported.get('file') or 'a file'} ({what})"


def fmt_run_settings(config: dict) -> str:
    """What a run measured with: `1 thread, any CPU; 3 trials per cell, ...`."""
    bench = config.get("bench") or {}
    if origin_text(config):
        return origin_text(config) + "; measured with that tool's settings, not the harness's"
    if not bench:
        return "n/a (stored by an older harness)"
    trials = bench.get("trials", 1)
    if trials == "auto":
        trials_text = (f"3 to {bench.get('max_trials')} trials per cell (auto: until the interval "
                       f"between sessions is within {bench.get('target_ci', 0):.0%})")
    else:
        trials_text = f"{trials} trial{'s' if trials != 1 else ''} per cell"
    warmup = ("until settled, at least " if bench.get("warmup_until_settled") else "") + \
        str(bench.get("warmup_iterations"))
    cores = (config.get("device_options") or {}).get("cores")
    where = f"{cores} cores" if cores else fmt_affinity(bench.get("cpu_affinity"))
    if bench.get("sustained_s"):
        return (f"{fmt_threads(bench.get('threads'))}, {where}; one sustained trial per cell of "
                f"{bench['sustained_s']:g} s after a warm-up of {warmup}, read in windows")
    return (f"{fmt_threads(bench.get('threads'))}, {where}; "
            f"{trials_text}"
            f"{' (interleaved)' if bench.get('interleave') else ''}, warm-up {warmup}, then at "
            f"least {bench.get('min_iterations')} iterations and {bench.get('min_duration_s')} s")
