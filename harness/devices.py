"""The kinds of device the harness can run on, and the runner for a `--device` name.

`KINDS` is the list of descriptors (device_runners.runner.DeviceKind), one per kind: a new kind
of device is one package in device_runners and one entry here. Everything else in the harness
asks the descriptors and the runners, never which kind a device is.

A lab's own kind (a board on a serial line, a private farm API) can join without editing the
harness: `HARNESS_DEVICE_KINDS=package.module:KIND` (comma-separated) adds each descriptor after
the built-in ones, in every process of the harness, farm workers included.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any, Mapping

from device_runners import android, host, ios
from device_runners.errors import NoSuchDevice
from device_runners.runner import AttachedDevice, DeviceKind, DeviceOption, Runner, RunnerSettings
from harness.errors import DeviceNotAttached, HarnessError, UnknownDeviceError, UsageError

log = logging.getLogger("harness.devices")

KINDS: list[DeviceKind] = [
    host.KIND,
    android.KIND,
    ios.KIND,
]


def _extra_kinds(spec: str) -> list[DeviceKind]:
    kinds = []
    for reference in filter(None, (part.strip() for part in spec.split(","))):
        module, _, attribute = reference.partition(":")
        try:
            kind = getattr(importlib.import_module(module), attribute or "KIND")
        except (ImportError, AttributeError) as exc:
            raise HarnessError(f"HARNESS_DEVICE_KINDS names {reference!r}, which cannot be loaded "
                               f"({exc}); give module:ATTRIBUTE of a DeviceKind.") from None
        if not isinstance(kind, DeviceKind):
            raise HarnessError(f"HARNESS_DEVICE_KINDS: {reference} is not a DeviceKind.")
        kinds.append(kind)
    return kinds


KINDS.extend(_extra_kinds(os.environ.get("HARNESS_DEVICE_KINDS", "")))


def _listed(kind: DeviceKind) -> list[AttachedDevice]:
    try:
        return kind.list_devices()
    except Exception as exc:  # a kind whose tooling is absent or broken simply has no devices
        log.info("listing %s devices failed: %s", kind.name, exc)
        return []


def attached_devices() -> list[AttachedDevice]:
    """Every device of every kind, with its current state."""
    return [device for kind in KINDS for device in _listed(kind)]


def device_options() -> list[DeviceOption]:
    """The `harness run` options of every kind, in the order of KINDS; an option two kinds
    share (the same flag) once."""
    seen: dict[str, DeviceOption] = {}
    for kind in KINDS:
        for option in kind.options:
            seen.setdefault(option.flag, option)
    return list(seen.values())


def open_runner(name: str, settings: RunnerSettings | None = None,
                options: Mapping[str, Any] | None = None, *, lenient: bool = False) -> Runner:
    """The runner of the device `name` means, opened and ready.

    `options` holds every kind's options by `dest` (None or False when not given); one given
    for another kind than the device's is an error, so it is never silently ignored; unless
    `lenient` (a farm's health rules apply to the phones among its devices, not to the host).
    """
    settings = settings or RunnerSettings()
    # `is`, not `in (None, False)`: 0 == False, and --thermal-timeout 0 is a value.
    given = {dest: value for dest, value in (options or {}).items()
             if value is not None and value is not False}
    for kind in KINDS:
        mine = {option.dest for option in kind.options}
        try:
            runner = kind.open_runner(name, settings, {k: v for k, v in given.items() if k in mine})
        except NoSuchDevice as exc:
            others = [d.label for other in KINDS if other is not kind for d in _listed(other)]
            raise DeviceNotAttached(name, others + exc.attached) from None
        if runner is None:
            continue
        foreign = [option.flag for option in device_options()
                   if option.dest in given and option.dest not in mine]
        if foreign and not lenient:
            runner.close()
            raise UsageError(f"{', '.join(foreign)} {'does' if len(foreign) == 1 else 'do'} not "
                               f"apply to --device {name} ({kind.description}); leave "
                               f"{'it' if len(foreign) == 1 else 'them'} out.")
        return runner
    raise UnknownDeviceError(name, [d.label for d in attached_devices()])


def open_provided_runner(provider: str, spec: Mapping[str, Any], settings: RunnerSettings | None = None,
                         options: Mapping[str, Any] | None = None) -> Runner:
    """The runner of a device borrowed from `provider` (farm.yaml's `provider: {name: spec}`);
    closing it gives the device back."""
    providers = {p.name: (kind, p) for kind in KINDS for p in kind.providers}
    if provider not in providers:
        raise UsageError(f"No device provider {provider!r}; known: {', '.join(sorted(providers))}.")
    kind, chosen = providers[provider]
    missing = [key for key in chosen.required if key not in spec]
    if missing:
        raise UsageError(f"provider {provider} needs {', '.join(missing)}.")
    mine = {option.dest for option in kind.options}
    given = {k: v for k, v in (options or {}).items() if k in mine and v is not None and v is not False}
    return chosen.open_runner(spec, settings or RunnerSettings(), given)
