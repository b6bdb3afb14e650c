"""The stand-in tools: `python -m tests.support.ios_sim.tools xcrun|pymobiledevice3|xcodebuild ARGS...`.

Each implements the commands the harness's transports run, with the real tools' arguments and
output shapes, against the simulated phones in $IOS_SIM_ROOT (state.py), and logs what it ran.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from .physics import as_modelled
from .state import State

MISSING = 7000  # CoreDeviceError: the file does not exist


def _option(argv: list[str], flag: str, default=None):
    return argv[argv.index(flag) + 1] if flag in argv else default


# ----------------------------------------------------------------------------------------------
# devicectl


def _devicectl_json(path: str | None, result: dict | None = None, error: str = "", code: int = 1,
                    command: str = "devicectl") -> int:
    """devicectl's --json-output document (shapes as in tests/data/real/devicectl)."""
    data = {"info": {"arguments": ["devicectl", *sys.argv[2:]], "commandType": command,
                     "environment": {"TERM": "xterm-256color"}, "jsonVersion": 2,
                     "outcome": "failed" if error else "success", "version": "397.21"}}
    if error:
        data["error"] = {"code": code, "domain": "com.apple.dt.CoreDeviceError",
                         "userInfo": {"NSLocalizedDescription": {"string": error}}}
    else:
        data["result"] = result or {}
    if path:
        Path(path).write_text(json.dumps(data, indent=2))
    if error:
        print(f"ERROR: {error} (com.apple.dt.CoreDeviceError error {code}.)", file=sys.stderr)
        return 1
    return 0


def _core_id(phone) -> str:
    return f"CD{phone.udid[-8:]}-0000-4000-8000-000000000000"


def _device_entry(phone) -> dict:
    """One device of `list devices`, with the keys real devicectl 397 prints (list_*.json)."""
    cpu = {"name": "arm64e", "subType": 2, "type": 16777228}
    return {
        "capabilities": [{"featureIdentifier": "com.apple.coredevice.feature.launchapplication",
                          "name": "Launch Application"}],
        "connectionProperties": {"authenticationType": "manualPairing", "isMobileDeviceOnly": False,
                                 "lastConnectionDate": "2026-11-30T08:49:25.179Z",
                                 "pairingState": "paired" if phone.paired else "unpaired",
                                 "potentialHostnames": [f"{phone.udid}.coredevice.local"],
                                 "transportType": "localNetwork" if phone.connection == "wifi" else "wired",
                                 "tunnelState": "connected" if phone.tunnel else "unavailable",
                                 "tunnelTransportProtocol": "tcp"},
        "deviceProperties": {"bootState": phone.boot_state, "bootedFromSnapshot": True,
                             "ddiServicesAvailable": phone.tunnel and phone.ddi_services,
                             "developerModeStatus": "enabled" if phone.developer_mode else "disabled",
                             "hasInternalOSBuild": False, "name": phone.name, "osBuildUpdate": "21F90",
                             "osVersionNumber": phone.os_version, "rootFileSystemIsWritable": False},
        "hardwareProperties": {"cpuType": cpu, "deviceType": phone.device_type, "ecid": 0,
                               "hardwareModel": "D53gAP", "internalStorageCapacity": 64000000000,
                               "isProductionFused": True, "marketingName": phone.marketing_name,
                               "platform": "iOS", "productType": phone.product_type,
                               "reality": "physical", "serialNumber": "000000000000",
                               "supportedCPUTypes": [cpu], "supportedDeviceFamilies": [1],
                               "thinningProductType": phone.product_type, "udid": phone.udid},
        "identifier": _core_id(phone),
        "visibilityClass": "default",
    }


