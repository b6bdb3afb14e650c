"""Energy on an iPhone: the battery's current and voltage around a trial, from pymobiledevice3.

`diagnostics battery monitor` prints one reading a second (instant current in signed mA, voltage
in mV, whether it charges). A `BatteryRecorder` reads them in a thread from before the app is
launched (the idle baseline, at least `IDLE_S`) to after it finishes; the active window is then
cut at the wall-clock times the app reports around its timed loop (`timed_start_unix`,
`timed_end_unix` in the result's context), the draw at those instants interpolated between the
readings around them. The readings go into the `energy_samples` layout (kind "battery", source
"ios") and harness/energy.py turns them into joules, as for Android's battery.

A phone on a USB cable is charging: the battery current is then the charger's minus the phone's,
which says nothing about the model. Then there is no energy figure, only the reason and how to
measure it instead (over Wi-Fi, with the phone on battery).
"""

from __future__ import annotations

import threading
import time
from typing import Iterator

from device_runners.ios.transport import BatteryReading
from device_runners.sensors import EnergySource, EnergyWindow, Reading, build_energy_samples, no_energy_samples

IDLE_S = 3.0  # at 1 Hz, three readings at least
INTERVAL_S = 1.0  # how often the monitor prints
# How far the phone's clock may be from this computer's before the timed loop, as the phone
# reports it, cannot be placed among the readings (both keep network time: milliseconds apart).
CLOCK_TOLERANCE_S = 2.0
MIN_READINGS_INSIDE = 3  # readings within the timed loop: below this, the edges are the figure
CHARGING = ("energy unavailable while charging: on a USB cable the battery current is the "
            "charger's minus the phone's; pair the iPhone for Wi-Fi (Xcode or `pymobiledevice3 "
            "lockdown wifi-connections --state on`), unplug it, and run with the phone on battery")
SOURCE = EnergySource(name="ios", kind="battery", unit="sysfs", channels=("current", "voltage"),
                      summed=("current", "voltage"), read=lambda: Reading((0.0, 0.0)))


class BatteryRecorder:
    """Keeps every battery reading a stream yields, from `start()` until `stop()`."""

    def __init__(self, stream: Iterator[BatteryReading]):
        self.stream = stream
        self.readings: list[BatteryReading] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._read, name="ios-battery", daemon=True)

    def _read(self) -> None:
        try:
            for reading in self.stream:
                self.readings.append(reading)
                if self._stopped.is_set():
                    break
        except Exception:  # noqa: BLE001 - a broken monitor means no energy, never a failed trial
            pass

    def start(self) -> "BatteryRecorder":
        self._thread.start()
        return self

    def wait_for_idle(self, seconds: float = IDLE_S, timeout_s: float = 15.0) -> None:
        """Wait until the readings span the idle baseline (or the monitor stays silent)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self.readings) >= 2 and self.readings[-1].t_s - self.readings[0].t_s >= seconds:
                return
            time.sleep(0.1)

    def wait_past(self, t_s: float | None, timeout_s: float = 3 * INTERVAL_S) -> None:
        """Wait until a reading taken at or after `t_s` (the end of the timed loop) has come, so
        that the loop's end can be placed between two readings; a monitor one reading behind
        when the app finishes would otherwise leave the trial without energy. Bounded: a
        silent monitor costs at most `timeout_s`."""
        if t_s is None:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._thread.is_alive():
            if self.readings and self.readings[-1].t_s >= t_s:
                return
            time.sleep(0.05)

    def stop(self) -> list[BatteryReading]:
        self._stopped.set()
        close = getattr(self.stream, "close", None)
        if close is not None:
            try:
                close()  # ends the monitor process (a generator's finally)
            except (RuntimeError, ValueError):  # still running in the reader thread
                pass
        self._thread.join(timeout=5)
        return list(self.readings)


def _window(readings: list[BatteryReading]) -> EnergyWindow:
    return EnergyWindow(
        t_s=tuple(r.t_s for r in readings),
        values=tuple((r.current_ma, r.voltage_mv) for r in readings),
        status=tuple("Charging" if r.charging else "Discharging" for r in readings),
    )


def energy_samples(readings: list[BatteryReading], launched_at: float, finished_at: float,
                   timed_start: float | None, timed_end: float | None, iterations: int) -> dict:
    """The trial's `energy_samples`: the idle readings before the launch, and the readings
    around the timed loop; or why there are none.

    `launched_at` and `finished_at` are this computer's clock around the launch and the
    result; `timed_start` and `timed_end` are the phone's. Both clocks keep network time, so
    they agree to well under a reading's second; a timed loop outside the launch means they
    do not, and cutting the readings by it would measure the wrong second.
    """
    if not readings:
        return no_energy_samples("the battery monitor printed no readings")
    if any(r.charging for r in readings):
        return no_energy_samples(CHARGING)
    if timed_start is None or timed_end is None or timed_end <= timed_start:
        return no_energy_samples("the app did not report when its timed loop ran")
    if timed_start < launched_at - CLOCK_TOLERANCE_S or timed_end > finished_at + CLOCK_TOLERANCE_S:
        off = timed_start - launched_at if timed_start < launched_at else timed_end - finished_at
        return no_energy_samples(
            f"the iPhone's clock is about {abs(off):.0f} s {'behind' if off < 0 else 'ahead of'} this "
            "computer's, so its timed loop cannot be placed among the battery readings: turn on "
            "Settings > General > Date & Time > Set Automatically on the phone, and network time here")
    idle = [r for r in readings if r.t_s <= launched_at]
    inside = [r for r in readings if timed_start < r.t_s < timed_end]
    before = [r for r in readings if r.t_s <= timed_start]
    after = [r for r in readings if r.t_s >= timed_end]
    if len(inside) < MIN_READINGS_INSIDE or not before or not after:
        return no_energy_samples(
            f"the timed loop ({timed_end - timed_start:.1f} s) held {len(inside)} of the battery "
            f"monitor's readings (one a second), fewer than {MIN_READINGS_INSIDE}: raise --min-time "
            "(10 s or more)")
    # Cut the trace at the loop's own edges, the draw there interpolated between the readings
    # around them: the seconds of warm-up before and of writing the result after are not the
    # timed iterations' energy.
    active = [_at(before[-1], inside[0], timed_start), *inside, _at(inside[-1], after[0], timed_end)]
    return build_energy_samples(SOURCE, _window(idle) if len(idle) >= 2 else None,
                                _window(active), iterations, INTERVAL_S)


def _at(a: BatteryReading, b: BatteryReading, t_s: float) -> BatteryReading:
    """The reading between `a` and `b` at `t_s`, linearly interpolated."""
    w = (t_s - a.t_s) / (b.t_s - a.t_s) if b.t_s > a.t_s else 0.0
    return BatteryReading(t_s, a.current_ma + w * (b.current_ma - a.current_ma),
                          a.voltage_mv + w * (b.voltage_mv - a.voltage_mv), a.charging or b.charging)
