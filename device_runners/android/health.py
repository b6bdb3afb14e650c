"""The phone's health around every trial, and over a long one.

Before and after each trial the measurement script (measure.py) prints a snapshot: the battery
(level, charging), the screen, every core's governor and current and capped frequency, and the
load of other processes (`dumpsys cpuinfo`); the thermal state it already reads beside them.
A trial of LONG_TRIAL_S or more also prints a tick every `tick_interval(seconds)`: the clock,
the thermal service and every core's frequency, so that a sustained run can say when the phone
began to throttle and how its latency followed (harness.bench.sustained).

What the snapshots say becomes the trial's context ("health", "health_series") and, where it
casts doubt on the figure, a warning: measured while charging, while throttled, or while other
processes took a share of the CPU.
"""

from __future__ import annotations

import re

from device_runners.android.probe import MARKER, parse_battery_state
from device_runners.sensors.thermal import ANDROID_THERMAL_STATUS, ThermalReading

CPUFREQ_SHELL = (
    "for c in /sys/devices/system/cpu/cpu[0-9]*; do echo \"${c##*/} "
    "$(cat $c/cpufreq/scaling_governor 2>/dev/null) $(cat $c/cpufreq/scaling_cur_freq 2>/dev/null) "
    "$(cat $c/cpufreq/scaling_max_freq 2>/dev/null) $(cat $c/cpufreq/cpuinfo_max_freq 2>/dev/null)\"; "
    "done"
)
# Other processes' share of the CPU above this makes a trial's latency doubtful.
BUSY_OTHERS_PCT = 20.0
# A trial this long records the phone's state over time; its ticks come every tick_interval(s).
LONG_TRIAL_S = 10.0


def snapshot_lines(when: str) -> list[str]:
    """The script lines printing a `health_<when>` snapshot (when: before, after)."""
    return [
        f"echo {MARKER}health_{when} battery", "dumpsys battery 2>/dev/null",
        f"echo {MARKER}health_{when} screen",
        "dumpsys power 2>/dev/null | grep -m2 -E 'mWakefulness=|Display Power'",
        f"echo {MARKER}health_{when} cpufreq", CPUFREQ_SHELL,
        f"echo {MARKER}health_{when} load",
        "dumpsys cpuinfo 2>/dev/null | grep -E '^Load:|TOTAL' | head -2",
    ]


def tick_interval(seconds: float) -> float | None:
    """How often a trial of `seconds` records a tick; None for a short trial."""
    if seconds < LONG_TRIAL_S:
        return None
    return min(max(seconds / 200.0, 0.25), 5.0)


def tick_loop(interval_s: float, thermal_command: str) -> str:
    """A background loop appending a tick to `ticks.txt` every `interval_s` until the file
    `stop_ticks` exists (a file, not stdout: the energy sampler writes there meanwhile)."""
    return ("( while [ ! -e stop_ticks ]; do { "
            f"echo \"{MARKER}tick $(cut -d' ' -f1 /proc/uptime)\"; {thermal_command} 2>/dev/null; "
            "echo freqs $(cat /sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq 2>/dev/null); "
            f"}} >> ticks.txt; sleep {interval_s:g}; done ) &")


# -- parsing ------------------------------------------------------------------------------------


def parse_cpufreq(text: str) -> dict[int, dict]:
    """Lines `cpu<N> <governor> <cur kHz> <scaling max kHz> <cpuinfo max kHz>`."""
    cores = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[0].startswith("cpu") or not parts[0][3:].isdigit():
            continue
        numbers = [int(p) if p.isdigit() else None for p in parts[2:5]] + [None] * 3
        cores[int(parts[0][3:])] = {"governor": parts[1] if not parts[1].isdigit() else "",
                                    "cur_khz": numbers[0], "scaling_max_khz": numbers[1],
                                    "max_khz": numbers[2]}
    return cores


def parse_load(text: str) -> dict:
    """`dumpsys cpuinfo`'s `Load: a / b / c` and `N% TOTAL` lines."""
    load = {}
    match = re.search(r"^Load:\s*([\d.]+)", text, re.MULTILINE)
    if match:
        load["load_1min"] = float(match[1])
    match = re.search(r"([\d.]+)%\s+TOTAL", text)
    if match:
        load["others_pct"] = float(match[1])
    return load