def devicectl(state: State, argv: list[str]) -> int:
    out = _option(argv, "--json-output")
    if argv[:2] == ["list", "devices"]:
        return _devicectl_json(out, {"devices": [_device_entry(p) for p in state.phones()]},
                               command="devicectl.list.devices")
    udid = _option(argv, "--device")
    phone = state.phone(udid) if udid else None
    if phone is None:
        return _devicectl_json(out, error=f"The specified device was not found. ({udid})", code=1000)
    if not phone.paired:
        return _devicectl_json(out, error="The device is not paired with this host.", code=1)
    if not phone.tunnel:
        return _devicectl_json(out, error="The tunnel connection to the device is not available.", code=2)
    bundle = _option(argv, "--domain-identifier")
    if argv[:3] == ["device", "info", "apps"]:
        return _devicectl_json(out, {"apps": [{"bundleIdentifier": b, "name": "HarnessBench"}
                                              for b in phone.installed]})
    if argv[:3] == ["device", "install", "app"]:
        app = _positional(argv[3:])[0]
        bundle_id = _installed_bundle(app)
        state.update(phone.udid, installed=sorted(set(phone.installed) | {bundle_id}))
        where = f"file:///private/var/containers/Bundle/Application/{_core_id(phone)}/{Path(app).name}/"
        return _devicectl_json(out, {"deviceIdentifier": _core_id(phone), "installedApplications": [
            {"bundleID": bundle_id, "databaseSequenceNumber": 2728, "databaseUUID": _core_id(phone),
             "installationURL": where, "launchServicesIdentifier": "unknown", "options": {}}]},
            command="devicectl.device.install.app")
    if argv[:3] == ["device", "info", "processes"]:
        running = []
        if state.app_running(phone.udid):
            running.append({"executable": "file:///private/var/containers/Bundle/Application/"
                                          f"{_core_id(phone)}/HarnessBench.app/HarnessBench",
                            "processIdentifier": int(state.app_pid_file(phone.udid).read_text())})
        return _devicectl_json(out, {"deviceIdentifier": _core_id(phone), "runningProcesses": running},
                               command="devicectl.device.info.processes")
    if argv[:3] == ["device", "copy", "to"]:
        target = state.container(phone.udid, bundle) / _option(argv, "--destination")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(_option(argv, "--source"), target)
        return _devicectl_json(out, {"files": [str(target)]})
    if argv[:3] == ["device", "copy", "from"]:
        source = state.container(phone.udid, bundle) / _option(argv, "--source")
        if not source.exists():
            return _devicectl_json(out, error="The file couldn't be opened because it doesn't exist.",
                                   code=MISSING)
        shutil.copy2(source, _option(argv, "--destination"))
        return _devicectl_json(out, {"files": [_option(argv, "--destination")]})
    if argv[:3] == ["device", "process", "launch"]:
        rest = [a for a in argv[3:]]
        for flag in ("--device", "--json-output"):
            i = rest.index(flag)
            del rest[i:i + 2]
        rest = [a for a in rest if a != "--terminate-existing"]
        bundle, args = rest[0], rest[1:]
        problem = _launch_problem(phone, bundle)
        if problem:
            return _devicectl_json(out, error=problem, code=10002)
        pid = _launch(state, phone, bundle, args)
        return _devicectl_json(out, {"deviceIdentifier": _core_id(phone), "launchOptions": {
            "activatedWhenStarted": True, "arguments": args,
            "environmentVariables": {"TERM": "xterm-256color"}, "platformSpecificOptions": {},
            "startStopped": False, "terminateExistingInstances": True, "user": {"active": True}},
            "process": {"auditToken": [4294967295, 501, 501, 501, 501, pid, 0, 44511],
                        "executable": "file:///private/var/containers/Bundle/Application/"
                                      f"{_core_id(phone)}/HarnessBench.app/HarnessBench",
                        "processIdentifier": pid}}, command="devicectl.device.process.launch")
    return _devicectl_json(out, error=f"unknown devicectl command: {' '.join(argv[:3])}")


