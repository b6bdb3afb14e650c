"""One measurement on a phone as one shell script, and what its output means.

A trial is a single `adb shell`, so nothing crosses the cable while the model runs except the
sensor readings. The script (`measurement_script`):

    1. writes the request (the native runner's JSON) into a fresh trial directory,
    2. reads the thermal state,
    3. starts the sampler, a shell loop printing one sensor reading every `interval_s`,
    4. sleeps `idle_s` (the idle baseline), then takes the `start` reading,
    5. runs the command pinned with `taskset` and killed by `timeout` if it overruns,
    6. takes the `end` reading the moment the command exits, stops the sampler,
    7. prints the start and end readings, the thermal state again, the command's log and its
       result file.

Around the command it prints the phone's health (health.py): a snapshot before and after, and
for a long trial a tick every few seconds from a second background loop.

Every part of the output starts with a `@@harness:<name>` line. The sampler is the only writer
while it runs; the foreground keeps its own readings in files and prints them once the sampler
has stopped (it stops on its own after finishing a reading, so no reading is cut in two).

Readings carry their own time: ODPM prints the boot clock in milliseconds with every reading
(`t=`), and a battery reading starts with `/proc/uptime` (10 ms resolution), in the same `cat`.

The active window is cut from the readings afterwards: it ends at the `end` reading and starts at
the last reading taken at least `timed_s` (the runner's own duration of its timed iterations)
before it. It therefore contains every timed iteration, plus at most one sampling interval of
the warm-up before them (`edge_s` in the window description says how much). The idle window is
every reading up to the `start` reading.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from device_runners.android import health
from device_runners.android.probe import MARKER, Section, split_sections
from device_runners.contract import RunResult
from device_runners.sensors import (
    ODPM_SHELL,
    EnergySource,
    EnergyWindow,
    Reading,
    battery_source,
    build_energy_samples,
    no_energy_samples,
    odpm_source,
    parse_battery,
    parse_odpm,
)

# One battery reading: /proc/uptime first, in the same cat, gives the reading its own clock at no
# extra process. Absolute paths, unlike BATTERY_SHELL's `cd`, which would move the sampler loop.
BATTERY_READING = "cat /proc/uptime " + " ".join(
    f"/sys/class/power_supply/battery/{name}" for name in ("current_now", "voltage_now", "status")
)
# A sampler line that parses as no reading is dropped; this many make the window unusable.
MAX_BAD_READINGS = 3
_HEREDOC_END = "HARNESS_REQUEST_EOF"
# Exit codes of `timeout` when it killed the command: 124 (toybox, GNU without -s KILL) and
# 128 + SIGKILL (GNU with -s KILL).
TIMEOUT_EXIT_CODES = (124, 137)


@dataclass(frozen=True)
class Sensor:
    """How to take one energy reading on the phone, and how to read it back."""

    source: EnergySource | None  # None: no energy source on this phone
    command: str = ""
    parse: Callable[[str], Reading] | None = field(default=None, repr=False, compare=False)
    note: str = ""  # why there is no source

    @property
    def name(self) -> str:
        return self.source.name if self.source else "none"


def odpm_sensor(energy_text: str, rails_text: str) -> Sensor:
    """ODPM from one `energy_value` reading and the `enabled_rails` text (raises if unusable)."""
    source = odpm_source(lambda: energy_text, rails_text)

    def parse(text: str) -> Reading:
        reading = parse_odpm(text)
        return Reading(tuple(float(reading.energy_uws[r]) for r in source.channels), reading.t_ms / 1000)

    return Sensor(source, ODPM_SHELL, parse)


def battery_sensor(reading_text: str) -> Sensor:
    """The battery from one `BATTERY_READING` output (raises ValueError if unusable)."""

    def parse(text: str) -> Reading:
        uptime, _, rest = text.strip().partition("\n")
        battery = parse_battery(rest)
        return Reading((float(battery.current), float(battery.voltage)),
                       float(uptime.split()[0]), battery.status)

    parse(reading_text)
    source = battery_source(lambda: reading_text.strip().partition("\n")[2])

    return Sensor(source, BATTERY_READING, parse)


def no_sensor(note: str) -> Sensor:
    return Sensor(None, note=note)


def measurement_script(
    *,
    workdir: str,
    trial: str,
    command: list[str],
    sensor: Sensor,
    interval_s: float,
    idle_s: float,
    timeout_s: float | None,
    cpu_mask: str | None,
    thermal_command: str,
    request_json: str | None = None,
    result_file: str | None = None,
    tick_s: float | None = None,
) -> str:
    """The shell script of one trial (see the module docstring). `command` runs in the trial
    directory `<workdir>/trial/<trial>`, where `request.json` holds `request_json`; `timeout`
    kills it after `timeout_s` (None: no `timeout` on the phone, nothing bounds it there)."""
    trial_dir = f"{workdir}/trial/{trial}"
    pinned = (["taskset", cpu_mask] if cpu_mask else []) + command
    run = " ".join(shlex.quote(part) for part in pinned)
    lines = [
        f"cd {shlex.quote(workdir)} || exit 90",
        # Trial directories of earlier trials are removed now, not after each trial, so a
        # failed trial's files stay for a look until the next one.
        "rm -rf trial",
        f"mkdir -p {shlex.quote(trial_dir)} && cd {shlex.quote(trial_dir)} || exit 90",
    ]
    if request_json is not None:
        end = heredoc_delimiter(request_json)
        lines += [f"cat > request.json <<'{end}'", request_json, end]
    lines += [f"echo {MARKER}thermal_before", f"{thermal_command} 2>/dev/null",
              *health.snapshot_lines("before")]
    if tick_s:  # a long trial: the phone's state over time
        lines += [health.tick_loop(tick_s, thermal_command), "ticker=$!"]
    sampling = sensor.source is not None
    if sampling:
        lines += [
            "( while [ ! -e stop ]; do "
            f"echo {MARKER}reading; {sensor.command} 2>/dev/null; sleep {interval_s:g}; "
            "done ) &",
            "sampler=$!",
            f"sleep {idle_s:.3f}",
            f"{sensor.command} > start.txt 2>/dev/null",
        ]
    bounded = f"timeout -s KILL {math.ceil(timeout_s)} " if timeout_s is not None else ""
    lines += [f"{bounded}{run} > runner.log 2>&1", "rc=$?",
              "clock=$(cut -d' ' -f1 /proc/uptime)"]
    if tick_s:
        lines += [": > stop_ticks", "wait $ticker"]
    if sampling:
        lines += [
            f"{sensor.command} > end.txt 2>/dev/null",
            ": > stop",
            "wait $sampler",
            f"echo {MARKER}start; cat start.txt",
            f"echo {MARKER}end $rc; cat end.txt",
        ]
    else:
        lines.append(f"echo {MARKER}end $rc")
    lines += [
        f"echo {MARKER}clock $clock",
        f"echo {MARKER}thermal_after",
        f"{thermal_command} 2>/dev/null",
        *health.snapshot_lines("after"),
        f"echo {MARKER}log",
        "tail -c 16000 runner.log",
    ]
    if tick_s:
        lines.append("cat ticks.txt 2>/dev/null")
    if result_file:
        lines += [f"echo {MARKER}result", f"cat {shlex.quote(result_file)} 2>/dev/null"]
    return "\n".join(lines) + "\n"


def heredoc_delimiter(text: str) -> str:
    """A here-document terminator that is no line of `text`: the request's JSON holds model
    names, which may hold anything, so the terminator gets a suffix until no line equals it
    (a line must equal it whole to end the document)."""
    lines = set(text.splitlines())
    end, n = _HEREDOC_END, 0
    while end in lines:
        n += 1
        end = f"{_HEREDOC_END}_{n}"
    return end


@dataclass
class MeasurementOutput:
    """What one trial's script printed, split into its parts."""

    exit_code: int | None = None  # the measured command's; None if the script never got there
    readings: list[tuple[str, str]] = field(default_factory=list)  # (section name, text) in order
    thermal_before: str = ""
    thermal_after: str = ""
    log: str = ""
    result: str = ""
    health: dict[str, dict[str, str]] = field(default_factory=lambda: {"before": {}, "after": {}})
    ticks: list[tuple[str, str]] = field(default_factory=list)  # (clock, text) of a long trial
    clock_s: float | None = None  # the phone's boot clock when the command ended

    @property
    def timed_out(self) -> bool:
        return self.exit_code in TIMEOUT_EXIT_CODES


