"""The pymobiledevice3 transport: its command line, on Linux, Windows or macOS.

pymobiledevice3 is GPL-3.0: the harness never imports it, it runs the `pymobiledevice3` command
(an optional install, docs/ios.md). The commands and what they print:

    usbmux list                                 JSON list: Identifier (the UDID), DeviceName,
                                                ProductType, ProductVersion, BuildVersion,
                                                DeviceClass, UniqueDeviceID, ConnectionType
    apps list --udid U                          JSON object: bundle id -> its Info.plist values
    apps install --udid U PATH                  an .ipa or .app
    apps push --udid U BUNDLE LOCAL REMOTE --documents     AFC through house_arrest; REMOTE is
    apps pull --udid U BUNDLE REMOTE LOCAL --documents     relative to the app's Documents
    developer dvt launch --udid U "BUNDLE ARGS" --kill-existing     (a developer service: iOS
                                                17+ needs the tunnel, see `tunnel_down`)
    diagnostics battery monitor --udid U        one JSON line a second: InstantAmperage (signed
                                                mA), Voltage (mV), Temperature (0.01 C),
                                                IsCharging, CurrentCapacity

Files that are not there fail with an AFC "not found" error, read as `MissingFile`.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from pathlib import Path
from typing import Iterator

from device_runners.ios.transport import (
    BatteryReading,
    IosDevice,
    MissingFile,
    TransportError,
    app_not_installed,
    developer_mode_off,
    last_line,
    locked,
    not_paired,
    run_tool,
    tunnel_down,
)

TOOL = "pymobiledevice3"


def parse_devices(data: list) -> list[IosDevice]:
    """The iPhones of `usbmux list`; a device listed by UDID only could not be asked (pairing)."""
    devices = []
    for entry in data or []:
        if isinstance(entry, str):  # --simple, or a device lockdown refused
            devices.append(IosDevice(entry, entry, "", "", problem=str(not_paired(entry))))
            continue
        device_class = entry.get("DeviceClass", "iPhone")
        if device_class not in ("iPhone", "iPad", "iPod"):
            continue  # watches and TVs do not run the benchmark app
        udid = entry.get("Identifier") or entry.get("UniqueDeviceID") or ""
        devices.append(IosDevice(
            udid=udid, name=entry.get("DeviceName") or udid, product_type=entry.get("ProductType") or "",
            os_version=entry.get("ProductVersion") or "",
            connection="wifi" if str(entry.get("ConnectionType", "USB")).lower() == "network" else "usb",
            device_type=device_class,
        ))
    return devices


def parse_battery_line(line: str, t_s: float) -> BatteryReading | None:
    """One line of `diagnostics battery monitor` (or the JSON of `battery single`), or None
    when it is not one.

    InstantAmperage is signed mA, but some iOS versions serialise it as an unsigned 16-bit
    value: anything above 32767 is read as its two's complement.
    """
    try:
        data = json.loads(line)
        current = float(data["InstantAmperage"])
        voltage = float(data["Voltage"])
    except (ValueError, KeyError, TypeError):
        return None
    if current > 32767:
        current -= 65536
    temperature = data.get("Temperature")
    return BatteryReading(t_s, current, voltage, bool(data.get("IsCharging")),
                          float(temperature) / 100 if temperature is not None else None)


class Pymobiledevice3Transport:
    name = "pymobiledevice3"

    def __init__(self, timeout_s: float = 60.0):
        self.timeout_s = timeout_s

    def _run(self, args: list[str], device: str = "", bundle_id: str = "") -> str:
        proc = run_tool([TOOL, *args], self.timeout_s)
        if proc.returncode == 0:
            return proc.stdout
        raise self._error(args, last_line(proc.stderr) or last_line(proc.stdout)
                          or f"exit code {proc.returncode}", device, bundle_id)

    def _error(self, args, text: str, device: str, bundle_id: str):
        lowered = text.lower()
        if "notfound" in lowered.replace(" ", "") or "no such file" in lowered:
            return MissingFile(f"pymobiledevice3: {text}")
        if "passwordprotected" in lowered.replace(" ", "") or "locked" in lowered:
            return locked(device)
        if "appnotinstalled" in lowered.replace(" ", "") or "not installed" in lowered:
            return app_not_installed(device, bundle_id)
        if "developermode" in lowered.replace(" ", ""):
            return developer_mode_off(device)
        if "notpaired" in lowered.replace(" ", "") or "pairing" in lowered:
            return not_paired(device)
        if "tunnel" in lowered or "rsd" in lowered.split():
            return tunnel_down(device, self.name)
        return TransportError(f"`pymobiledevice3 {' '.join(args[:2])}` failed: {text}")

    def devices(self) -> list[IosDevice]:
        text = self._run(["usbmux", "list"])
        try:
            return parse_devices(json.loads(text or "[]"))
        except ValueError:
            raise TransportError(f"`pymobiledevice3 usbmux list` printed no JSON: {last_line(text)}") from None

    def installed_apps(self, udid: str) -> set[str]:
        text = self._run(["apps", "list", "--udid", udid], udid)
        try:
            return set(json.loads(text or "{}"))
        except ValueError:
            raise TransportError(f"`pymobiledevice3 apps list` printed no JSON: {last_line(text)}") from None

    def install(self, udid: str, app: Path, bundle_id: str | None = None) -> dict:
        """Install `app`; pymobiledevice3 prints no record of it: {} (the runner then asks for
        the installed apps)."""
        self._run(["apps", "install", "--udid", udid, str(app)], udid)
        return {}

    def push(self, udid: str, bundle_id: str, local: Path, remote: str) -> None:
        self._run(["apps", "push", "--udid", udid, bundle_id, str(local), remote, "--documents"],
                  udid, bundle_id)

    def pull(self, udid: str, bundle_id: str, remote: str, local: Path) -> None:
        self._run(["apps", "pull", "--udid", udid, bundle_id, remote, str(local), "--documents"],
                  udid, bundle_id)

    def launch(self, udid: str, bundle_id: str, arguments: list[str]) -> int | None:
        """Launch the app; its pid from `Process launched with pid N`, when printed."""
        command = shlex.join([bundle_id, *arguments])
        out = self._run(["developer", "dvt", "launch", "--udid", udid, command, "--kill-existing"],
                        udid, bundle_id)
        found = re.search(r"pid (\d+)", out or "")
        return int(found[1]) if found else None

    def running(self, udid: str, pid: int) -> bool | None:
        return None  # not asked: the runner then waits for the app's marker alone

    def battery_now(self, udid: str) -> BatteryReading | None:
        """One reading (`diagnostics battery single`: its JSON, printed once), for the thermal
        gate's battery temperature; None when the phone does not say."""
        return parse_battery_line(self._run(["diagnostics", "battery", "single", "--udid", udid], udid),
                                  time.time())

    def battery(self, udid: str) -> Iterator[BatteryReading]:
        """Battery readings as the monitor prints them, until the caller closes the iterator."""
        proc = subprocess.Popen([TOOL, "diagnostics", "battery", "monitor", "--udid", udid],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                errors="replace", stdin=subprocess.DEVNULL)
        try:
            for line in proc.stdout:
                reading = parse_battery_line(line, time.time())
                if reading is not None:
                    yield reading
        finally:
            proc.kill()
            proc.wait()
