"""iPhones, through Xcode's devicectl (macOS) or pymobiledevice3's command line (anywhere), and
the benchmark app that measures on them (ios_app/).

    discovery.py   which iPhones are attached, through which transport; the one --device means
    runner.py      IosRunner: open, prepare, gate, run (docs/ios.md)
    protocol.py    the files the harness and the app exchange in the app's Documents
    transport.py   what both transports offer, and the one-line errors of an unusable phone
    devicectl.py   `xcrun devicectl ... --json-output` and its JSON
    pmd3.py        `pymobiledevice3 ...` (GPL-3.0: run, never imported) and its output
    energy.py      battery readings around a trial; none while the phone charges
    xctest.py      opt-in: trials as a team's own XCTest performance tests
    catalog.py     devices.yaml: iPhones by product type, with SoC and core layout
    swift_contract.py  regenerates ios_app's Contract.swift from contract.schema.json (quicktype)

`KIND` is what the harness lists: iPhones by UDID, catalog name, product type or name, and the
`harness run` options only an iPhone takes.
"""

from __future__ import annotations

from device_runners.phones import PHONE_OPTIONS
from device_runners.runner import DeviceKind, DeviceOption


def _list_devices():
    from device_runners.ios.discovery import attached_devices

    return attached_devices()


def _no_devices_hint() -> str:
    from device_runners.ios.discovery import NO_TRANSPORT, pick_transport

    transport = pick_transport()
    if transport is None:
        return NO_TRANSPORT
    return (f"none attached through {transport.name}: connect an iPhone by USB, unlock it, trust "
            "this computer and turn on Developer Mode (docs/ios.md)")


def _open_runner(name, settings, options):
    from device_runners.ios.discovery import open_runner

    return open_runner(name, settings, options)


OPTIONS = (
    DeviceOption("--ios-transport", "ios_transport", type="choice",
                 choices=("auto", "devicectl", "pymobiledevice3"),
                 help="iPhone: devicectl (macOS, Xcode 15+) or pymobiledevice3 [auto: devicectl "
                      "on macOS]."),
    DeviceOption("--ios-app", "app", type="path",
                 help="iPhone: the benchmark app (.app or .ipa) to install first (ios_app/README.md)."),
    DeviceOption("--ios-bundle-id", "bundle_id", type="text",
                 help="iPhone: the benchmark app's bundle identifier [org.harnessbench.HarnessBench]."),
    DeviceOption("--xctestrun", "xctestrun", type="path",
                 help="iPhone: measure with your XCTest performance tests (an .xctestrun file) "
                      "instead of the benchmark app."),
    DeviceOption("--ios-allow-non-phone", "allow_non_phone", type="flag",
                 help="iPhone: measure an iPad or iPod too (refused by default: the catalog and "
                      "the results are for phones)."),
    DeviceOption("--xctest-test", "xctest_test", type="text",
                 help="iPhone: the test per cell, with {model} {format} {runtime} "
                      "[HarnessBenchTests/HarnessBenchTests/test_{model}_{format}]."),
    *PHONE_OPTIONS,  # shared with the Android kind
)

def _also_known_as(name: str) -> tuple[str, ...]:
    from device_runners.ios.catalog import load_catalog

    phone = load_catalog().lookup(name)
    return (phone.name, *phone.product_types) if phone else ()


KIND = DeviceKind("ios", "iPhones over devicectl or pymobiledevice3", _list_devices, _open_runner, OPTIONS,
                  no_devices_hint=_no_devices_hint, also_known_as=_also_known_as)
