"""Files a test puts on the simulated phone, either fixed or computed from the phone's clock.

A dynamic file is a function of `t`, seconds since the phone booted. Its file is rewritten on
`refresh()`, which the phone calls before every shell command and sync request (so a value the
test just changed is what the next command sees), and by a background ticker every `tick_s`
(so a loop running on the phone sees values move). Every write replaces the file atomically, so
a reader never sees half a value; a reader has to re-open the file to see a new one, as `cat`
and most sysfs readers do.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable, Union

from .sandbox import DeviceSandbox

logger = logging.getLogger(__name__)

Value = Union[str, int, float]
Content = Union[Value, Callable[[float], Value]]


def render(value: Value) -> str:
    """Text of a file holding `value`, newline-terminated like sysfs and command output."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text if not text or text.endswith("\n") else text + "\n"


class DeviceFiles:
    """Writes text files at device paths; dynamic ones are re-rendered as the clock moves."""

    def __init__(self, sandbox: DeviceSandbox, clock: Callable[[], float], tick_s: float):
        self._sandbox = sandbox
        self._clock = clock
        self._tick_s = tick_s
        self._dynamic: dict[str, Callable[[float], Value]] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def write(self, device_path: str, content: Content) -> None:
        """Put `content` at `device_path`, creating directories; a callable makes it dynamic."""
        with self._lock:
            if callable(content):
                self._dynamic[device_path] = content
                self._write_text(device_path, render(content(self._clock())))
                self._start_ticker()
            else:
                self._dynamic.pop(device_path, None)
                self._write_text(device_path, render(content))

    def read(self, device_path: str) -> str:
        return self._sandbox.host_path(device_path).read_text()

    def remove(self, device_path: str) -> None:
        with self._lock:
            self._dynamic.pop(device_path, None)
            self._sandbox.host_path(device_path).unlink(missing_ok=True)

    def refresh(self) -> None:
        """Re-render every dynamic file at the current time."""
        with self._lock:
            t = self._clock()
            for device_path, content in list(self._dynamic.items()):
                try:
                    text = render(content(t))
                except Exception:  # a broken test callable must not kill the ticker
                    logger.exception("rendering %s on the simulated phone failed", device_path)
                    continue
                self._write_text(device_path, text)

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()

    def _write_text(self, device_path: str, text: str) -> None:
        if not self._sandbox.owns(device_path):
            raise ValueError(
                f"{device_path} is outside the phone's sandbox; create its top-level directory first."
            )
        path = self._sandbox.host_path(device_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A dot-name keeps the half-written file out of globs such as thermal_zone*/temp.
        scratch = path.with_name(f".{path.name}.adb_sim_new")
        scratch.write_text(text)
        os.replace(scratch, path)

    def _start_ticker(self) -> None:
        if self._ticker is None and not self._stop.is_set():
            self._ticker = threading.Thread(target=self._tick, name="adb-sim-ticker", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self._tick_s):
            self.refresh()

