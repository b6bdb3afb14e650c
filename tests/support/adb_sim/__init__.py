"""A loopback adb server with simulated phones, for end-to-end tests of the Android runner.

The real adbutils client (or anything else speaking the adb host protocol) talks to
`AdbSimServer` as to the adb server on port 5037; behind it, each `SimulatedPhone` runs shell
commands as real processes on this machine, inside a sandbox directory it sees at device paths.

    import adbutils
    from tests.support.adb_sim import AdbSimServer, SimulatedPhone

    with SimulatedPhone("SIM0001", root=tmp_path / "phone") as phone, \\
            AdbSimServer([phone]) as server:
        phone.sysfs.set_battery(current_ua=-350_000, voltage_uv=3_900_000)
        phone.sysfs.add_odpm({"S4M_VDD_CPUCL0": 1.5})           # watts, or a function of time
        phone.set_dumpsys("thermalservice", "Thermal Status: 0\\n")

        device = adbutils.AdbClient(host=server.host, port=server.port).device("SIM0001")
        device.sync.push(b"#!/system/bin/sh\\ncat /sys/class/power_supply/battery/status\\n",
                         "/data/local/tmp/probe.sh", 0o755)
        result = device.shell2("/data/local/tmp/probe.sh", v2=True)   # .returncode, .stdout
        assert phone.sync_requests("SEND") == ["/data/local/tmp/probe.sh"]

        phone.disconnect()    # open connections drop, the serial leaves `adb devices`
        phone.reconnect()     # back, under a new transport id

What a test controls on a phone:
    props         `set_prop(name, value)`, defaults in DEFAULT_PROPS (a Pixel 7 on Android 14)
    dumpsys       `set_dumpsys(service, text or callable of uptime seconds)`
    files         `files.write(device_path, value or callable)`, `host_path(device_path)`
    sysfs         `sysfs.set_cpus(...)`, `set_battery(...)`, `add_thermal_zone(...)`,
                  `add_odpm(...)` (returns the device whose counters give the exact energy)
    faults        `disconnect()`, `reconnect()`, `set_state("unauthorized" | "offline")`,
                  `command_latency_s`
    the log       `log`, `shell_commands()`, `sync_requests("SEND")`, `clear_log()`

How commands run: as real processes (/system/bin/sh is the host's sh; cat, ls, taskset,
sha256sum, ... are the host's binaries), chrooted into a tree built in private user and mount
namespaces where the sandbox's data, sdcard, sys and system replace the host's and everything
else, /proc included, is the host's. Pushed scripts and binaries therefore read /sys/... at the
real path. Stdin is /dev/null; `close()` kills whatever commands left running in the background.
This needs unprivileged user namespaces (or root); `sandbox_unavailable_reason()` says why they
are missing, for a pytest skip. Device listing and file sync work without them.
"""

from .phone import (
    DEFAULT_PROPS,
    DEVICE_FEATURES,
    CommandRecord,
    PhoneUnavailable,
    SimulatedPhone,
)
from .sandbox import SandboxUnavailable, sandbox_unavailable_reason
from .server import AdbSimServer
from .sysfs import EnergyCounter, OdpmDevice, OdpmRail

__all__ = [
    "AdbSimServer",
    "CommandRecord",
    "DEFAULT_PROPS",
    "DEVICE_FEATURES",
    "EnergyCounter",
    "OdpmDevice",
    "OdpmRail",
    "PhoneUnavailable",
    "SandboxUnavailable",
    "SimulatedPhone",
    "sandbox_unavailable_reason",
]
