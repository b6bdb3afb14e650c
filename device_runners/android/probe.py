"""What a phone says about itself, read through one `adb shell` and parsed here.

`PROBE_SHELL` prints every system property, every core's maximum frequency, the battery and the
thermal service in one go, each part under a `@@harness:<name>` line; `parse_probe` turns that
into a `PhoneProbe`. Everything here is a pure function of text, so tests feed it recorded output.

The fastest cores are the ones with the highest `cpuinfo_max_freq`: phones put little, mid and
big cores in clusters that differ in maximum frequency, and the benchmark pins to the fastest
cluster (or the fastest few, when more threads than big cores are asked for).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from device_runners.android.app_protocol import DEFAULT_PACKAGE
from device_runners.android.catalog import Catalog
from device_runners.contract import DeviceInfo
from device_runners.phones import describe_clusters as describe_catalog_clusters
from device_runners.sensors.thermal import ThermalReading, parse_thermalservice

MARKER = "@@harness:"  # starts a section line in the output of every script the runner sends

PROBE_SHELL = (
    "getprop; "
    f"echo {MARKER}cpus; "
    "for c in /sys/devices/system/cpu/cpu[0-9]*; do "
    'echo "${c##*/} $(cat $c/cpufreq/cpuinfo_max_freq 2>/dev/null) $(cat $c/cpu_capacity 2>/dev/null)"; done; '
    f"echo {MARKER}battery; dumpsys battery 2>/dev/null; "
    f"echo {MARKER}battery_sysfs; "
    "cat /sys/class/power_supply/battery/capacity /sys/class/power_supply/battery/status "
    "2>/dev/null; "
    f"echo {MARKER}thermal; dumpsys thermalservice 2>/dev/null; "
    # The benchmark app's versionCode, or nothing when it is not installed (app_protocol.py).
    f"echo {MARKER}app; dumpsys package {DEFAULT_PACKAGE} 2>/dev/null | grep -m1 versionCode"
)

# `dumpsys battery` status codes (android.os.BatteryManager.BATTERY_STATUS_*).
BATTERY_STATUS = {1: "Unknown", 2: "Charging", 3: "Discharging", 4: "Not charging", 5: "Full"}

_PROP_LINE = re.compile(r"^\[([^\]]+)\]: \[(.*)\]$")
_MARKER_LINE = re.compile(rf"^{re.escape(MARKER)}(\w+)(?: (.*))?$")


@dataclass(frozen=True)
class Section:
    name: str
    argument: str
    text: str


def split_sections(output: str) -> list[Section]:
    """The `@@harness:<name> [argument]` sections of a script's output, in order.

    Lines before the first marker are dropped (a shell's stray warnings).
    """
    sections: list[Section] = []
    name = argument = None
    lines: list[str] = []
    for line in output.splitlines():
        match = _MARKER_LINE.match(line.rstrip("\r"))
        if match:
            if name is not None:
                sections.append(Section(name, argument, "\n".join(lines)))
            name, argument, lines = match.group(1), match.group(2) or "", []
        elif name is not None:
            lines.append(line)
    if name is not None:
        sections.append(Section(name, argument, "\n".join(lines)))
    return sections


def parse_getprop(text: str) -> dict[str, str]:
    """`getprop` with no argument: one `[name]: [value]` line per property."""
    props = {}
    for line in text.splitlines():
        match = _PROP_LINE.match(line.strip())
        if match:
            props[match.group(1)] = match.group(2)
    return props


def parse_cpu_freqs(text: str, column: int = 1) -> dict[int, int | None]:
    """Lines `cpu<N> <cpuinfo_max_freq kHz> [<cpu_capacity>]` -> {N: kHz} (column 2: {N:
    capacity}); None for a core without the file (offline, or hidden from the shell user)."""
    values: dict[int, int | None] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or not parts[0].startswith("cpu") or not parts[0][3:].isdigit():
            continue
        value = parts[column] if len(parts) > column else ""
        values[int(parts[0][3:])] = int(value) if value.isdigit() else None
    return dict(sorted(values.items()))


def clusters(freqs: dict[int, int | None]) -> list[tuple[int, tuple[int, ...]]]:
    """(max kHz, cores) per distinct maximum frequency, slowest first; unknown cores left out."""
    by_freq: dict[int, list[int]] = {}
    for cpu, khz in freqs.items():
        if khz is not None:
            by_freq.setdefault(khz, []).append(cpu)
    return [(khz, tuple(cpus)) for khz, cpus in sorted(by_freq.items())]


def fastest_cores(freqs: dict[int, int | None], threads: int = 1) -> tuple[int, ...]:
    """The fastest cluster, plus the next fastest ones until there is a core per thread.

    Empty when no core reports a frequency (then nothing is pinned).
    """
    chosen: list[int] = []
    for _, cpus in reversed(clusters(freqs)):
        if len(chosen) >= threads:
            break
        chosen.extend(cpus)
    return tuple(sorted(chosen))


def cpu_mask(cores: tuple[int, ...]) -> str:
    """The hexadecimal affinity mask `taskset` takes (toybox and util-linux alike)."""
    return format(sum(1 << c for c in cores), "x")


def describe_clusters(freqs: dict[int, int | None]) -> str:
    """"4x1.80 + 2x2.35 + 2x2.85 GHz" (slowest first)."""
    parts = [f"{len(cpus)}x{khz / 1e6:.2f}" for khz, cpus in clusters(freqs)]
    return " + ".join(parts) + " GHz" if parts else ""


@dataclass(frozen=True)
class BatteryState:
    level_pct: int | None = None
    status: str = "Unknown"  # Charging, Discharging, Not charging, Full, Unknown
    powered_by: tuple[str, ...] = ()  # "AC", "USB", "Wireless", "Dock" sources that are on
    temperature_c: float | None = None

    @property
    def on_external_power(self) -> bool:
        return bool(self.powered_by) or self.status in ("Charging", "Full")

    def describe(self) -> str:
        if self.level_pct is None:
            return "battery unknown"
        power = f", {'+'.join(self.powered_by)} powered" if self.powered_by else ""
        return f"battery {self.level_pct}% {self.status.lower()}{power}"


def parse_battery_state(dumpsys_text: str, sysfs_text: str = "") -> BatteryState:
    """`dumpsys battery` (every Android), else the sysfs `capacity` and `status` lines."""
    values: dict[str, str] = {}
    for line in dumpsys_text.splitlines():
        name, colon, value = line.strip().partition(":")
        if colon:
            values[name.strip().lower()] = value.strip()
    powered = tuple(
        source
        for source in ("AC", "USB", "Wireless", "Dock")
        if values.get(f"{source.lower()} powered") == "true"
    )
    level = values.get("level", "")
    if level.lstrip("-").isdigit():
        status_code = values.get("status", "")
        status = BATTERY_STATUS.get(int(status_code), "Unknown") if status_code.isdigit() else "Unknown"
        temperature = values.get("temperature", "")
        return BatteryState(
            level_pct=int(level),
            status=status,
            powered_by=powered,
            # dumpsys prints tenths of a degree Celsius.
            temperature_c=int(temperature) / 10 if temperature.lstrip("-").isdigit() else None,
        )
    lines = [line.strip() for line in sysfs_text.splitlines() if line.strip()]
    if len(lines) >= 2 and lines[0].isdigit():
        return BatteryState(level_pct=int(lines[0]), status=lines[1], powered_by=powered)
    return BatteryState(powered_by=powered)


@dataclass(frozen=True)
class PhoneProbe:
    props: dict[str, str]
    cpu_freqs: dict[int, int | None]
    battery: BatteryState
    thermal: ThermalReading
    thermal_text: str = field(default="", repr=False)
    app_version: int | None = None  # the benchmark app's versionCode; None: not installed
    cpu_capacities: dict[int, int | None] = field(default_factory=dict)  # the scheduler's, of 1024

    @property
    def model(self) -> str:
        return self.props.get("ro.product.model", "")

    @property
    def android_version(self) -> str:
        release = self.props.get("ro.build.version.release", "?")
        sdk = self.props.get("ro.build.version.sdk", "?")
        return f"Android {release} (SDK {sdk})"

    @property
    def soc_reports(self) -> tuple[str, ...]:
        return tuple(
            self.props.get(name, "")
            for name in ("ro.soc.model", "ro.board.platform", "ro.hardware")
        )


def parse_probe(output: str) -> PhoneProbe:
    parts: dict[str, str] = {}
    preamble, _, _ = output.partition(f"{MARKER}cpus")
    for section in split_sections(output):
        parts[section.name] = section.text
    thermal_text = parts.get("thermal", "")
    return PhoneProbe(
        props=parse_getprop(preamble),
        cpu_freqs=parse_cpu_freqs(parts.get("cpus", "")),
        cpu_capacities=parse_cpu_freqs(parts.get("cpus", ""), column=2),
        battery=parse_battery_state(parts.get("battery", ""), parts.get("battery_sysfs", "")),
        thermal=parse_thermalservice(thermal_text),
        thermal_text=thermal_text,
        app_version=_app_version(parts.get("app", "")),
    )


def _app_version(text: str) -> int | None:
    match = re.search(r"versionCode=(\d+)", text)
    return int(match[1]) if match else None


def describe_soc(probe: PhoneProbe, catalog: Catalog) -> str:
    """The SoC's name from the catalog, else what the phone reports (ro.soc.model first)."""
    soc = catalog.soc_for(probe.model, probe.soc_reports)
    if soc is not None:
        return soc.name
    manufacturer = probe.props.get("ro.soc.manufacturer", "")
    reported = next((r for r in probe.soc_reports if r), "")
    return f"{manufacturer} {reported}".strip()


def phone_topology(probe: PhoneProbe, catalog: Catalog):
    """The phone's clusters with their roles (device_runners/android/cores.py)."""
    from device_runners.android.cores import topology

    soc = catalog.soc_for(probe.model, probe.soc_reports)
    return topology(probe.cpu_freqs, probe.cpu_capacities, soc.clusters if soc else ())


def device_info(serial: str, probe: PhoneProbe, catalog: Catalog) -> DeviceInfo:
    soc = catalog.soc_for(probe.model, probe.soc_reports)
    clusters = phone_topology(probe, catalog)
    layout = " + ".join(f"{len(c.cpus)} {c.role} {c.max_khz / 1e6:.2f}" for c in clusters
                        if c.max_khz) + " GHz" if any(c.max_khz for c in clusters) else ""
    if not layout:
        layout = describe_clusters(probe.cpu_freqs)
    if not layout and soc is not None:  # cpufreq hidden: the catalog's nominal layout
        layout = describe_catalog_clusters(soc.clusters)
    return DeviceInfo(
        device_id=serial,
        platform="android",
        product_model=probe.model,
        soc=describe_soc(probe, catalog),
        cpu=layout,
        os_version=probe.android_version,
        cpu_count=len(probe.cpu_freqs) or (soc.core_count if soc else 0),
        kind="android",
    )