def _positional(args: list[str]) -> list[str]:
    """The arguments that are not `--flag value` options (devicectl's options all take one)."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("--"):
            skip = arg not in ("--terminate-existing", "--console", "--quiet")
        else:
            out.append(arg)
    return out


def _installed_bundle(app_path: str) -> str:
    info = Path(app_path) / "bundle_id.txt"  # the stand-in .app names its bundle here
    return info.read_text().strip() if info.exists() else "org.harnessbench.HarnessBench"


def _launch_problem(phone, bundle: str) -> str:
    if phone.locked:
        return ("Unable to launch org.harnessbench.HarnessBench because the device was not, or "
                "could not be, unlocked.")
    if bundle not in phone.installed:
        return f"The requested application {bundle} is not installed."
    if not phone.developer_mode:
        return "Developer Mode is disabled on the device."
    return ""


def _launch(state: State, phone, bundle: str, args: list[str]) -> int:
    """Start the stand-in app, terminating the one running (as --terminate-existing does)."""
    try:
        os.kill(int(state.app_pid_file(phone.udid).read_text()), signal.SIGKILL)
    except (OSError, ValueError):
        pass
    container = state.container(phone.udid, bundle)
    if phone.app_crashes:  # the app dies at launch: a process that exits, having written nothing
        proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(134)"],
                                stdin=subprocess.DEVNULL, start_new_session=True)
        state.app_pid_file(phone.udid).write_text(str(proc.pid))
        proc.wait()
        return proc.pid
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.ios_sim.app", "--udid", phone.udid,
                             "--container", str(container), *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(state.root / f"app-{phone.udid}.log", "ab"),
                            start_new_session=True)
    state.app_pid_file(phone.udid).write_text(str(proc.pid))
    return proc.pid


# ----------------------------------------------------------------------------------------------
# pymobiledevice3


def _fail(message: str) -> int:
    print("Traceback (most recent call last):\n  ...", file=sys.stderr)
    print(message, file=sys.stderr)
    return 1


def pymobiledevice3(state: State, argv: list[str]) -> int:
    if argv[:2] == ["usbmux", "list"]:
        listed = []
        for p in state.phones():
            if not p.paired:
                listed.append(p.udid)  # lockdown refused: listed by UDID only
                continue
            listed.append({"BuildVersion": "21F90", "ConnectionType": "Network" if p.connection == "wifi" else "USB",
                           "DeviceClass": p.device_type, "DeviceName": p.name, "Identifier": p.udid,
                           "ProductType": p.product_type, "ProductVersion": p.os_version,
                           "UniqueDeviceID": p.udid})
        print(json.dumps(listed, indent=4, sort_keys=True))
        return 0
    udid = _option(argv, "--udid")
    phone = state.phone(udid) if udid else None
    if phone is None:
        return _fail(f"pymobiledevice3.exceptions.DeviceNotFoundError: {udid}")
    if not phone.paired:
        return _fail("pymobiledevice3.exceptions.NotPairedError")
    positional = [a for i, a in enumerate(argv) if not a.startswith("--") and (i == 0 or argv[i - 1] != "--udid")]
    if argv[:2] == ["apps", "list"]:
        print(json.dumps({b: {"CFBundleIdentifier": b, "CFBundleDisplayName": "HarnessBench"}
                          for b in phone.installed}, indent=4))
        return 0
    if argv[:2] == ["apps", "install"]:
        state.update(phone.udid, installed=sorted(set(phone.installed) | {_installed_bundle(positional[-1])}))
        return 0
    if argv[:2] in (["apps", "push"], ["apps", "pull"]):
        if phone.locked:
            return _fail("pymobiledevice3.exceptions.PasswordProtectedError")
        bundle, a, b = positional[2:5]
        if bundle not in phone.installed:
            return _fail(f"pymobiledevice3.exceptions.AppNotInstalledError: {bundle}")
        documents = state.container(phone.udid, bundle) / "Documents"
        if argv[1] == "push":
            target = documents / b
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(a, target)
            return 0
        source = documents / a
        if not source.exists():
            return _fail(f"pymobiledevice3.exceptions.AfcFileNotFoundError: {a}")
        shutil.copy2(source, b)
        return 0
    if argv[:3] == ["developer", "dvt", "launch"]:
        if not phone.tunnel:
            return _fail("pymobiledevice3.exceptions.TunneldConnectionError: Unable to connect to "
                         "Tunneld. You can start one using: sudo python3 -m pymobiledevice3 remote tunneld")
        if phone.locked:
            return _fail("pymobiledevice3.exceptions.PasswordProtectedError")
        if not phone.developer_mode:
            return _fail("pymobiledevice3.exceptions.DeveloperModeIsNotEnabledError")
        import shlex

        bundle, *args = shlex.split(positional[3])
        if bundle not in phone.installed:
            return _fail(f"pymobiledevice3.exceptions.AppNotInstalledError: {bundle}")
        print(f"Process launched with pid {_launch(state, phone, bundle, args)}")
        return 0
    if argv[:3] == ["diagnostics", "battery", "single"]:
        print(json.dumps(_battery(state, phone), indent=4))  # print_json: indented
        return 0
    if argv[:3] == ["diagnostics", "battery", "monitor"]:
        interval = float(os.environ.get("IOS_SIM_BATTERY_INTERVAL", "1.0"))
        while True:
            print(json.dumps(_battery(state, phone)), flush=True)
            time.sleep(interval)
    return _fail(f"unknown command: {' '.join(argv[:3])}")


def _battery(state: State, phone) -> dict:
    """The gas gauge's keys pymobiledevice3 prints; iOS 16 serialises a negative current as an
    unsigned 16-bit value."""
    current = as_modelled(state, state.phone(phone.udid))
    amps = current.busy_current_ma if state.app_running(phone.udid) else current.idle_current_ma
    if current.charging:
        amps = abs(amps) + 500
    return {"InstantAmperage": int(amps) & 0xFFFF if amps < 0 and current.os_version.startswith("16") else int(amps),
            "Temperature": int(current.battery_temp_c * 100), "Voltage": int(current.voltage_mv),
            "IsCharging": current.charging, "CurrentCapacity": int(current.battery_level * 100)}


# ----------------------------------------------------------------------------------------------
# xcodebuild and xcresulttool (XCTest mode)


def xcodebuild(state: State, argv: list[str]) -> int:
    """`test-without-building`: the .xctestrun stand-in is JSON {test id: [seconds...]}."""
    tests = json.loads(Path(_option(argv, "-xctestrun")).read_text())
    only = next(a.split(":", 1)[1] for a in argv if a.startswith("-only-testing:"))
    bundle = Path(_option(argv, "-resultBundlePath"))
    bundle.mkdir(parents=True)
    values = tests.get(only)
    if values is None:
        print(f"error: no test {only}\n** TEST FAILED **")
        return 65
    target, cls, method = only.split("/")
    # xcresulttool's shape (tests/data/real/xcresulttool): every key Xcode 26 prints.
    (bundle / "metrics.json").write_text(json.dumps([{
        "testIdentifier": f"{cls}/{method}()",
        "testIdentifierURL": f"test://com.apple.xcode/{target}/{target}/{cls}/{method}",
        "testRuns": [{"device": {"deviceId": "00000000-0000-0000-0000-000000000001",
                                 "deviceName": "iPhone"},
                      "metrics": [{"baselineAverage": 0, "baselineName": "",
                                   "displayName": "Clock Monotonic Time",
                                   "identifier": "com.apple.dt.XCTMetric_Clock.time.monotonic",
                                   "maxPercentRegression": 10, "maxPercentRelativeStandardDeviation": 10,
                                   "maxRegression": 0, "maxStandardDeviation": 10,
                                   "measurements": values, "polarity": "prefers smaller",
                                   "unitOfMeasurement": "s"}],
                      "testPlanConfiguration": {"configurationId": "1",
                                                "configurationName": "Test Scheme Action"}}]}], indent=2))
    print(f"/x/{cls}.swift:12: Test Case '-[{target}.{cls} {method}]' measured [Clock Monotonic Time, s] "
          f"average: {sum(values) / len(values):.3f}, relative standard deviation: 1.000%, values: "
          f"[{', '.join(f'{v:.6f}' for v in values)}], performanceMetricID:com.apple.dt.XCTMetric_Clock.time.monotonic, "
          "baselineName: \"\", baselineAverage: , polarity: prefers smaller, maxPercentRegression: 10.000%")
    print("** TEST SUCCEEDED **")
    return 0


def xcresulttool(state: State, argv: list[str]) -> int:
    if os.environ.get("IOS_SIM_OLD_XCODE"):  # before Xcode 16.3: no `test-results metrics`
        print("error: Unknown option 'test-results'", file=sys.stderr)
        return 64
    print((Path(_option(argv, "--path")) / "metrics.json").read_text())
    return 0


def main(argv: list[str]) -> int:
    state = State.from_env()
    tool, rest = argv[0], argv[1:]
    state.log(tool, rest)
    if tool == "xcrun" and rest[:1] == ["devicectl"]:
        return devicectl(state, rest[1:])
    if tool == "xcrun" and rest[:1] == ["xcresulttool"]:
        return xcresulttool(state, rest[1:])
    if tool == "pymobiledevice3":
        return pymobiledevice3(state, rest)
    if tool == "xcodebuild":
        return xcodebuild(state, rest)
    print(f"{tool}: unknown command {' '.join(rest[:2])}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
