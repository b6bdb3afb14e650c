"""The connection to one phone: adbutils with a timeout on every call, and a phone that may leave.

Every call goes through `AdbLink`, which gives each one a socket timeout and turns whatever
adbutils or the socket raised into one of two errors the runner acts on:

    DeviceGone        the phone is no longer in `adb devices` as "device" (unplugged, rebooting,
                      offline, unauthorized): the measurement is lost, wait for it to come back
    DeviceCallFailed  the call failed or timed out while the phone stayed attached

The adb server is found where adb itself looks: $ANDROID_ADB_SERVER_HOST and
$ANDROID_ADB_SERVER_PORT, else 127.0.0.1:5037. Before anything else it is probed with a plain
socket, because adbutils answers a refused connection by starting an adb server of its own;
`harness devices` on a machine without one should list no phones, not start a daemon.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from device_runners.errors import DeviceError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5037
# A call that moves no byte for this long has hung (a shell's own timeout is set per call).
DEFAULT_CALL_TIMEOUT_S = 60.0
# After a failed call, how long to give the adb server to notice an unplugged cable before the
# failure is blamed on the call rather than on the connection.
_SETTLE_S = 0.5


class AndroidDeviceError(DeviceError):
    """A phone cannot be used as asked; the message is one line saying what to do."""


class DeviceGone(Exception):
    """The phone left `adb devices` (or is there but not usable); the text says how it is."""


class DeviceCallFailed(Exception):
    """A call to a phone that is still attached failed; the text says which call and why."""


def adb_server_address() -> tuple[str, int]:
    host = os.environ.get("ANDROID_ADB_SERVER_HOST") or DEFAULT_HOST
    port = os.environ.get("ANDROID_ADB_SERVER_PORT") or str(DEFAULT_PORT)
    if not port.isdigit():
        raise AndroidDeviceError(f"ANDROID_ADB_SERVER_PORT must be a port number, not {port!r}.")
    return host, int(port)


def adb_server_reachable(host: str, port: int, timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def adb_client(host: str | None = None, port: int | None = None,
               call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S):
    """An adbutils client for the server at host:port (default: where adb looks)."""
    import adbutils

    default_host, default_port = adb_server_address()
    return adbutils.AdbClient(host=host or default_host, port=port or default_port,
                              socket_timeout=call_timeout_s)


@dataclass(frozen=True)
class ShellOutput:
    exit_code: int
    stdout: str
    stderr: str


def _call_errors() -> tuple[type[BaseException], ...]:
    from adbutils.errors import AdbError

    # EOFError: adbutils' read_exact when the server drops the connection mid-reply.
    return (AdbError, OSError, EOFError)


class AdbLink:
    """Calls to the phone `serial` through the adb server behind `client`."""

    def __init__(self, client, serial: str, call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S):
        self.client = client
        self.serial = serial
        self.call_timeout_s = call_timeout_s
        self._device = client.device(serial)

    # -- calls ----------------------------------------------------------------------------------

    def shell(self, command: str, timeout_s: float | None = None, what: str = "") -> ShellOutput:
        """Run `command` with `sh -c` on the phone (shell protocol v2: exit code and stderr kept).

        `timeout_s` bounds how long the phone may stay silent, not the whole command; `what`
        names the call in errors (default: the command's first words).
        """
        timeout_s = timeout_s or self.call_timeout_s
        what = what or "`" + " ".join(command.split()[:2]) + " ...`"
        with self._translated(what, timeout_s):
            result = self._device.shell2(command, timeout=timeout_s, v2=True)
        return ShellOutput(result.returncode, result.stdout, result.stderr)

    def push(self, local: str | Path, remote: str, mode: int = 0o644) -> int:
        with self._translated(f"pushing {Path(local).name} to {remote}", self.call_timeout_s):
            return self._device.sync.push(Path(local), remote, mode=mode)

    # -- connection state -----------------------------------------------------------------------

    def state(self) -> str:
        """adb's word for the phone: "device", "offline", "unauthorized", ... or "absent"."""
        host, port = self.client.host, self.client.port
        if not adb_server_reachable(host, port):
            return "absent"
        try:
            for entry in self.client.list():
                if entry.serial == self.serial:
                    return entry.state
        except _call_errors():
            return "absent"
        return "absent"

    def wait_until_attached(self, timeout_s: float, poll_s: float = 0.5) -> bool:
        """Wait up to `timeout_s` for the phone to be listed as "device" again."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.state() == "device":
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))

    @contextlib.contextmanager
    def _translated(self, what: str, timeout_s: float):
        try:
            yield
        except _call_errors() as exc:
            state = self.state()
            if state == "device":  # the server may not have noticed an unplug yet
                time.sleep(_SETTLE_S)
                state = self.state()
            if state != "device":
                raise DeviceGone(f"{self.serial} is {_describe_state(state)}") from exc
            from adbutils.errors import AdbTimeout

            if isinstance(exc, (AdbTimeout, socket.timeout)):
                raise DeviceCallFailed(f"{what} timed out (no reply for {timeout_s:.0f} s)") from exc
            raise DeviceCallFailed(f"{what} failed: {exc or type(exc).__name__}") from exc


def _describe_state(state: str) -> str:
    return {
        "absent": "no longer attached (not in `adb devices`)",
        "offline": "offline",
        "unauthorized": "unauthorized (accept the USB debugging prompt on the phone)",
    }.get(state, f"in state {state!r}")
