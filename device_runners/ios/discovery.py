"""Which iPhones are attached, through which transport, and the one `--device` means.

`--device` takes a UDID, a catalog name (`iphone12`, devices.yaml), a product type
(`iPhone13,2`) or the phone's own name. An iPad (or iPod) matched by UDID or name is refused
with one line unless `--ios-allow-non-phone` asks for it: the catalog and the results are for
phones, and an iPad's figures filed as a phone's would mislead. The transport is `devicectl` on macOS when Xcode's
`xcrun` is there, else `pymobiledevice3` when its command is on PATH (`--ios-transport` picks
one); with neither, there are no iPhones, and `harness devices` says how to get one.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any, Mapping

from device_runners.errors import NoSuchDevice
from device_runners.ios.catalog import load_catalog, normalize_name
from device_runners.ios.devicectl import DevicectlTransport
from device_runners.ios.pmd3 import Pymobiledevice3Transport
from device_runners.ios.runner import IosRunner, describe
from device_runners.ios.transport import IosDevice, IosDeviceError, Transport, not_a_phone
from device_runners.runner import AttachedDevice, RunnerSettings

TRANSPORTS = ("auto", "devicectl", "pymobiledevice3")
NO_TRANSPORT = ("no iPhone tooling here: on macOS install Xcode 15+ (devicectl), elsewhere "
                "`pip install pymobiledevice3` (GPL-3.0); docs/ios.md")


def pick_transport(choice: str = "auto") -> Transport | None:
    if choice not in TRANSPORTS:
        raise IosDeviceError(f"--ios-transport is one of {', '.join(TRANSPORTS)}, not {choice!r}.")
    if choice == "devicectl" or (choice == "auto" and sys.platform == "darwin" and shutil.which("xcrun")):
        return DevicectlTransport()
    if choice == "pymobiledevice3" or shutil.which("pymobiledevice3"):
        return Pymobiledevice3Transport()
    return None


def attached_devices(choice: str = "auto") -> list[AttachedDevice]:
    transport = pick_transport(choice)
    if transport is None:
        return []
    found = []
    for phone in transport.devices():
        state = phone.problem or f"{phone.connection}, via {transport.name}"
        if not phone.is_phone:
            state += f"; an {phone.device_type}: used only with --ios-allow-non-phone"
        found.append(AttachedDevice(describe(phone), state, f"{phone.udid} ({describe(phone).product_model})"))
    return found


def _matches(name: str, phone: IosDevice) -> bool:
    wanted = normalize_name(name)
    return name == phone.udid or wanted in (normalize_name(phone.product_type), normalize_name(phone.name))


def open_runner(name: str, settings: RunnerSettings, options: Mapping[str, Any]) -> IosRunner | None:
    """The runner for `name`, opened; None when `name` means no iPhone (another kind may know
    it); NoSuchDevice for a catalog name with no such phone attached."""
    options = dict(options)
    entry = load_catalog().lookup(name)
    transport = pick_transport(options.pop("ios_transport", None) or "auto")
    if transport is None:
        if entry is None:
            return None
        raise NoSuchDevice(name, [NO_TRANSPORT])
    phones = transport.devices()
    matches = [p for p in phones if _matches(name, p)]
    if not matches and entry is not None:
        matches = [p for p in phones if p.product_type in entry.product_types]
        if not matches:
            raise NoSuchDevice(name, [f"{p.udid} ({describe(p).product_model})" for p in phones])
    if not matches:
        return None
    if len(matches) > 1:
        udids = ", ".join(p.udid for p in matches)
        raise IosDeviceError(f"{len(matches)} attached iPhones match {name!r} ({udids}); pass one "
                             "UDID with --device.")
    allow_non_phone = bool(options.pop("allow_non_phone", False))
    if not matches[0].is_phone and not allow_non_phone:
        raise not_a_phone(f"{matches[0].name} ({matches[0].marketing_name or matches[0].product_type}, "
                          f"{matches[0].udid})", matches[0].device_type)
    xctest = None
    if options.get("xctestrun"):
        from device_runners.ios.xctest import XCTestMode

        template = options.pop("xctest_test", None) or "HarnessBenchTests/HarnessBenchTests/test_{model}_{format}"
        xctest = XCTestMode(options.pop("xctestrun"), template, matches[0].udid)
    options.pop("xctestrun", None)
    options.pop("xctest_test", None)
    runner = IosRunner(transport, matches[0], cooldown_s=settings.cooldown_s, xctest=xctest,
                       **{k: v for k, v in options.items() if v is not None})
    runner.open()
    return runner
