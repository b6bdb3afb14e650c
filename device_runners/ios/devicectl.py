"""The devicectl transport: `xcrun devicectl` on macOS (Xcode 15+, iPhones on iOS 17+).

Every command writes its outcome as JSON (`--json-output FILE`):

    {"info": {"commandType": "devicectl.list.devices", "outcome": "success", "jsonVersion": 2, ...},
     "result": {...}}
    {"info": {..., "outcome": "failed"}, "error": {"code": 7000, "domain": "com.apple.dt.CoreDeviceError",
     "userInfo": {"NSLocalizedDescription": {"string": "..."}}}}

`list devices` gives each device's `hardwareProperties` (udid, productType, marketingName,
deviceType: iPhone, iPad, appleWatch), `deviceProperties` (name, osVersionNumber,
developerModeStatus, bootState, ddiServicesAvailable) and `connectionProperties` (pairingState,
transportType, tunnelState). `device install app` answers `result.installedApplications[{bundleID,
installationURL, ...}]`, `device process launch` `result.process{executable,
processIdentifier}`, `device info processes` `result.runningProcesses[{executable,
processIdentifier}]` (docs/results-io.md has the samples these were checked against). Files go into the app's data
container (`--domain-type appDataContainer --domain-identifier BUNDLE --user mobile`), under
`Documents/`; a file that is not there fails with CoreDeviceError 7000. `jsonVersion` 2 and 3
are read alike; older ones have no `jsonVersion` and the same fields.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from device_runners.ios.transport import (
    IosDevice,
    MissingFile,
    TransportError,
    app_not_installed,
    ddi_unavailable,
    developer_mode_off,
    last_line,
    locked,
    not_booted,
    not_paired,
    run_tool,
    tunnel_down,
)

MISSING_FILE_CODE = 7000
CONTAINER = ["--domain-type", "appDataContainer", "--user", "mobile"]


def parse_devices(data: dict) -> list[IosDevice]:
    """The iOS devices of `devicectl list devices` JSON (phones, and iPads marked as such), each
    with its problem when unusable; watches, TVs and simulators are left out."""
    devices = []
    for entry in (data.get("result") or {}).get("devices") or []:
        hardware = entry.get("hardwareProperties") or {}
        props = entry.get("deviceProperties") or {}
        connection = entry.get("connectionProperties") or {}
        if hardware.get("platform", "iOS") != "iOS" or hardware.get("reality", "physical") != "physical":
            continue
        udid = hardware.get("udid") or entry.get("identifier", "")
        name = props.get("name") or hardware.get("marketingName") or udid
        label = f"{name} ({udid})"
        devices.append(IosDevice(
            udid=udid, name=name, product_type=hardware.get("productType", ""),
            os_version=props.get("osVersionNumber", ""),
            connection="wifi" if connection.get("transportType") == "localNetwork" else "usb",
            problem=_problem(label, props, connection),
            device_type=hardware.get("deviceType") or "iPhone",
            marketing_name=hardware.get("marketingName") or "",
        ))
    return devices


def _problem(label: str, props: dict, connection: dict) -> str:
    """Why a listed device cannot be used as it is, in one line; "" when it can.

    `tunnelState` "disconnected" with `ddiServicesAvailable` false is an idle device: devicectl
    connects (and mounts the developer disk image) when a command needs it. "unavailable" is a
    device it cannot reach; a connected device without the disk image cannot run developer
    services."""
    if connection.get("pairingState", "paired") != "paired":
        return str(not_paired(label))
    if props.get("bootState", "booted") != "booted":
        return str(not_booted(label, props["bootState"]))
    if props.get("developerModeStatus", "enabled") != "enabled":
        return str(developer_mode_off(label))
    if connection.get("tunnelState") == "unavailable":
        return str(tunnel_down(label, "devicectl"))
    if connection.get("tunnelState") == "connected" and props.get("ddiServicesAvailable") is False:
        return str(ddi_unavailable(label))
    return ""


def installed(data: dict, bundle_id: str | None = None) -> dict:
    """The app `device install app` JSON says it installed ({bundleID, installationURL, ...}):
    the one of `bundle_id`, or the only one. TransportError when the JSON names none."""
    apps = (data.get("result") or {}).get("installedApplications") or []
    app = next((a for a in apps if bundle_id is None or a.get("bundleID") == bundle_id), None)
    if app is None or not app.get("installationURL"):
        names = ", ".join(a.get("bundleID", "?") for a in apps) or "no application"
        raise TransportError(f"`xcrun devicectl device install app` reported {names} installed"
                             + (f", not {bundle_id}" if bundle_id else "")
                             + ": check the .app's CFBundleIdentifier and install it again.")
    return app


def launched_pid(data: dict) -> int | None:
    """The process id `device process launch` JSON reports (result.process.processIdentifier)."""
    pid = ((data.get("result") or {}).get("process") or {}).get("processIdentifier")
    return pid if isinstance(pid, int) else None


def running_pids(data: dict) -> set[int]:
    """The process ids of `device info processes` JSON (result.runningProcesses)."""
    return {p.get("processIdentifier") for p in (data.get("result") or {}).get("runningProcesses") or []
            if isinstance(p.get("processIdentifier"), int)}


def error_text(data: dict) -> tuple[int | None, str]:
    """(code, description) of a failed command's JSON."""
    error = data.get("error") or {}
    description = (error.get("userInfo") or {}).get("NSLocalizedDescription", "")
    if isinstance(description, dict):  # devicectl wraps values: {"string": "..."}
        description = description.get("string", "")
    return error.get("code"), str(description)


