"""A device kind that exists only in the tests: `loopback`, a runner that runs the host worker.

It is what a new kind of device adds to the harness: one descriptor (`KIND`) with its devices,
how a `--device` string opens its runner, and an option of its own. The tests add it to
`harness.devices.KINDS` and nowhere else, so it shows that nothing in run.py or cli.py needs to
know a kind. Its runner offers two variants of the torch runtime with `--loopback-split-torch`
(as a Mac offers Core ML's compute units), and notes in each result that `prepare` saw the
artifact before its first trial.
"""

from __future__ import annotations

import dataclasses
import sys

from device_runners.contract import DeviceInfo, RunRequest, RunResult
from device_runners.host.runner import HostRunner
from device_runners.runner import (
    ArtifactFile,
    AttachedDevice,
    DeviceKind,
    DeviceOption,
    GateReport,
    Runner,
    RuntimeSupport,
)

DEVICE = DeviceInfo(device_id="loopback", platform=sys.platform, product_model="Loopback",
                    soc="the host worker", os_version="n/a", cpu_count=1, kind="loopback")
TORCH_VARIANTS = ("torch:a", "torch:b")


class LoopbackRunner(Runner):
    def __init__(self, cooldown_s: float, split_torch: bool):
        self.device = DEVICE
        self.host = HostRunner(cooldown_s=cooldown_s)
        self.split_torch = split_torch
        self.prepared: set[str] = set()
        self.closed = False

    def runtimes(self) -> RuntimeSupport:
        return RuntimeSupport(frozenset({"torch", "executorch"}),
                              {"litert": "loopback runs torch and executorch only"},
                              device_label="loopback")

    def variants(self, runtime: str) -> tuple[str, ...]:
        return TORCH_VARIANTS if runtime == "torch" and self.split_torch else ()

    def prepare(self, artifact: ArtifactFile) -> None:
        self.prepared.add(artifact.sha256)

    def run(self, request: RunRequest) -> RunResult:
        result = self.host.run(request)
        context = {**result.context, "loopback_prepared": request.artifact_sha256 in self.prepared}
        return dataclasses.replace(result, device=self.device, context=context)

    def gate(self) -> GateReport:
        return self.host.gate()

    def close(self) -> None:
        self.closed = True


def _open_runner(name, settings, options):
    if name != "loopback":
        return None
    return LoopbackRunner(settings.cooldown_s, split_torch=options.get("split_torch", False))


KIND = DeviceKind(
    name="loopback",
    description="the host worker behind a test-only kind",
    list_devices=lambda: [AttachedDevice(DEVICE, state="looping")],
    open_runner=_open_runner,
    options=(DeviceOption("--loopback-split-torch", "split_torch", type="flag",
                          help="Loopback: measure torch artifacts once per variant."),),
)
