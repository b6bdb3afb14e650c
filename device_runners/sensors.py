"""Raw energy, power and temperature readings, and the `energy_samples` layout runners emit.

Runners read sensors with this module and put the raw readings into `RunResult.energy_samples`;
`harness.energy` turns them into joules per inference. Nothing here computes an energy, so every
figure in a report traces back to numbers a sensor printed.

Every reader takes `root` (default "/") and reads `<root>/sys/...`, so tests point it at a
temporary tree. Every parser takes text, so the Android runner reuses it on what `adb shell`
printed (the `*_SHELL` commands below print exactly what the parsers expect). A machine without
a sensor is the common case: finders then return None, readers an empty result.

Energy sources
--------------
rapl     Linux powercap, `/sys/class/powercap/intel-rapl:N[:M]/energy_uj`: cumulative µJ that
         wraps at `max_energy_range_uj`. AMD Zen uses the same `intel-rapl:N` names (Linux 5.11+).
         The `intel-rapl-mmio:N` zones repeat package-N through another interface and are skipped.
         Subzones (core, uncore, dram) are recorded, but only the top-level `package-N` zones are
         summed: core and uncore lie inside the package, and psys contains it.
odpm     Android On-Device Power Monitor (Pixel 6 and later), `/sys/bus/iio/devices/iio:deviceN/`.
         `energy_value` is a `t=<boot time, ms>` line and then one line per channel,
         `CH<n>(T=<ms since the channel started>)[<RAIL_NAME>], <cumulative energy, µWs>`
         (µWs is µJ; the counter is 64-bit and does not wrap). `enabled_rails` lists
         `CH<n>[<RAIL_NAME>]:<subsystem>`. Phones have two such devices (main and sub PMIC);
         rail names are unique across them, and all enabled rails are summed.
battery  `/sys/class/power_supply/battery/{current_now,voltage_now,status}`: instantaneous
         current and voltage, and the charging status word. The kernel ABI says µA and µV with
         current positive while charging, but phones disagree on both, so the values are stored
         as printed and `harness.energy` settles units and sign from magnitude and status.

The `energy_samples` layout (version 1)
---------------------------------------
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

import math
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

LAYOUT_VERSION = 1

# Commands for `adb shell` whose output the parsers below read.
ODPM_SHELL = "cat /sys/bus/iio/devices/iio:device*/energy_value"
ODPM_RAILS_SHELL = "cat /sys/bus/iio/devices/iio:device*/enabled_rails"
BATTERY_SHELL = "cd /sys/class/power_supply/battery && cat current_now voltage_now status"
THERMAL_SHELL = (
    "for z in /sys/class/thermal/thermal_zone*; do "
    'echo "$z $(cat $z/type) $(cat $z/temp)"; done 2>/dev/null'
)
THERMALSERVICE_SHELL = "dumpsys thermalservice"

# Temperatures outside this range (°C) come from absent or disabled sensors, which print values
# such as -273000 or 2^31-1 instead of failing.
PLAUSIBLE_TEMP_C = (-40.0, 150.0)

# Android's PowerManager.THERMAL_STATUS_* constants, in order from 0.
ANDROID_THERMAL_STATUS = (
    "none", "light", "moderate", "severe", "critical", "emergency", "shutdown"
)


class SensorUnavailable(Exception):
    """A sensor exists but cannot be used; the message says what to do about it."""


# ----------------------------------------------------------------------------------------------
# Readings, windows and sources


class Reading(NamedTuple):
    """One read of a source: a number per channel, and the sensor's own clock when it has one."""

    values: tuple[float, ...]
    t_s: float | None = None  # None: the sampler stamps the reading with the host clock
    status: str = ""  # battery charging status word at this reading


@dataclass(frozen=True)
class EnergySource:
    """What a sensor measures and how to read it once. `read` must be cheap and thread-safe."""

    name: str  # rapl, odpm, battery, ios
    kind: str  # counter, power, battery
    unit: str
    channels: tuple[str, ...]
    summed: tuple[str, ...]
    read: Callable[[], Reading] = field(repr=False, compare=False)
    counter_ranges: tuple[int | None, ...] | None = None


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


