"""Helpers that lay out the sysfs files a benchmark runner reads on an Android phone.

Units are the kernel's: kHz for cpufreq, µA and µV for the battery, millidegrees Celsius for
thermal zones, µWs (= µJ) for ODPM energy counters. Any value may be a callable of `t`, seconds
since the phone booted, to make it move over time (see files.py for when it is re-rendered).

ODPM energy is exact by construction: a rail's counter is a pure function of the boot-clock
millisecond it is printed at (`EnergyCounter.energy_uws`), and `energy_value` prints that
millisecond next to it. A test that knows which `t=` values the runner read can therefore compute
the energy the runner should report to the last µJ, whatever the ticker's timing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence, Union

from .files import Content, DeviceFiles

Power = Union[float, Callable[[float], float]]  # watts, or watts as a function of t seconds

CPU_DIR = "/sys/devices/system/cpu"
BATTERY_DIR = "/sys/class/power_supply/battery"
THERMAL_DIR = "/sys/class/thermal"
IIO_DIR = "/sys/bus/iio/devices"


class EnergyCounter:
    """Cumulative energy of one power rail since boot, in µWs, for any boot-clock millisecond.

    A constant power P gives exactly P * t. A callable power is integrated with the midpoint rule
    on whole milliseconds (sum over k < t_ms of power((k + 0.5) / 1000) * 1 ms), always adding
    the terms in order k = 0, 1, 2, ..., so the same t_ms prints the same number however often
    and in whatever order it is asked for. Sums at every whole second are kept, so asking about
    the past costs at most a second's worth of terms.
    """

    def __init__(self, power_w: Power):
        self._power_w = power_w
        self._lock = threading.Lock()
        self._second_sums = [0.0]  # [n]: the sum of the first n * 1000 terms
        self._last = (0, 0.0)  # (t_ms, sum) of the latest query, to continue from

    def energy_uws(self, t_ms: int) -> int:
        if t_ms < 0:
            raise ValueError(f"t_ms must be a boot-clock time, not {t_ms}.")
        if not callable(self._power_w):
            return round(self._power_w * 1000 * t_ms)  # W * ms = mJ = 1000 µWs
        with self._lock:
            second = t_ms // 1000
            while len(self._second_sums) <= second:
                start = (len(self._second_sums) - 1) * 1000
                next_sum = self._add_terms(self._second_sums[-1], start, start + 1000)
                self._second_sums.append(next_sum)
            last_ms, last_sum = self._last
            if last_ms // 1000 == second and last_ms <= t_ms:
                total = self._add_terms(last_sum, last_ms, t_ms)
            else:
                total = self._add_terms(self._second_sums[second], second * 1000, t_ms)
            self._last = (t_ms, total)
            return round(total)

    def _add_terms(self, total: float, start_ms: int, end_ms: int) -> float:
        for k in range(start_ms, end_ms):
            total += self._power_w((k + 0.5) / 1000) * 1000  # p W for 1 ms = 1000 p µWs
        return total

    def energy_j(self, t0_ms: int, t1_ms: int) -> float:
        """Energy between two boot-clock milliseconds, as a runner differencing the counter sees it."""
        return (self.energy_uws(t1_ms) - self.energy_uws(t0_ms)) / 1e6


@dataclass(frozen=True)
class OdpmRail:
    """One ODPM channel: its rail name, the power drawn through it, its subsystem label."""

    name: str
    power_w: Power
    subsystem: str = ""


class OdpmDevice:
    """One ODPM PMIC (`/sys/bus/iio/devices/iio:deviceN`) and the counters behind its rails."""

    def __init__(self, name: str, rails: Sequence[OdpmRail]):
        if not rails:
            raise ValueError("An ODPM device needs at least one rail.")
        self.name = name
        self.rails = tuple(rails)
        self.counters = {rail.name: EnergyCounter(rail.power_w) for rail in self.rails}

    @property
    def directory(self) -> str:
        return f"{IIO_DIR}/{self.name}"

    def energy_value(self, t_s: float) -> str:
        """The `energy_value` text at `t_s`: `t=<ms>`, then `CH<n>(T=<ms>)[<rail>], <µWs>`."""
        t_ms = int(t_s * 1000)
        lines = [f"t={t_ms}"]
        for channel, rail in enumerate(self.rails):
            # Channels start counting at boot, so T (ms since the channel started) equals t.
            energy = self.counters[rail.name].energy_uws(t_ms)
            lines.append(f"CH{channel}(T={t_ms})[{rail.name}], {energy}")
        return "\n".join(lines) + "\n"

    def enabled_rails(self) -> str:
        return "".join(f"CH{n}[{rail.name}]:{rail.subsystem}\n" for n, rail in enumerate(self.rails))


class Sysfs:
    """Writes sysfs files on a simulated phone; paths may be given with or without "/sys"."""

    def __init__(self, files: DeviceFiles):
        self._files = files
        self._thermal_zones = 0
        self.odpm_devices: dict[str, OdpmDevice] = {}

    def write(self, path: str, content: Content) -> None:
        self._files.write(_sys_path(path), content)

    def read(self, path: str) -> str:
        return self._files.read(_sys_path(path))

    def set_cpus(self, max_freqs_khz: Sequence[int], *, min_freq_khz: int = 300_000) -> None:
        """One cpu<N> per entry, with its cpufreq limits and the online/possible/present masks.

        A phone's big cores are the ones with the highest `cpuinfo_max_freq`. Note that `taskset`
        runs for real on this machine, so masks naming more CPUs than it has fail as they would
        on a phone with fewer cores.
        """
        if not max_freqs_khz:
            raise ValueError("A phone needs at least one CPU.")
        cpu_range = f"0-{len(max_freqs_khz) - 1}" if len(max_freqs_khz) > 1 else "0"
        for mask in ("possible", "present", "online"):
            self.write(f"{CPU_DIR}/{mask}", cpu_range)
        for cpu, max_khz in enumerate(max_freqs_khz):
            cpufreq = f"{CPU_DIR}/cpu{cpu}/cpufreq"
            self.write(f"{cpufreq}/cpuinfo_max_freq", max_khz)
            self.write(f"{cpufreq}/cpuinfo_min_freq", min(min_freq_khz, max_khz))
            self.write(f"{cpufreq}/scaling_max_freq", max_khz)
            self.write(f"{cpufreq}/scaling_cur_freq", max_khz)
            self.write(f"{CPU_DIR}/cpu{cpu}/online", 1)

    def set_battery(
        self,
        *,
        current_ua: Content = -400_000,
        voltage_uv: Content = 3_900_000,
        capacity: Content = 80,
        status: Content = "Discharging",
    ) -> None:
        """`/sys/class/power_supply/battery`: current_now, voltage_now, capacity, status, type."""
        self.write(f"{BATTERY_DIR}/type", "Battery")
        self.write(f"{BATTERY_DIR}/present", 1)
        self.write(f"{BATTERY_DIR}/current_now", current_ua)
        self.write(f"{BATTERY_DIR}/voltage_now", voltage_uv)
        self.write(f"{BATTERY_DIR}/capacity", capacity)
        self.write(f"{BATTERY_DIR}/status", status)

    def add_thermal_zone(self, zone_type: str, temp_mc: Content) -> int:
        """Add `/sys/class/thermal/thermal_zone<N>` with `type` and `temp`; returns N."""
        zone = self._thermal_zones
        self._thermal_zones += 1
        self.write(f"{THERMAL_DIR}/thermal_zone{zone}/type", zone_type)
        self.write(f"{THERMAL_DIR}/thermal_zone{zone}/temp", temp_mc)
        return zone

    def add_odpm(
        self, rails: Sequence[OdpmRail] | Mapping[str, Power], device: str = "iio:device0"
    ) -> OdpmDevice:
        """Add an ODPM device whose `energy_value` counters integrate each rail's power.

        `rails` is a list of OdpmRail or a {rail name: power} mapping. The returned device's
        `counters[rail].energy_uws(t_ms)` is exactly what `energy_value` prints at `t=t_ms`.
        """
        if isinstance(rails, Mapping):
            rails = [OdpmRail(name, power) for name, power in rails.items()]
        odpm = OdpmDevice(device, rails)
        self.odpm_devices[device] = odpm
        self.write(f"{odpm.directory}/enabled_rails", odpm.enabled_rails())
        self.write(f"{odpm.directory}/energy_value", odpm.energy_value)
        return odpm


def _sys_path(path: str) -> str:
    path = "/" + path.lstrip("/")
    return path if path == "/sys" or path.startswith("/sys/") else "/sys" + path
