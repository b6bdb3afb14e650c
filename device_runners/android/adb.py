"""The connection to one phone: adbutils with a timeout on every call, and a phone that may leave.

Every call goes through `AdbLink`, which gives each one a socket timeout and turns whatever
adbutils or the socket raised into one of two errors the runner acts on:

    DeviceGone        the phone is no longer in `adb devices` as "device" (unplugged, rebooting,
                      offline, unauthorized): the measurement is lost, wait for it to come back
      AdbServerGone   a DeviceGone whose cause is the adb server itself, which stopped
                      answering on its port: the phone may well be attached still
    DeviceCallFailed  the call failed or timed out while the phone stayed attached

The adb server is found where adb itself looks: $ANDROID_ADB_SERVER_HOST and
$ANDROID_ADB_SERVER_PORT, else 127.0.0.1:5037. The harness never starts one: adbutils answers a
refused connection by running `adb start-server` (AdbConnection._safe_connect), so the client
`adb_client()` returns makes connections that do not (see there), and discovery probes the port
with a plain socket first. `harness devices` on a machine without a server lists no phones, and
a server that dies mid-run is reported, not silently replaced by a fresh one that has lost the
phone's authorization state and every forward.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import shutil
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


class AdbServerGone(DeviceGone):
    """The adb server stopped answering on its port: every call fails, the phone may be fine."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        super().__init__(f"the adb server at {host}:{port} stopped answering: restart it "
                         "(`adb start-server`); the phone may still be attached")


class DeviceCallFailed(Exception):
    """A call to a phone that is still attached failed; the text says which call and why."""


def adb_server_address() -> tuple[str, int]:
    host = os.environ.get("ANDROID_ADB_SERVER_HOST") or DEFAULT_HOST
    port = os.environ.get("ANDROID_ADB_SERVER_PORT") or str(DEFAULT_PORT)
    if not port.isdigit():
        raise AndroidDeviceError(f"ANDROID_ADB_SERVER_PORT must be a port number, not {port!r}.")
    return host, int(port)


def start_server_hint() -> str:
    """How to get an adb server going on this machine: start it, or first install adb. (The
    harness never starts one itself: the user's own adb, of the user's own version, owns it.)"""
    if shutil.which("adb"):
        return "start one with `adb start-server`"
    return ("adb is not installed: install it (Debian and Ubuntu: `sudo apt-get install adb`; "
            "elsewhere Android's platform-tools), then `adb start-server`")


def adb_server_reachable(host: str, port: int, timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def adb_client(host: str | None = None, port: int | None = None,
               call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S):
    """An adbutils client for the server at host:port (default: where adb looks) that never
    starts an adb server: a refused connection is an error (`_client_class` says why)."""
    default_host, default_port = adb_server_address()
    return _client_class()(host=host or default_host, port=port or default_port,
                           socket_timeout=call_timeout_s)


@functools.lru_cache(maxsize=1)
def _client_class():
    """adbutils.AdbClient with connections that never run `adb start-server`.

    adbutils' AdbConnection._safe_connect runs `adb start-server` (whichever `adb` is first on
    PATH, else the one bundled with adbutils) when the server refuses a connection, and
    AdbClient.make_connection makes every connection that way. For the harness that is wrong
    twice: a user who stopped adb did so on purpose, and a server that died mid-run would be
    replaced behind their back by a new one that has to re-authorize the phone, while the
    trial's failure would be blamed on the phone. So the client below makes connections that
    only connect; a refused one raises adbutils' AdbConnectionError, which AdbLink turns into
    AdbServerGone. (Defined on first use: adbutils is the optional `android` extra.)
    """
    import adbutils
    from adbutils.errors import AdbTimeout

    class ConnectionThatStartsNoServer(adbutils.AdbConnection):
        def _safe_connect(self):
            return self._create_socket()  # raises AdbConnectionError/AdbTimeout, starts nothing

    class ClientThatStartsNoServer(adbutils.AdbClient):
        def __init__(self, host: str, port: int, socket_timeout: float | None = None):
            super().__init__(host=host, port=port, socket_timeout=socket_timeout)
            self._default_timeout = socket_timeout

        def make_connection(self, timeout: float | None = None):
            # As AdbClient.make_connection, with the connection class above.
            timeout = timeout or self._default_timeout
            try:
                connection = ConnectionThatStartsNoServer(self.host, self.port)
            except TimeoutError:
                raise AdbTimeout("connect to adb server timeout") from None
            if timeout:
                connection.conn.settimeout(timeout)
            return connection

    return ClientThatStartsNoServer


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

    def pull(self, remote: str, local: str | Path) -> None:
        with self._translated(f"pulling {remote}", self.call_timeout_s):
            self._device.sync.pull(remote, Path(local))

    # -- connection state -----------------------------------------------------------------------

    def server_gone(self) -> AdbServerGone | None:
        """The error to raise when the adb server does not answer on its port, else None."""
        host, port = self.client.host, self.client.port
        return None if adb_server_reachable(host, port) else AdbServerGone(host, port)

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
            gone = self.server_gone()
            if gone is not None:
                raise gone from exc
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