class DevicectlTransport:
    name = "devicectl"

    def __init__(self, timeout_s: float = 60.0):
        self.timeout_s = timeout_s

    def _run(self, args: list[str], device: str = "", bundle_id: str = "") -> dict:
        with tempfile.TemporaryDirectory(prefix="harness-devicectl-") as tmp:
            out = Path(tmp) / "out.json"
            proc = run_tool(["xcrun", "devicectl", *args, "--json-output", str(out)], self.timeout_s)
            try:
                data = json.loads(out.read_text())
            except (OSError, ValueError):
                data = {}
        if proc.returncode == 0 and (data.get("info") or {}).get("outcome", "success") == "success":
            return data
        code, text = error_text(data)
        raise self._error(args, code, text or last_line(proc.stderr) or f"exit code {proc.returncode}",
                          device, bundle_id)

    def _error(self, args, code, text: str, device: str, bundle_id: str):
        lowered = text.lower()
        if code == MISSING_FILE_CODE or "no such file" in lowered or "doesn't exist" in lowered:
            return MissingFile(f"devicectl: {text}")
        if "locked" in lowered:
            return locked(device)
        if "not installed" in lowered or "unknown bundle" in lowered or "no application" in lowered:
            return app_not_installed(device, bundle_id)
        if "developer mode" in lowered:
            return developer_mode_off(device)
        if "not paired" in lowered or "pairing" in lowered:
            return not_paired(device)
        if "tunnel" in lowered:
            return tunnel_down(device, self.name)
        return TransportError(f"`xcrun devicectl {' '.join(args[:3])}` failed: {text}")

    def devices(self) -> list[IosDevice]:
        return parse_devices(self._run(["list", "devices", "--timeout", "5"]))

    def installed_apps(self, udid: str) -> set[str]:
        data = self._run(["device", "info", "apps", "--device", udid], udid)
        return {a.get("bundleIdentifier", "") for a in (data.get("result") or {}).get("apps") or []}

    def install(self, udid: str, app: Path, bundle_id: str | None = None) -> dict:
        """Install `app` and confirm it: devicectl's JSON names the bundle it installed and where
        (installationURL); anything else is a TransportError."""
        return installed(self._run(["device", "install", "app", "--device", udid, str(app)], udid),
                         bundle_id)

    def push(self, udid: str, bundle_id: str, local: Path, remote: str) -> None:
        self._run(["device", "copy", "to", "--device", udid, *CONTAINER, "--domain-identifier",
                   bundle_id, "--source", str(local), "--destination", f"Documents/{remote}"],
                  udid, bundle_id)

    def pull(self, udid: str, bundle_id: str, remote: str, local: Path) -> None:
        self._run(["device", "copy", "from", "--device", udid, *CONTAINER, "--domain-identifier",
                   bundle_id, "--source", f"Documents/{remote}", "--destination", str(local)],
                  udid, bundle_id)

    def launch(self, udid: str, bundle_id: str, arguments: list[str]) -> int | None:
        """Launch the app; its process id, as devicectl reports it."""
        return launched_pid(self._run(["device", "process", "launch", "--device", udid,
                                       "--terminate-existing", bundle_id, *arguments],
                                      udid, bundle_id))

    def running(self, udid: str, pid: int) -> bool | None:
        """Whether process `pid` still runs on the phone (`device info processes`)."""
        return pid in running_pids(self._run(["device", "info", "processes", "--device", udid], udid))

    def battery_now(self, udid: str):
        return None  # devicectl has no battery readings

    def battery(self, udid: str):
        return None  # devicectl has no battery readings: energy needs pymobiledevice3
