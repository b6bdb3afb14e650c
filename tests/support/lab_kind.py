"""A device kind for the farm tests: `lab`, two devices (lab-a, lab-b) that measure with this
host's worker, so two farm workers in two processes each have a device of their own. It joins
the harness the way a lab's own kind would, through HARNESS_DEVICE_KINDS=lab_kind:KIND, and
notes in every result which device and which process measured it, and how long the trial took."""

from __future__ import annotations

import dataclasses
import os
import sys
import time

from device_runners.contract import DeviceInfo, RunRequest, RunResult
from device_runners.host.runner import HostRunner
from device_runners.runner import AttachedDevice, DeviceKind, GateReport, Runner, RuntimeSupport

NAMES = ("lab-a", "lab-b")


def _device(name: str) -> DeviceInfo:
    return DeviceInfo(device_id=name, platform=sys.platform, product_model="Lab board",
                      soc="the host worker", os_version="n/a", cpu_count=1, kind="lab")


class LabRunner(Runner):
    def __init__(self, name: str, cooldown_s: float):
        self.device = _device(name)
        self.host = HostRunner(cooldown_s=cooldown_s)

    def runtimes(self) -> RuntimeSupport:
        return self.host.runtimes()

    def variants(self, runtime: str) -> tuple[str, ...]:
        return ()

    def run(self, request: RunRequest) -> RunResult:
        started = time.perf_counter()
        result = self.host.run(request)
        # lab_run_s: the whole trial as the device ran it, so benchmarks/farm_throughput.py can
        # tell the farm's own cost per cell from the measurement's.
        context = {**result.context, "lab_device": self.device.device_id, "lab_pid": os.getpid(),
                   "lab_run_s": time.perf_counter() - started}
        return dataclasses.replace(result, device=self.device, context=context)

    def gate(self) -> GateReport:
        return self.host.gate()

    def close(self) -> None:
        self.host.close()


def _open_runner(name, settings, options):
    return LabRunner(name, settings.cooldown_s) if name in NAMES else None


KIND = DeviceKind(
    name="lab",
    description="two boards measuring with the host worker (tests only)",
    list_devices=lambda: [AttachedDevice(_device(n), state="ready") for n in NAMES],
    open_runner=_open_runner,
    options=(),
)
