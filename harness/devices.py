"""Which devices are attached, and the runner for a `--device` name.

`host` is always there. Other kinds (Android over adb, iOS) register a finder here; each finder
returns the devices it sees and, for a name it recognises, a runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from device_runners.contract import DeviceInfo
from device_runners.host import HostRunner, describe_host
from harness.errors import UnknownDeviceError


@dataclass(frozen=True)
class DeviceKind:
    name: str
    list_devices: Callable[[], list[DeviceInfo]]
    # Returns a runner for `name`, or None when this kind has no such device.
    open_runner: Callable[..., object | None]


def _host_runner(name: str, **options):
    if name in ("host", "local"):
        return HostRunner(cooldown_s=options.get("cooldown_s", 0.0))
    return None


_KINDS: list[DeviceKind] = [DeviceKind("host", lambda: [describe_host()], _host_runner)]


def register_device_kind(kind: DeviceKind) -> None:
    _KINDS.append(kind)


def attached_devices() -> list[DeviceInfo]:
    found = []
    for kind in _KINDS:
        try:
            found.extend(kind.list_devices())
        except Exception:  # a kind whose tooling is absent simply has no devices
            continue
    return found


def open_runner(name: str, **options):
    for kind in _KINDS:
        runner = kind.open_runner(name, **options)
        if runner is not None:
            return runner
    raise UnknownDeviceError(name, [d.device_id for d in attached_devices()])
