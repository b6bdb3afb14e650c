"""A device kind whose devices fail with adb's own error, not a DeviceError: what a phone that
drops off the bus, or an adb server that dies, raises from deep inside adbutils. Joined through
HARNESS_DEVICE_KINDS=tests.support.flaky_kind:KIND, as a lab's own kind would be.

    flaky-open   opening it raises adbutils.AdbError
    flaky-run    opens (the host's runtimes), and every trial raises adbutils.AdbError
"""

from __future__ import annotations

import sys

from device_runners.contract import DeviceInfo, RunRequest, RunResult
from device_runners.host.runner import HostRunner
from device_runners.runner import (
    AttachedDevice,
    DeviceKind,
    GateReport,
    Runner,
    RuntimeSupport,
)

NAMES = ("flaky-open", "flaky-run")


def _device(name: str) -> DeviceInfo:
    return DeviceInfo(device_id=name, platform=sys.platform, product_model="Flaky phone",
                      soc="the host worker", os_version="n/a", cpu_count=1, kind="flaky")


def _adb_error(what: str) -> Exception:
    from adbutils import AdbError

    return AdbError(f"device '{what}' not found")


class FlakyRunner(Runner):
    def __init__(self, name: str):
        self.device = _device(name)
        self.host = HostRunner()

    def runtimes(self) -> RuntimeSupport:
        return self.host.runtimes()

    def variants(self, runtime: str) -> tuple[str, ...]:
        return ()

    def run(self, request: RunRequest) -> RunResult:
        raise _adb_error(self.device.device_id)

    def gate(self) -> GateReport:
        return self.host.gate()

    def close(self) -> None:
        self.host.close()


def _open_runner(name, settings, options):
    if name == "flaky-open":
        raise _adb_error(name)
    return FlakyRunner(name) if name in NAMES else None


KIND = DeviceKind(
    name="flaky",
    description="phones that fail with adb's own errors (tests only)",
    list_devices=lambda: [AttachedDevice(_device(n), state="ready") for n in NAMES],
    open_runner=_open_runner,
    options=(),
)