# ----------------------------------------------------------------------------------------------
# Sampling


class EnergySampler:
    """Reads a source every `interval_s` in a background thread between `start()` and `stop()`.

    `start()` and `stop()` each take one reading in the calling thread, so the window begins
    before and ends after whatever the caller runs in between, however the thread is scheduled.
    An exception raised by `read` in the thread is raised again by `stop()`.
    """

    def __init__(self, read: Callable[[], Reading], interval_s: float = 0.05):
        if interval_s <= 0:
            raise ValueError("interval_s must be positive.")
        self.read = read
        self.interval_s = interval_s
        self._readings: list[tuple[float, Reading]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _take(self) -> None:
        before = time.monotonic()
        reading = self.read()
        # The read happened somewhere inside [before, after]; the middle is the best guess.
        t = reading.t_s if reading.t_s is not None else (before + time.monotonic()) / 2
        self._readings.append((t, reading))

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval_s):
                self._take()
        except BaseException as exc:  # handed to stop(), which raises it in the caller's thread
            self._error = exc

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("The sampler is already running.")
        self._readings = []
        self._error = None
        self._stop.clear()
        self._take()
        self._thread = threading.Thread(target=self._loop, name="energy-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> EnergyWindow:
        if self._thread is None:
            raise RuntimeError("The sampler was not started.")
        self._stop.set()
        self._thread.join()
        self._thread = None
        if self._error is not None:
            raise self._error
        self._take()
        has_status = bool(self._readings[0][1].status)
        return EnergyWindow(
            t_s=tuple(t for t, _ in self._readings),
            values=tuple(tuple(r.values) for _, r in self._readings),
            status=tuple(r.status for _, r in self._readings) if has_status else (),
        )

    def sample_for(self, duration_s: float) -> EnergyWindow:
        """Sample for `duration_s` while the caller waits: the idle window."""
        self.start()
        try:
            time.sleep(duration_s)
        finally:
            window = self.stop()
        return window


# ----------------------------------------------------------------------------------------------
# RAPL (Linux powercap)


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


# ----------------------------------------------------------------------------------------------
# ODPM (Android On-Device Power Monitor)


class OdpmReading(NamedTuple):
    t_ms: int  # the device's boot clock when the first block was printed
    energy_uws: dict[str, int]  # rail name -> cumulative energy in µWs (= µJ)


_ODPM_LINE = re.compile(r"^CH(\d+)\(T=(\d+)\)\[([^\]]+)\],\s*(\d+)$")
_ODPM_RAIL = re.compile(r"^CH(\d+)\[([^\]]+)\]:(.*)$")


def parse_odpm(text: str) -> OdpmReading:
    """Parse `energy_value` text; several devices' files may be concatenated (as `ODPM_SHELL` does).

        t=123456
        CH0(T=123456)[S4M_VDD_CPUCL0], 18391718660
    """
    t_ms: int | None = None
    energy: dict[str, int] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("t="):
            if t_ms is None:
                t_ms = int(line[2:])
            continue
        match = _ODPM_LINE.match(line)
        if match is None:
            raise ValueError(f"Not an ODPM energy_value line: {line!r}")
        rail = match.group(3)
        if rail in energy:
            raise ValueError(f"ODPM rail {rail!r} appears twice.")
        energy[rail] = int(match.group(4))
    if t_ms is None or not energy:
        raise ValueError("ODPM energy_value text has no 't=' line or no channels.")
    return OdpmReading(t_ms, energy)


def parse_odpm_rails(text: str) -> dict[str, str]:
    """Parse `enabled_rails` text into {rail name: subsystem}, e.g. {"S4M_VDD_CPUCL0": "CPU"}."""
    rails = {}
    for line in text.splitlines():
        match = _ODPM_RAIL.match(line.strip())
        if match:
            rails[match.group(2)] = match.group(3).strip()
    return rails


def odpm_source(read_text: Callable[[], str], rails_text: str = "") -> EnergySource:
    """An ODPM source over any transport: `read_text` returns `energy_value` text (e.g. over adb).

    With `rails_text` (the `enabled_rails` text) only enabled rails are kept, as Android's
    power-stats HAL does; otherwise every channel printed is.
    """
    first = parse_odpm(read_text())
    enabled = parse_odpm_rails(rails_text)
    channels = tuple(r for r in first.energy_uws if not enabled or r in enabled)
    if not channels:
        raise SensorUnavailable("ODPM lists no enabled rail; nothing to measure.")

    def read() -> Reading:
        reading = parse_odpm(read_text())
        return Reading(tuple(float(reading.energy_uws[r]) for r in channels), reading.t_ms / 1000)

    return EnergySource(
        name="odpm",
        kind="counter",
        unit="uJ",
        channels=channels,
        summed=channels,
        read=read,
        counter_ranges=None,
    )


def find_odpm(root: str | Path = "/") -> EnergySource | None:
    """The ODPM devices under `root` as one source, or None where there are none."""
    devices = sorted((Path(root) / "sys/bus/iio/devices").glob("iio:device*"))
    energy_files = [d / "energy_value" for d in devices if (d / "energy_value").is_file()]
    if not energy_files:
        return None
    try:
        rails_text = "".join(
            (d / "enabled_rails").read_text() for d in devices if (d / "enabled_rails").is_file()
        )
        return odpm_source(lambda: "".join(f.read_text() for f in energy_files), rails_text)
    except PermissionError:
        raise SensorUnavailable(
            f"ODPM files under {energy_files[0].parent.parent} are not readable by this user."
        ) from None


# ----------------------------------------------------------------------------------------------
# Battery


class BatteryReading(NamedTuple):
    current: int  # as printed: µA by the kernel ABI, mA on some phones; sign varies by vendor
    voltage: int  # as printed: µV by the kernel ABI, mV on some phones
    status: str  # Charging, Discharging, Not charging, Full, Unknown


def parse_battery(text: str) -> BatteryReading:
    """Parse the three lines `cat current_now voltage_now status` prints (see `BATTERY_SHELL`)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < 3:
        raise ValueError(f"Expected current_now, voltage_now and status lines, got {text!r}.")
    return BatteryReading(int(lines[0]), int(lines[1]), lines[2])


def battery_source(read_text: Callable[[], str]) -> EnergySource:
    """A battery source over any transport: `read_text` returns what `BATTERY_SHELL` prints."""
    parse_battery(read_text())  # fail now, not in the sampler thread

    def read() -> Reading:
        battery = parse_battery(read_text())
        return Reading((float(battery.current), float(battery.voltage)), status=battery.status)

    return EnergySource(
        name="battery",
        kind="battery",
        unit="sysfs",
        channels=("current", "voltage"),
        summed=("current", "voltage"),
        read=read,
    )


def find_battery(root: str | Path = "/") -> EnergySource | None:
    """The battery under `root` (`power_supply/battery`, else the first supply of type Battery)."""
    supplies = Path(root) / "sys/class/power_supply"
    candidates = [supplies / "battery"] + sorted(supplies.glob("*"))
    for supply in candidates:
        files = [supply / n for n in ("current_now", "voltage_now", "status")]
        if not all(f.is_file() for f in files):
            continue
        if supply.name != "battery":
            kind = supply / "type"
            if not kind.is_file() or kind.read_text().strip() != "Battery":
                continue
        try:
            return battery_source(lambda files=files: "\n".join(f.read_text() for f in files))
        except (OSError, ValueError):
            continue
    return None


def find_energy_source(root: str | Path = "/") -> EnergySource | None:
    """The best energy source under `root`: RAPL, then ODPM, then the battery; None if none.

    Raises SensorUnavailable when a sensor exists but none can be read.
    """
    problems = []
    for find in (find_rapl, find_odpm, find_battery):
        try:
            source = find(root)
        except SensorUnavailable as exc:
            problems.append(str(exc))
            continue
        if source is not None:
            return source
    if problems:
        raise SensorUnavailable(" ".join(problems))
    return None


# ----------------------------------------------------------------------------------------------
# Thermal


@dataclass(frozen=True)
class ThermalReading:
    """The thermal state at one moment: the device's own word and every zone's temperature."""

    state: str = "unknown"  # Android: none, light, ... shutdown; iOS: nominal, fair, ...
    temps_c: dict[str, float] = field(default_factory=dict)

    @property
    def max_temp_c(self) -> float | None:
        return max(self.temps_c.values()) if self.temps_c else None

    def to_dict(self) -> dict:
        return {"state": self.state, "temps_c": dict(self.temps_c)}

    @classmethod
    def from_dict(cls, data: dict) -> "ThermalReading":
        return cls(data.get("state", "unknown"), dict(data.get("temps_c", {})))


def parse_millicelsius(text: str) -> float | None:
    """A thermal zone's `temp` (millidegrees Celsius) in °C; None if unreadable or implausible."""
    try:
        celsius = int(text.strip()) / 1000
    except ValueError:
        return None
    low, high = PLAUSIBLE_TEMP_C
    return celsius if low <= celsius <= high else None


def _zone_temps(rows: Sequence[tuple[str, str, str]]) -> dict[str, float]:
    """{zone type: °C} from (zone directory, type, temp text) rows; a repeated type gets @zone."""
    temps: dict[str, float] = {}
    for zone, kind, temp_text in rows:
        celsius = parse_millicelsius(temp_text)
        if celsius is None:
            continue
        key = kind or zone
        if key in temps:
            key = f"{kind}@{zone}"
        temps[key] = celsius
    return temps


def _zone_number(path: Path) -> int:
    digits = path.name.removeprefix("thermal_zone")
    return int(digits) if digits.isdigit() else -1


def read_thermal_zones(root: str | Path = "/") -> dict[str, float]:
    """{zone type: °C} for every readable thermal zone under `root`; {} where there are none."""
    rows = []
    zones = (Path(root) / "sys/class/thermal").glob("thermal_zone*")
    for zone in sorted(zones, key=_zone_number):
        try:
            kind, temp = (zone / "type").read_text().strip(), (zone / "temp").read_text()
            rows.append((zone.name, kind, temp))
        except OSError:  # disabled zones fail to read (EINVAL, ENODATA)
            continue
    return _zone_temps(rows)


def parse_thermal_zones(text: str) -> dict[str, float]:
    """Parse what `THERMAL_SHELL` prints: one `<zone path> <type> <millidegrees>` line per zone."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            rows.append((Path(parts[0]).name, " ".join(parts[1:-1]), parts[-1]))
    return _zone_temps(rows)


_THERMAL_STATUS = re.compile(r"^\s*Thermal Status:\s*(\d+)", re.MULTILINE)
_HAL_TEMPERATURE = re.compile(r"Temperature\{mValue=([^,]+), mType=[^,]*, mName=([^,]+),")


def parse_thermalservice(text: str) -> ThermalReading:
    """Parse `dumpsys thermalservice` (Android 10+): the status word and the HAL's temperatures."""
    match = _THERMAL_STATUS.search(text)
    state = "unknown"
    if match and int(match.group(1)) < len(ANDROID_THERMAL_STATUS):
        state = ANDROID_THERMAL_STATUS[int(match.group(1))]
    temps: dict[str, float] = {}
    low, high = PLAUSIBLE_TEMP_C
    # "Current temperatures from HAL" comes after "Cached temperatures", so it wins.
    for value, name in _HAL_TEMPERATURE.findall(text):
        try:
            celsius = float(value)
        except ValueError:
            continue
        if math.isfinite(celsius) and low <= celsius <= high:
            temps[name] = celsius
    return ThermalReading(state, temps)


def read_thermal(root: str | Path = "/") -> ThermalReading:
    """This machine's thermal reading. Linux has no state word, so the state is "unknown"."""
    return ThermalReading("unknown", read_thermal_zones(root))
