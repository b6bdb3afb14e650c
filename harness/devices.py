"""Which devices are attached, and the runner for a `--device` name.

`host` is always there. Other kinds (Android over adb, iOS) register a finder here; each finder
returns the devices it sees and, for a name it recognises, a runner. A kind may also say how
each of its devices is right now (battery, heat) for `harness devices`.
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
    # {device id: one line on its current state}, for `harness devices`; None: nothing to say.
    list_states: Callable[[], dict[str, str]] | None = None


def _host_runner(name: str, **options):
    if name in ("host", "local"):
        return HostRunner(cooldown_s=options.get("cooldown_s", 0.0))
    return None


def _android_devices() -> list[DeviceInfo]:
    from device_runners import android

    return android.attached_devices()


def _android_states() -> dict[str, str]:
    from device_runners import android

    return android.device_states()


def _android_runner(name: str, **options):
    from device_runners import android

    try:
        return android.open_runner(name, **options)
    except android.NoMatchingPhone as exc:
        others = [d.device_id for kind in _KINDS if kind.name != "android"
                  for d in _listed(kind)]
        raise UnknownDeviceError(name, others + exc.attached) from None


_KINDS: list[DeviceKind] = [
    DeviceKind("host", lambda: [describe_host()], _host_runner),
    DeviceKind("android", _android_devices, _android_runner, _android_states),
]


def register_device_kind(kind: DeviceKind) -> None:
    _KINDS.append(kind)


def _listed(kind: DeviceKind) -> list[DeviceInfo]:
    try:
        return kind.list_devices()
    except Exception:  # a kind whose tooling is absent simply has no devices
        return []


def attached_devices() -> list[DeviceInfo]:
    return [device for kind in _KINDS for device in _listed(kind)]


def device_states() -> dict[str, str]:
    """{device id: its current state} from every kind that reports one."""
    states: dict[str, str] = {}
    for kind in _KINDS:
        if kind.list_states is None:
            continue
        try:
            states.update(kind.list_states())
        except Exception:  # as for attached_devices: absent tooling means nothing to say
            continue
    return states


def open_runner(name: str, **options):
    for kind in _KINDS:
        runner = kind.open_runner(name, **options)
        if runner is not None:
            return runner
    raise UnknownDeviceError(name, [_label(d) for d in attached_devices()])


def _label(device: DeviceInfo) -> str:
    """"SERIAL (Pixel 7)" for a phone, so the list says which is which; "host" as it is."""
    return f"{device.device_id} ({device.product_model})" if device.kind != "host" else device.device_id