def parse_measurement_output(output: str) -> MeasurementOutput:
    parsed = MeasurementOutput()
    for section in split_sections(output):
        _take(parsed, section)
    return parsed


def _take(parsed: MeasurementOutput, section: Section) -> None:
    if section.name in ("reading", "start"):
        parsed.readings.append((section.name, section.text))
    elif section.name == "end":
        parsed.exit_code = int(section.argument) if section.argument.strip().isdigit() else None
        if section.text.strip():
            parsed.readings.append(("end", section.text))
    elif section.name in ("thermal_before", "thermal_after", "log", "result"):
        setattr(parsed, section.name, section.text)
    elif section.name in ("health_before", "health_after"):
        parsed.health[section.name.removeprefix("health_")][section.argument.strip()] = section.text
    elif section.name == "tick":
        parsed.ticks.append((section.argument, section.text))
    elif section.name == "clock":
        try:
            parsed.clock_s = float(section.argument.split()[0])
        except (ValueError, IndexError):
            parsed.clock_s = None


@dataclass(frozen=True)
class EnergyWindows:
    """The idle and active windows cut from one trial's readings, and how they were cut."""

    idle: EnergyWindow | None
    active: EnergyWindow | None
    description: dict


def cut_windows(sensor: Sensor, output: MeasurementOutput, timed_s: float | None) -> EnergyWindows:
    """Idle: every reading up to `start`. Active: from the last reading at least `timed_s`
    before `end`, to `end` (see the module docstring)."""
    readings: list[tuple[str, Reading]] = []
    bad = 0
    for name, text in output.readings:
        try:
            readings.append((name, sensor.parse(text)))
        except (ValueError, IndexError, KeyError):
            bad += 1  # a reading cut short (the phone went away) or a sensor hiccup
    description = {"readings": len(readings), "bad_readings": bad}
    names = [name for name, _ in readings]
    if bad > MAX_BAD_READINGS or "start" not in names or "end" not in names:
        description["why"] = "the start or end reading is missing, or too many readings failed"
        return EnergyWindows(None, None, description)
    start_t = next(r.t_s for name, r in readings if name == "start")
    end_t = next(r.t_s for name, r in readings if name == "end")
    ordered = sorted((r for _, r in readings), key=lambda r: r.t_s)
    idle = [r for r in ordered if r.t_s <= start_t]
    active = None
    if timed_s is not None and timed_s > 0:
        begin = end_t - timed_s
        before = [r for r in ordered if r.t_s <= begin and r.t_s >= start_t]
        first = before[-1] if before else next(r for r in ordered if r.t_s >= start_t)
        active = [r for r in ordered if first.t_s <= r.t_s <= end_t]
        description["edge_s"] = max(0.0, begin - first.t_s)
        description["timed_s"] = timed_s
    return EnergyWindows(
        idle=_window(idle) if len(idle) >= 2 else None,
        active=_window(active) if active and len(active) >= 2 else None,
        description=description,
    )


