"""This machine: what it is, and what it was doing around a measurement.

`describe_host()` is the device block of every host result. The rest records the state a
latency was taken in: CPU frequency policy and system load, the process's memory, and its CPU
affinity where the platform has one (Linux; macOS has none, and the worker says so).

A latency means little without the state it was taken in: a `powersave` governor, a capped
maximum frequency, turbo off, or a load average of 8 on 2 cores each move the median by more
than any model change. The worker records these in `RunResult.context` so a result can be
judged, and two results compared, on the same footing.

Every reader takes `root` (default "/") and reads `<root>/sys/...` and `<root>/proc/...`, so
tests point it at a temporary tree. Absent files are common (containers and VMs often have no
cpufreq; this machine has none): the key is then left out, never guessed.

    cpufreq (per CPU)  /sys/devices/system/cpu/cpuN/cpufreq/
                       scaling_governor, scaling_min_freq, scaling_max_freq, scaling_cur_freq
                       (kHz; the policy's limits and the last requested frequency), and
                       cpuinfo_max_freq (the hardware's maximum, kHz)
    turbo              /sys/devices/system/cpu/cpufreq/boost (1 = on; acpi-cpufreq, amd-pstate)
                       /sys/devices/system/cpu/intel_pstate/no_turbo (1 = off)
    CPU sets           /sys/devices/system/cpu/{online,isolated} and smt/control
    load               /proc/loadavg: 1, 5 and 15 minute averages, then running/total tasks
    memory             /proc/self/status VmRSS and VmHWM (kB); where there is no /proc (macOS),
                       getrusage's maxrss, the peak of the whole process
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Iterable

from device_runners.contract import DeviceInfo

CPU_DIR = "sys/devices/system/cpu"

# cpufreq file -> context key. Frequencies are kHz in sysfs and kept in kHz.
_CPUFREQ_FILES = {
    "scaling_governor": "governor",
    "scaling_min_freq": "min_khz",
    "scaling_max_freq": "max_khz",
    "scaling_cur_freq": "cur_khz",
    "cpuinfo_max_freq": "hardware_max_khz",
}


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:  # absent, or unreadable (some kernels restrict cpuinfo_cur_freq to root)
        return None


def cpu_frequency(cpu: int, root: str | Path = "/") -> dict:
    """{governor, min_khz, max_khz, cur_khz, hardware_max_khz} of one CPU, as far as readable."""
    base = Path(root) / CPU_DIR / f"cpu{cpu}" / "cpufreq"
    info: dict = {}
    for name, key in _CPUFREQ_FILES.items():
        text = _read(base / name)
        if text is None:
            continue
        if key == "governor":
            info[key] = text
        elif text.isdigit():
            info[key] = int(text)
    return info


def turbo_enabled(root: str | Path = "/") -> bool | None:
    """Whether the CPU may boost above its base clock; None where the kernel does not say."""
    boost = _read(Path(root) / CPU_DIR / "cpufreq" / "boost")
    if boost in ("0", "1"):
        return boost == "1"
    no_turbo = _read(Path(root) / CPU_DIR / "intel_pstate" / "no_turbo")
    if no_turbo in ("0", "1"):
        return no_turbo == "0"
    return None


def load_average(root: str | Path = "/") -> dict:
    """{"1min", "5min", "15min", "running", "tasks"} from /proc/loadavg; {} if unreadable."""
    text = _read(Path(root) / "proc" / "loadavg")
    if not text:
        if str(root) == "/" and hasattr(os, "getloadavg"):  # macOS: no /proc, but the averages
            one, five, fifteen = os.getloadavg()
            return {"1min": one, "5min": five, "15min": fifteen}
        return {}
    parts = text.split()
    try:
        info = {"1min": float(parts[0]), "5min": float(parts[1]), "15min": float(parts[2])}
        running, tasks = parts[3].split("/")
        info.update(running=int(running), tasks=int(tasks))
    except (IndexError, ValueError):
        return {}
    return info


def cpu_context(cpus: Iterable[int], root: str | Path = "/") -> dict:
    """The frequency policy of `cpus` (the CPUs a measurement may run on) and the CPU sets.

    Per-CPU entries appear only for CPUs with readable cpufreq files; `governors` summarises
    them, since one mixed-governor machine explains more than a page of numbers.
    """
    cpu_dir = Path(root) / CPU_DIR
    context: dict = {}
    per_cpu = {str(c): info for c in sorted(cpus) if (info := cpu_frequency(c, root))}
    if per_cpu:
        context["cpufreq"] = per_cpu
        context["governors"] = sorted({i["governor"] for i in per_cpu.values() if "governor" in i})
    turbo = turbo_enabled(root)
    if turbo is not None:
        context["turbo"] = turbo
    for name, key in (("online", "online"), ("isolated", "isolated"), ("smt/control", "smt")):
        text = _read(cpu_dir / name)
        if text is not None:
            context[key] = text
    return context


# ----------------------------------------------------------------------------------------------
# The machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_host() -> DeviceInfo:
    return DeviceInfo(
        device_id="host",
        platform=sys.platform,
        product_model=platform.node(),
        soc=platform.machine(),
        cpu=_cpu_model(),
        os_version=f"{platform.system()} {platform.release()}",
        cpu_count=os.cpu_count() or 0,
        kind="host",
    )


# ----------------------------------------------------------------------------------------------
# CPU affinity: Linux has it, macOS does not (os.sched_* are absent there)


def current_affinity() -> tuple[int, ...] | None:
    """The CPUs this process may run on; None where the platform cannot say."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return tuple(sorted(os.sched_getaffinity(0)))


def set_affinity(cpus: Iterable[int]) -> str:
    """Pin this process to `cpus`; "" when done, else why it could not be (for the record)."""
    cpus = tuple(cpus)
    if not hasattr(os, "sched_setaffinity"):
        return (f"CPU affinity {','.join(map(str, cpus))} was not set: this platform "
                f"({sys.platform}) has no sched_setaffinity; the OS scheduled freely")
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as exc:
        return f"CPU affinity {','.join(map(str, cpus))} was not set: {exc}"
    return ""


# ----------------------------------------------------------------------------------------------
# Process memory (Linux and Android share the /proc format)


def parse_status_kb(text: str, key: str) -> int | None:
    """The value in kB of one `/proc/PID/status` line, e.g. key "VmHWM"."""
    for line in text.splitlines():
        if line.startswith(key + ":"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1])
    return None


def read_status_kb(key: str, pid: str = "self") -> int | None:
    try:
        return parse_status_kb(Path(f"/proc/{pid}/status").read_text(), key)
    except OSError:
        return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0). False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_kb() -> int | None:
    """The process's peak resident memory in kB: VmHWM, else getrusage's maxrss."""
    peak = read_status_kb("VmHWM")
    if peak is not None:
        return peak
    try:
        import resource
    except ImportError:  # Windows
        return None
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss // 1024 if sys.platform == "darwin" else maxrss  # bytes on macOS, kB elsewhere