def parse_snapshot(parts: dict[str, str], thermal: ThermalReading) -> dict:
    """One snapshot as stored in the trial's context."""
    battery = parse_battery_state(parts.get("battery", ""))
    screen = parts.get("screen", "")
    return {
        "battery_pct": battery.level_pct,
        "charging": battery.on_external_power,
        "screen": "on" if re.search(r"Awake|state=ON", screen) else "off" if screen.strip() else "unknown",
        "thermal": thermal.to_dict(),
        "cores": {str(cpu): core for cpu, core in parse_cpufreq(parts.get("cpufreq", "")).items()},
        **parse_load(parts.get("load", "")),
    }


def parse_ticks(ticks: list[tuple[str, str]], parse_thermal, t0: float | None) -> list[dict]:
    """The ticks of a long trial, their time from `t0` (the timed loop's start, same clock)."""
    series = []
    for argument, text in ticks:
        try:
            uptime = float(argument.split()[0])
        except (ValueError, IndexError):
            continue
        freqs_line = next((line for line in text.splitlines() if line.startswith("freqs")), "")
        thermal_text = "\n".join(line for line in text.splitlines() if not line.startswith("freqs"))
        thermal = parse_thermal(thermal_text)
        series.append({
            "t_s": round(uptime - t0, 3) if t0 is not None else None,
            "thermal_state": thermal.state, "hottest_c": thermal.max_temp_c,
            "freqs_mhz": [int(v) // 1000 for v in freqs_line.split()[1:] if v.isdigit()],
        })
    return series


# -- what it says about the trial ------------------------------------------------------------------


def throttled(snapshot: dict, cores: tuple[int, ...]) -> str:
    """Why the phone was throttling at this snapshot, or ""."""
    state = (snapshot.get("thermal") or {}).get("state", "unknown")
    if state in ANDROID_THERMAL_STATUS[1:]:
        return f"thermal status {state}"
    capped = []
    for cpu in cores:
        core = (snapshot.get("cores") or {}).get(str(cpu)) or {}
        top, cap = core.get("max_khz"), core.get("scaling_max_khz")
        if top and cap and cap < top:
            capped.append(f"CPU {cpu} capped at {cap / 1e6:.2f} of {top / 1e6:.2f} GHz")
    return "; ".join(capped)


def health_warnings(before: dict, after: dict, cores: tuple[int, ...],
                    long_trial: bool = False) -> list[str]:
    """Sentences for a trial whose figures the phone's state casts doubt on (a long trial's
    throttling is what its ticks record, not a doubt)."""
    warnings = []
    if before.get("charging") or after.get("charging"):
        warnings.append("measured while charging: the charger heats the phone and may change "
                        "its clocks; unplug it (ODPM rails still measure energy on a Pixel)")
    hot = throttled(before, cores) or throttled(after, cores)
    if hot and not long_trial:
        warnings.append(f"measured while the phone throttled ({hot}): let it cool (--cooldown, "
                        "--thermal-gate) or run --sustained to measure throttling on purpose")
    others = max(before.get("others_pct") or 0.0, after.get("others_pct") or 0.0)
    if others > BUSY_OTHERS_PCT:
        warnings.append(f"other processes took {others:.0f}% of the CPU around the trial: close "
                        "apps, wait for the phone to settle after boot, or run again")
    if before.get("screen") == "off" or after.get("screen") == "off":
        warnings.append("the screen was off: a phone may lower its clocks; keep it awake "
                        "(Developer options > Stay awake)")
    return warnings


def trial_health(output, parse_thermal, timed_s: float | None,
                 cores: tuple[int, ...]) -> tuple[dict, list[str]]:
    """(the context entries, the warnings) of one trial's measurement output (measure.py)."""
    before = parse_snapshot(output.health.get("before", {}), parse_thermal(output.thermal_before))
    after = parse_snapshot(output.health.get("after", {}), parse_thermal(output.thermal_after))
    context = {"health": {"before": before, "after": after}}
    if output.ticks:
        # The timed loop ended moments before the command did: its start is timed_s earlier.
        start = output.clock_s - timed_s if output.clock_s is not None and timed_s else None
        context["health_series"] = parse_ticks(output.ticks, parse_thermal, start)
        context["health_series_start_s"] = start  # the timed loop's start, the phone's boot clock
    return context, health_warnings(before, after, cores, long_trial=bool(output.ticks))
