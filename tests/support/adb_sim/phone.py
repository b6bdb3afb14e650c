"""`SimulatedPhone`: what an adb server sees at the other end of a USB cable.

A phone is a sandbox directory standing in for its filesystem (sandbox.py), system properties
and `dumpsys` answers the test controls (served by the `getprop` and `dumpsys` shims in
/system/bin), sysfs files (sysfs.py), a connection state the test can change (unplug, replug,
unauthorized), an optional latency per request, and a log of every shell command and sync
request it served. The adb protocol lives in server.py; this module knows nothing about sockets.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .files import Content, DeviceFiles
from .sandbox import DeviceSandbox
from .sysfs import Sysfs

# What `getprop` answers on a fresh phone; pass `props=` to override or extend.
DEFAULT_PROPS = {
    "ro.product.manufacturer": "Google",
    "ro.product.brand": "google",
    "ro.product.model": "Pixel 7",
    "ro.product.name": "panther",
    "ro.product.device": "panther",
    "ro.product.cpu.abi": "arm64-v8a",
    "ro.soc.manufacturer": "Google",
    "ro.soc.model": "GS201",
    "ro.board.platform": "gs201",
    "ro.hardware": "panther",
    "ro.build.version.sdk": "34",
    "ro.build.version.release": "14",
    "ro.build.id": "AP1A.240305.019.A1",
    "ro.build.type": "user",
    "ro.build.fingerprint": "google/panther/panther:14/AP1A.240305.019.A1/11445699:user/release-keys",
    "sys.boot_completed": "1",
}

# Device features this simulator implements (reported by host-serial:<serial>:features).
# "cmd" and "abb" are left out: there is no `cmd` binary or binder on the simulated phone.
DEVICE_FEATURES = ("shell_v2", "stat_v2", "ls_v2", "fixed_push_mkdir")

# Connection states a test can put a phone in (adb's own names for them).
DEVICE = "device"
OFFLINE = "offline"
UNAUTHORIZED = "unauthorized"
STATES = (DEVICE, OFFLINE, UNAUTHORIZED)

SHIMS = Path(__file__).with_name("shims")
SHIM_DATA = "/system/etc/adb_sim"  # where the shims find the props and dumpsys answers
_PROP_NAME = re.compile(r"^[A-Za-z0-9_.@:-]+$")
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9_.@:-]+(/[A-Za-z0-9_.@:-]+)*$")

_transport_ids = itertools.count(1)  # adb numbers transports once per server process


@dataclass(frozen=True)
class CommandRecord:
    """One request the phone served.

    `service` is "shell", "shell,v2" or "exec" for a command (`argument` is its command line),
    or a sync request id such as "STAT", "LIST", "SEND", "RECV" (`argument` is the device path,
    for SEND without the ",<mode>" suffix). `uptime_s` is the phone's clock when it arrived.
    """

    service: str
    argument: str
    uptime_s: float

    @property
    def is_shell(self) -> bool:
        return self.service in ("shell", "shell,v2", "exec")


class PhoneUnavailable(Exception):
    """The phone cannot take a request now; the text is what adb says in that case."""


class SimulatedPhone:
    """A phone for `AdbSimServer`; use as a context manager (or call `close()`).

    Args:
        serial: the adb serial, also `ro.serialno`.
        root: the sandbox directory (created if missing, kept on close); None makes a temporary
            one that `close()` deletes.
        props: system properties merged over DEFAULT_PROPS.
        cpu_max_freqs_khz: one entry per CPU for the cpufreq tree; None gives as many CPUs as
            this process may run on, the first half little (1.8 GHz) and the rest big (2.85 GHz).
        tick_s: how often time-driven files (battery current, ODPM counters, ...) are rewritten.
        command_latency_s: delay before each shell command and sync request is served.
    """

    def __init__(
        self,
        serial: str = "SIM0001",
        *,
        root: str | Path | None = None,
        props: Mapping[str, str] | None = None,
        cpu_max_freqs_khz: Sequence[int] | None = None,
        tick_s: float = 0.02,
        command_latency_s: float = 0.0,
    ):
        if not serial or any(c.isspace() for c in serial):
            raise ValueError(f"An adb serial is one word, not {serial!r}.")
        self.serial = serial
        self.command_latency_s = command_latency_s
        self._owns_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="adb_sim_phone_")) if root is None else Path(root)
        self._boot = time.monotonic()
        self._lock = threading.Lock()
        self._state = DEVICE
        self._connected = True
        self._transport_id = next(_transport_ids)
        self._links: dict[int, Callable[[], None]] = {}
        self._link_ids = itertools.count(1)
        self._listeners: list[Callable[[], None]] = []
        self._log: list[CommandRecord] = []
        self._props: dict[str, str] = {}

        self.sandbox = DeviceSandbox(self.root)
        self.files = DeviceFiles(self.sandbox, self.uptime_s, tick_s)
        self.sysfs = Sysfs(self.files)
        self._install_shims()
        for name, value in {**DEFAULT_PROPS, "ro.serialno": serial, **(props or {})}.items():
            self.set_prop(name, value)
        self.sysfs.set_cpus(cpu_max_freqs_khz or _default_cpu_freqs())

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> SimulatedPhone:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Drop connections, stop the ticker and the sandbox namespace; delete a temporary root."""
        self.disconnect()
        self.files.close()
        self.sandbox.close()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def uptime_s(self) -> float:
        """Seconds since the phone booted: the clock dynamic files and ODPM timestamps use."""
        return time.monotonic() - self._boot

    # -- what the phone reports -----------------------------------------------------------------

    @property
    def props(self) -> dict[str, str]:
        with self._lock:
            return dict(self._props)

    def set_prop(self, name: str, value: str | None) -> None:
        """Set what `getprop <name>` prints; None removes the property."""
        if not _PROP_NAME.match(name):
            raise ValueError(f"{name!r} is not a system property name.")
        with self._lock:
            if value is None:
                self._props.pop(name, None)
            else:
                self._props[name] = str(value)
            listing = "".join(f"[{k}]: [{v}]\n" for k, v in sorted(self._props.items()))
        if value is None:
            self.files.remove(f"{SHIM_DATA}/prop/{name}")
        else:
            self.files.write(f"{SHIM_DATA}/prop/{name}", f"{value}\n")  # "" prints an empty line
        self.files.write(f"{SHIM_DATA}/all_props", listing)

    def set_dumpsys(self, service: str, answer: Content | None) -> None:
        """Set what `dumpsys <service>` prints: text or a callable of uptime seconds; None removes."""
        if not _SERVICE_NAME.match(service):
            raise ValueError(f"{service!r} is not a service name.")
        path = f"{SHIM_DATA}/dumpsys/{service}"
        if answer is None:
            self.files.remove(path)
        else:
            self.files.write(path, answer)

    def host_path(self, device_path: str) -> Path:
        """Where the file the phone sees at `device_path` is on this machine."""
        return self.sandbox.host_path(device_path)

    @property
    def features(self) -> tuple[str, ...]:
        return DEVICE_FEATURES

    # -- connection state and faults ------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def state(self) -> str:
        """adb's state word for the phone: "device", "offline" or "unauthorized"."""
        return self._state

    @property
    def transport_id(self) -> int:
        """adb's transport id; a new one on every reconnect, as with a real replug."""
        return self._transport_id

    def disconnect(self) -> None:
        """Unplug: drop every open connection and vanish from the device list."""
        self._change(connected=False)

    def reconnect(self) -> None:
        """Plug back in: listed again, under a new transport id."""
        self._change(connected=True)

    def set_state(self, state: str) -> None:
        """Show as "device", "offline" or "unauthorized"; leaving "device" drops connections."""
        if state not in STATES:
            raise ValueError(f"Unknown adb state {state!r}; expected one of {', '.join(STATES)}.")
        self._change(state=state)

    def _change(self, *, connected: bool | None = None, state: str | None = None) -> None:
        with self._lock:
            was_reachable = self._connected and self._state == DEVICE
            if connected is not None:
                if connected and not self._connected:
                    self._transport_id = next(_transport_ids)
                self._connected = connected
            if state is not None:
                self._state = state
            dropped = []
            if was_reachable and not (self._connected and self._state == DEVICE):
                dropped = list(self._links.values())
                self._links.clear()
            listeners = list(self._listeners)
        for drop in dropped:
            drop()
        for listener in listeners:
            listener()

    def unavailable_reason(self) -> str | None:
        """None when requests may be served, else adb's error text for this phone."""
        if not self._connected:
            return f"device '{self.serial}' not found"
        if self._state == UNAUTHORIZED:
            return (
                "device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set\n"
                "Try 'adb kill-server' if that seems wrong.\n"
                "Otherwise check for a confirmation dialog on your device."
            )
        if self._state == OFFLINE:
            return "device offline"
        return None

    # -- used by the server ---------------------------------------------------------------------

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` whenever the phone is plugged, unplugged or changes state."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def open_link(self, drop: Callable[[], None]) -> int:
        """Register a connection to the phone; `drop()` is called if the phone goes away.

        Raises PhoneUnavailable if it is already gone.
        """
        with self._lock:
            reason = self.unavailable_reason()
            if reason is not None:
                raise PhoneUnavailable(reason)
            link_id = next(self._link_ids)
            self._links[link_id] = drop
            return link_id

    def close_link(self, link_id: int) -> None:
        with self._lock:
            self._links.pop(link_id, None)

    def begin_request(self, service: str, argument: str) -> None:
        """Log a shell command or sync request, bring dynamic files up to date, apply latency."""
        with self._lock:
            self._log.append(CommandRecord(service, argument, self.uptime_s()))
        self.files.refresh()
        if self.command_latency_s > 0:
            time.sleep(self.command_latency_s)

    # -- the command log ------------------------------------------------------------------------

    @property
    def log(self) -> list[CommandRecord]:
        """Every request served, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    def shell_commands(self) -> list[str]:
        """The command line of every shell command, oldest first."""
        return [record.argument for record in self.log if record.is_shell]

    def sync_requests(self, service: str | None = None) -> list[str]:
        """Device paths of every sync request, or only of one kind ("SEND", "RECV", "STAT", ...)."""
        return [
            record.argument
            for record in self.log
            if not record.is_shell and (service is None or record.service == service)
        ]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def _install_shims(self) -> None:
        for shim in SHIMS.iterdir():
            target = self.host_path(f"/system/bin/{shim.name}")
            shutil.copyfile(shim, target)
            target.chmod(0o755)


def _default_cpu_freqs() -> list[int]:
    count = len(os.sched_getaffinity(0))  # CPUs `taskset` can actually pin to here
    little = count // 2
    return [1_800_000] * little + [2_850_000] * (count - little)
