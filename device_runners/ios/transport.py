"""How the harness reaches an iPhone: the operations both transports offer, and their errors.

Two transports, one interface:

    devicectl.py   macOS: `xcrun devicectl` (Xcode 15+, iOS 17+), JSON output on every command
    pmd3.py        Linux and Windows (and macOS on request): the `pymobiledevice3` command line.
                   It is GPL-3.0, so the harness never imports it: it runs its command line, an
                   optional install (`pip install pymobiledevice3`, docs/ios.md).

A transport lists devices, says which apps are installed, installs the benchmark app (and
confirms the install), copies files into and out of the app's Documents, launches the app with
arguments (returning its process id where the tool reports one), says whether that process still
runs (devicectl only: None where the tool cannot tell), and (pymobiledevice3 only) streams the
battery's readings. Every call has a timeout. A failure a user can fix is an
`IosDeviceError` whose message is one line saying what to do (`not_paired`, `developer_mode_off`,
`locked`, `app_not_installed`, `tunnel_down`, `not_booted`, `ddi_unavailable`, `not_a_phone`);
anything else the tool said is a
`TransportError` naming the command.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

from device_runners.errors import DeviceError

DEFAULT_TIMEOUT_S = 60.0


class IosDeviceError(DeviceError):
    """An iPhone cannot be used as asked; the message is one line saying what to do."""


class TransportError(IosDeviceError):
    """A transport command failed for another reason; the message names the command."""


class MissingFile(TransportError):
    """The file asked for is not in the app's container (yet)."""


def not_paired(device: str) -> IosDeviceError:
    return IosDeviceError(
        f"{device} is not paired with this computer: connect it by USB, unlock it, tap Trust, and "
        "run again (devicectl: `xcrun devicectl manage pair --device UDID`).")


def developer_mode_off(device: str) -> IosDeviceError:
    return IosDeviceError(
        f"Developer Mode is off on {device}: turn it on in Settings > Privacy & Security > "
        "Developer Mode, let the phone restart, and confirm.")


def locked(device: str) -> IosDeviceError:
    return IosDeviceError(
        f"{device} is locked: unlock it, and keep it unlocked while it measures (Settings > "
        "Display & Brightness > Auto-Lock > Never).")


def app_not_installed(device: str, bundle_id: str) -> IosDeviceError:
    return IosDeviceError(
        f"The benchmark app ({bundle_id}) is not installed on {device}: build it (ios_app/README.md) "
        "and pass --ios-app path/to/HarnessBench.app (or .ipa) to install it.")


def tunnel_down(device: str, transport: str) -> IosDeviceError:
    if transport == "pymobiledevice3":
        how = ("start its tunnel: `sudo pymobiledevice3 remote tunneld` (iOS 17.0-17.3), or plug "
               "the phone in by USB for the built-in tunnel (iOS 17.4+); docs/ios.md")
    else:
        how = "reconnect it by USB, or check it in Xcode's Devices and Simulators window"
    return IosDeviceError(f"The developer tunnel to {device} is down: {how}.")


def not_booted(device: str, state: str) -> IosDeviceError:
    return IosDeviceError(
        f"{device} is not booted (devicectl reports bootState {state!r}): start it up and unlock "
        "it, then run again.")


def ddi_unavailable(device: str) -> IosDeviceError:
    return IosDeviceError(
        f"The developer disk image is not mounted on {device} (devicectl reports "
        "ddiServicesAvailable false on a connected device): open Xcode's Devices and Simulators "
        "window with the phone attached until it finishes preparing it, or update Xcode to one "
        "that supports its iOS version.")


def not_a_phone(device: str, device_type: str) -> IosDeviceError:
    return IosDeviceError(
        f"{device} is an {device_type}, not an iPhone: the harness's device catalog and results "
        "are for phones; pass --ios-allow-non-phone to measure it anyway.")


@dataclass(frozen=True)
class IosDevice:
    """One iPhone (or, when asked for, another iOS device) a transport sees."""

    udid: str
    name: str  # the name its owner gave it
    product_type: str  # the model identifier, e.g. iPhone13,2
    os_version: str  # e.g. 17.5.1
    connection: str = "usb"  # usb, wifi (network)
    problem: str = ""  # one line when it cannot be used as it is (not paired, ...)
    device_type: str = "iPhone"  # devicectl's deviceType, pymobiledevice3's DeviceClass: iPad, ...
    marketing_name: str = ""  # "iPad mini (5th generation)", when the transport says

    @property
    def is_phone(self) -> bool:
        return self.device_type.lower() == "iphone"

    @property
    def label(self) -> str:
        return f"{self.udid} ({self.name})"


@dataclass(frozen=True)
class BatteryReading:
    """One line of the battery monitor: when it arrived here (host clock) and what it said."""

    t_s: float  # time.time() when read, to be cut by the app's own wall-clock times
    current_ma: float  # signed: negative while discharging
    voltage_mv: float
    charging: bool
    temperature_c: float | None = None


class Transport(Protocol):
    name: str

    def devices(self) -> list[IosDevice]: ...
    def installed_apps(self, udid: str) -> set[str]: ...
    def install(self, udid: str, app: Path) -> None: ...
    def push(self, udid: str, bundle_id: str, local: Path, remote: str) -> None: ...
    def pull(self, udid: str, bundle_id: str, remote: str, local: Path) -> None: ...
    def launch(self, udid: str, bundle_id: str, arguments: list[str]) -> int | None: ...
    def running(self, udid: str, pid: int) -> bool | None: ...
    def battery_now(self, udid: str) -> BatteryReading | None: ...
    def battery(self, udid: str) -> Iterator[BatteryReading] | None: ...


def run_tool(argv: list[str], timeout_s: float = DEFAULT_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run a transport's command; a missing tool or a hang is a TransportError, one line."""
    if shutil.which(argv[0]) is None:
        raise TransportError(f"`{argv[0]}` is not on PATH ({_install_hint(argv[0])}).")
    try:
        return subprocess.run(argv, capture_output=True, text=True, errors="replace",
                              timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise TransportError(f"`{' '.join(argv[:4])} ...` did not answer within {timeout_s:.0f} s") from None


def _install_hint(tool: str) -> str:
    if tool == "xcrun":
        return "devicectl comes with Xcode 15 or later on macOS"
    if tool == "pymobiledevice3":
        return "pip install pymobiledevice3 (GPL-3.0; see docs/ios.md)"
    return "install it"


def last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""
