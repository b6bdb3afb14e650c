"""This machine as a device: its runtimes run in fresh worker processes (runner.py, worker.py).

    runner.py     HostRunner: one worker process per trial, the cooldown and thermal gate
    worker.py     `python -m device_runners.host.worker`: one measurement, result as JSON
    runtimes.py   the loaders of executorch, litert, onnxruntime, torch and coreml, by name
    system.py     what this machine is and was doing: CPU, frequency policy, load, memory

`KIND` is what the harness lists: the device `host` (also `local`), with no options of its own.
"""

from __future__ import annotations

from typing import Any, Mapping

from device_runners.runner import AttachedDevice, DeviceKind, DeviceOption, Runner, RunnerSettings

NAMES = ("host", "local")


def _list_devices() -> list[AttachedDevice]:
    from device_runners.host.system import describe_host, load_average

    load = load_average()
    state = (f"load {load['1min']:.2f} {load['5min']:.2f} {load['15min']:.2f}" if load else "")
    return [AttachedDevice(describe_host(), state=state)]


def _open_runner(name: str, settings: RunnerSettings, options: Mapping[str, Any]) -> Runner | None:
    if name not in NAMES:
        return None
    from device_runners.host.runner import HostRunner

    return HostRunner(cooldown_s=settings.cooldown_s, memory_limit_bytes=settings.memory_limit_bytes,
                      **options)


OPTIONS = (
    DeviceOption("--executorch-runner", "executorch_runner", type="choice",
                 choices=("native", "python"),
                 help="Host: run ExecuTorch in the native C++ runner (built on first use, what a "
                      "phone runs) or in Python's bindings (4-6 s of imports per trial) [native]."),
)

KIND = DeviceKind("host", "this machine", _list_devices, _open_runner, OPTIONS, build_targets=("host",))
