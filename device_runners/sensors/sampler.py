"""Reading an energy source on a clock, in a background thread, around what the caller runs."""

from __future__ import annotations

import threading
import time
from typing import Callable

from device_runners.sensors.layout import EnergyWindow
from device_runners.sensors.source import Reading


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

    @property
    def error(self) -> BaseException | None:
        """What stopped the sampling thread, if anything did (stop() raises it)."""
        return self._error

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