def _window(readings: list[Reading]) -> EnergyWindow:
    has_status = bool(readings[0].status)
    return EnergyWindow(
        t_s=tuple(r.t_s for r in readings),
        values=tuple(tuple(r.values) for r in readings),
        status=tuple(r.status for r in readings) if has_status else (),
    )


def energy_samples(
    sensor: Sensor,
    output: MeasurementOutput,
    timed_s: float | None,
    iterations: int,
    interval_s: float,
) -> tuple[dict, dict]:
    """(`energy_samples` for the RunResult, the windows' description for its context)."""
    if sensor.source is None:
        return no_energy_samples(sensor.note), {}
    windows = cut_windows(sensor, output, timed_s)
    if windows.active is None or iterations < 1:
        why = windows.description.get("why", "no timed iterations to attribute energy to")
        return no_energy_samples(f"{sensor.name} readings unusable: {why}"), windows.description
    samples = build_energy_samples(sensor.source, windows.idle, windows.active, iterations, interval_s)
    description = {
        **windows.description,
        "idle_s": windows.idle.duration_s if windows.idle else 0.0,
        "active_s": windows.active.duration_s,
    }
    return samples, description


def request_json_for_phone(request_dict: dict, artifact_on_phone: str,
                           check_inputs_on_phone: str = "") -> str:
    """The request the native runner reads on the phone: the artifact (and the check inputs,
    when there are any) at their phone paths."""
    return json.dumps({**request_dict, "artifact_path": artifact_on_phone,
                       "check_inputs_path": check_inputs_on_phone}, allow_nan=False)


# Lines of a failed trial's program log kept as its `log`.
RUNNER_LOG_LINES = 60


def log_tail(log: str, lines: int = 3) -> str:
    kept = [line.strip() for line in log.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "no output"


def with_log(result: RunResult, log: str) -> RunResult:
    """`result` with the last lines of its program's log as its `log`, if any."""
    lines = [line.rstrip() for line in log.splitlines() if line.strip()][-RUNNER_LOG_LINES:]
    if not lines:
        return result
    return dataclasses.replace(result, log="\n".join(lines))
