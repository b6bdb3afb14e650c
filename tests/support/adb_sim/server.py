"""`AdbSimServer`: a loopback adb server with simulated phones attached.

It answers the adb host protocol (AOSP SERVICES.TXT) the way the real server on port 5037
does, so adbutils talks to it unchanged:

    with SimulatedPhone("SIM0001") as phone, AdbSimServer([phone]) as server:
        client = adbutils.AdbClient(host=server.host, port=server.port)
        client.device("SIM0001").shell2("getprop ro.product.model", v2=True)

Host services: `host:version`, `devices`, `devices-l`, `track-devices[-l]`, `features`,
`host-features`, `kill` (answered, ignored); transport selection (`host:transport:<serial>`,
`transport-id:<n>`, `transport-any|-usb|-local`, and the `host:tport:...` forms that also
return the transport id); per-device queries under `host-serial:<serial>:`,
`host-transport-id:<n>:`, `host-usb:`, `host-local:` or `host:` (`get-state`, `get-serialno`,
`get-devpath`, `features`, `wait-for-<transport>-<state>`).
`connect:<host:port>` / `disconnect:<host:port>` attach and detach a phone reachable over the
network (`AdbSimServer(network=[phone])`, a phone whose serial is its address: what STF lends).
Device services once a transport is selected: `shell:`, `shell,v2,...:`, `exec:`, `sync:`.
Anything else (forward, reverse, root, reboot, ...) gets a FAIL naming it.

Every connection runs in its own thread; `stop()` drops them all and kills the commands they
ran. The listening socket is bound to 127.0.0.1 only. Internal errors are logged and kept in
`errors` so a test can assert there were none.

Note: after `stop()`, adbutils' reaction to a refused connection is to run `adb start-server`,
which starts a real adb server on port 5037; don't use a client after its server stopped.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import traceback
from dataclasses import dataclass
from typing import Iterable

from .phone import DEVICE, DEVICE_FEATURES, PhoneUnavailable, SimulatedPhone
from .shell_service import ProcessSlot, ShellRequest, serve_shell
from .sync_service import SyncSession
from .wire import OKAY, AdbSocket, ConnectionClosed, ProtocolError, encode_string, shutdown_quietly

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
ADB_SERVER_VERSION = 41  # adb 1.0.41, the version every current platform-tools reports
DEVPATH = "usb:1-1"  # what `adb devices -l` shows as the USB port
_POLL_S = 0.25  # how often long-lived requests check that their client is still there


@dataclass(frozen=True)
class TransportSelector:
    """Which phone a request is about: by serial, by transport id, or the only one of a kind."""

    serial: str | None = None
    transport_id: int | None = None
    kind: str = "any"  # "any", "usb" (the simulated phones) or "local" (emulators: none here)


# adb's words when a selector matches no phone, or several.
_NO_PHONE = {
    "any": "no devices/emulators found",
    "usb": "no devices found",
    "local": "no emulators found",
}
_MANY_PHONES = {
    "any": "more than one device/emulator",
    "usb": "more than one device",
    "local": "more than one emulator",
}
# Host services about one phone, answered by the server from what it knows of the phone.
_DEVICE_QUERIES = {
    "get-state": lambda phone: phone.state,
    "get-serialno": lambda phone: phone.serial,
    "get-devpath": lambda phone: DEVPATH,
    "features": lambda phone: ",".join(phone.features),
}
_WAIT_STATES = ("device", "recovery", "rescue", "sideload", "bootloader", "disconnect")


class AdbSimServer:
    """A threaded adb server on 127.0.0.1 serving `phones`; use as a context manager.

    Args:
        phones: the phones plugged in at start; more can be added with `add_phone()`.
        port: the TCP port, 0 (the default) for an ephemeral one; read it from `port`.
    """

    host = LOOPBACK

    def __init__(self, phones: Iterable[SimulatedPhone] = (), *, port: int = 0,
                 network: Iterable[SimulatedPhone] = ()):
        self._requested_port = port
        # Phones at a network address: unlisted until `adb connect <serial>` (their serial).
        self._network = {phone.serial: phone for phone in network}
        self._phones: list[SimulatedPhone] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._generation = 0  # bumped whenever a phone is plugged, unplugged or changes state
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._connections: set[AdbSocket] = set()
        self._threads: set[threading.Thread] = set()
        self.errors: list[str] = []
        # Every request a client opened a connection with, oldest first ("host:devices",
        # "host-serial:X:get-state", ...): what a test waits on to know the client is asking.
        self.requests: list[str] = []
        for phone in phones:
            self.add_phone(phone)
        for phone in self._network.values():
            phone.disconnect()
            self.add_phone(phone)

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> AdbSimServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> AdbSimServer:
        if self._listener is not None:
            raise RuntimeError("The adb simulator is already running.")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self._requested_port))
        listener.listen(64)
        self._listener = listener
        self._stopping.clear()
        self._start_thread(self._accept_loop, "adb-sim-accept")
        return self

    def stop(self) -> None:
        """Stop listening, drop every connection, kill running commands, join all threads."""
        if self._listener is None:
            return
        self._stopping.set()
        shutdown_quietly(self._listener)  # wakes accept(); close() alone does not on Linux
        self._listener.close()
        with self._changed:
            self._changed.notify_all()
            connections = list(self._connections)
            threads = list(self._threads)
        for connection in connections:
            shutdown_quietly(connection.sock)
        for thread in threads:
            thread.join(timeout=10)
        self._listener = None

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("The adb simulator is not running; call start() first.")
        return self._listener.getsockname()[1]

    def env(self) -> dict[str, str]:
        """Environment variables that point adbutils or the adb command line at this server."""
        return {"ANDROID_ADB_SERVER_HOST": self.host, "ANDROID_ADB_SERVER_PORT": str(self.port)}

    # -- phones ---------------------------------------------------------------------------------

    @property
    def phones(self) -> list[SimulatedPhone]:
        with self._lock:
            return list(self._phones)

    def add_phone(self, phone: SimulatedPhone) -> None:
        with self._lock:
            if any(other.serial == phone.serial for other in self._phones):
                raise ValueError(f"A phone with serial {phone.serial!r} is already attached.")
            self._phones.append(phone)
        phone.add_listener(self._phones_changed)
        self._phones_changed()

    def remove_phone(self, phone: SimulatedPhone) -> None:
        """Detach `phone` (its connections are dropped, as when it is unplugged)."""
        phone.remove_listener(self._phones_changed)
        phone.disconnect()
        with self._lock:
            self._phones.remove(phone)
        self._phones_changed()

    # -- what sessions ask the server -----------------------------------------------------------

    def select(self, selector: TransportSelector, *, any_state: bool = False) -> SimulatedPhone:
        """The phone `selector` names; raises PhoneUnavailable with adb's error text.

        Unless `any_state`, the phone must also be in the "device" state.
        """
        plugged = [phone for phone in self.phones if phone.connected]
        if selector.serial is not None:
            matches = [phone for phone in plugged if phone.serial == selector.serial]
            if not matches:
                raise PhoneUnavailable(f"device '{selector.serial}' not found")
        elif selector.transport_id is not None:
            matches = [phone for phone in plugged if phone.transport_id == selector.transport_id]
            if not matches:
                raise PhoneUnavailable(f"no device with transport id '{selector.transport_id}'")
        else:
            matches = plugged if selector.kind != "local" else []
            if not matches:
                raise PhoneUnavailable(_NO_PHONE[selector.kind])
            if len(matches) > 1:
                raise PhoneUnavailable(_MANY_PHONES[selector.kind])
        phone = matches[0]
        reason = phone.unavailable_reason()
        if reason is not None and not any_state:
            raise PhoneUnavailable(reason)
        return phone

    def connect_network(self, address: str) -> str:
        """What `adb connect address` says (always after OKAY, as the real server does)."""
        phone = self._network.get(address)
        if phone is None:
            return f"failed to connect to '{address}': Connection refused"
        if phone.connected:
            return f"already connected to {address}"
        phone.reconnect()
        return f"connected to {address}"

    def disconnect_network(self, address: str) -> str:
        phone = self._network.get(address)
        if phone is None or not phone.connected:
            return f"no such device '{address}'"
        phone.disconnect()
        return f"disconnected {address}"

    def device_listing(self, long: bool) -> str:
        """What `host:devices` (or `host:devices-l` when `long`) answers."""
        lines = []
        for phone in self.phones:
            if not phone.connected:
                continue
            if not long:
                lines.append(f"{phone.serial}\t{phone.state}")
                continue
            line = f"{phone.serial:<22} {phone.state} {DEVPATH}"
            if phone.state == DEVICE:  # adb learns these from the phone once it is authorized
                props = phone.props
                for label, prop, alphanumeric in (
                    ("product", "ro.product.name", False),
                    ("model", "ro.product.model", True),
                    ("device", "ro.product.device", False),
                ):
                    if props.get(prop):
                        line += f" {label}:{_sanitize(props[prop], alphanumeric)}"
            lines.append(f"{line} transport_id:{phone.transport_id}")
        return "".join(line + "\n" for line in lines)

    def wait_for_change(self, generation: int, timeout: float) -> int:
        """Block until the phones change after `generation` (or `timeout`); the new generation."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._generation != generation or self._stopping.is_set(), timeout=timeout
            )
            return self._generation

    @property
    def generation(self) -> int:
        with self._lock:
            return self._generation

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- internals ------------------------------------------------------------------------------

    def _phones_changed(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def _start_thread(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _accept_loop(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    conn, _ = self._listener.accept()
                except OSError:
                    return  # the listener was shut down by stop()
                self._start_thread(self._serve, "adb-sim-connection", AdbSocket(conn))
        finally:
            self._forget_thread()

    def _serve(self, sock: AdbSocket) -> None:
        with self._lock:
            self._connections.add(sock)
        try:
            if not self._stopping.is_set():
                _HostSession(self, sock).run()
        except ConnectionClosed:
            pass  # the client hung up, or the phone was unplugged under it
        except Exception:
            self.errors.append(traceback.format_exc())
            logger.exception("the adb simulator failed while serving a request")
        finally:
            with self._lock:
                self._connections.discard(sock)
            sock.close()
            self._forget_thread()

    def _forget_thread(self) -> None:
        with self._lock:
            self._threads.discard(threading.current_thread())


class _HostSession:
    """One client connection: a host request, and a device request if it picked a transport."""

    def __init__(self, server: AdbSimServer, sock: AdbSocket):
        self.server = server
        self.sock = sock

    def run(self) -> None:
        try:
            phone = self._host_request(self.sock.read_request())
            if phone is not None:
                self._device_request(phone, self.sock.read_request())
        except ProtocolError as error:
            self.sock.fail(str(error))

    # -- host requests --------------------------------------------------------------------------

    def _host_request(self, request: str) -> SimulatedPhone | None:
        """Answer `request`; the phone whose transport it selected, if it selected one."""
        self.server.requests.append(request)  # list.append is atomic: no lock needed
        if request.startswith("host:"):
            return self._host_command(request[len("host:"):])
        selector, command = self._parse_device_prefix(request)
        self._device_query(selector, command)
        return None

    def _parse_device_prefix(self, request: str) -> tuple[TransportSelector, str]:
        """Split `host-serial:<serial>:`, `host-transport-id:<n>:`, `host-usb:`, `host-local:`."""
        if request.startswith("host-serial:"):
            serial, command = self._split_serial(request[len("host-serial:"):])
            return TransportSelector(serial=serial), command
        if request.startswith("host-transport-id:"):
            id_text, _, command = request[len("host-transport-id:"):].partition(":")
            return TransportSelector(transport_id=_parse_id(id_text)), command
        for prefix, kind in (("host-usb:", "usb"), ("host-local:", "local")):
            if request.startswith(prefix):
                return TransportSelector(kind=kind), request[len(prefix):]
        raise ProtocolError(f"unknown request '{request}'; a host request starts with 'host'")

    def _host_command(self, command: str) -> SimulatedPhone | None:
        if command == "version":
            self.sock.okay(f"{ADB_SERVER_VERSION:04x}")
        elif command in ("devices", "devices-l"):
            self.sock.okay(self.server.device_listing(long=command == "devices-l"))
        elif command in ("track-devices", "track-devices-l"):
            self._track_devices(long=command == "track-devices-l")
        elif command == "host-features":
            self.sock.okay(",".join(DEVICE_FEATURES))  # the host supports what the phones do
        elif command == "kill":
            self.sock.okay()  # a real server would exit; this one stays for the test's sake
        elif command.startswith("connect:"):
            self.sock.okay(self.server.connect_network(command[len("connect:"):]))
        elif command.startswith("disconnect:"):
            said = self.server.disconnect_network(command[len("disconnect:"):])
            self.sock.okay(said) if said.startswith("disconnected") else self.sock.fail(said)
        elif command.startswith(("transport", "tport:")):
            return self._switch_transport(command)
        else:
            self._device_query(TransportSelector(), command)
        return None

    def _switch_transport(self, command: str) -> SimulatedPhone | None:
        """`transport...` answers OKAY; `tport:...` answers OKAY and the 8-byte transport id."""
        with_id = command.startswith("tport:")
        target = command[len("tport:"):] if with_id else command
        if target.startswith(("transport:", "serial:")):
            selector = TransportSelector(serial=target.partition(":")[2])
        elif target.startswith(("transport-id:", "id:")):
            selector = TransportSelector(transport_id=_parse_id(target.partition(":")[2]))
        elif target in ("transport-any", "transport-usb", "transport-local", "any", "usb", "local"):
            selector = TransportSelector(kind=target.rpartition("-")[2])
        else:
            self.sock.fail(f"unknown transport request 'host:{command}'")
            return None
        try:
            phone = self.server.select(selector)
        except PhoneUnavailable as error:
            self.sock.fail(str(error))
            return None
        self.sock.send(OKAY + (struct.pack("<Q", phone.transport_id) if with_id else b""))
        return phone

    def _device_query(self, selector: TransportSelector, command: str) -> None:
        """Requests about one phone that the server answers itself (no transport switch)."""
        if command.startswith("wait-for-"):
            self._wait_for(selector, command)
        elif command not in _DEVICE_QUERIES:
            self.sock.fail(f"the adb simulator does not implement the host service '{command}'")
        else:
            try:
                phone = self.server.select(selector, any_state=command == "get-state")
            except PhoneUnavailable as error:
                self.sock.fail(str(error))
                return
            self.sock.okay(_DEVICE_QUERIES[command](phone))

    def _track_devices(self, long: bool) -> None:
        """OKAY, then the device list now and again after every change, until the client leaves."""
        self.sock.okay()
        sent = None
        generation = self.server.generation
        while not self.server.stopping and not self.sock.peer_closed():
            listing = self.server.device_listing(long)
            if listing != sent:
                self.sock.send(encode_string(listing))
                sent = listing
            generation = self.server.wait_for_change(generation, timeout=_POLL_S)

    def _wait_for(self, selector: TransportSelector, command: str) -> None:
        """`wait-for-<transport>-<state>`: OKAY now, and OKAY again once the state is reached."""
        transport, _, state = command[len("wait-for-"):].partition("-")
        if transport not in ("any", "usb", "local") or state not in _WAIT_STATES:
            self.sock.fail(f"bad wait-for request '{command}'")
            return
        if selector.serial is None and selector.transport_id is None:
            selector = TransportSelector(kind=transport)
        self.sock.okay()
        generation = self.server.generation
        while not self._reached(selector, state):
            if self.server.stopping or self.sock.peer_closed():
                return
            generation = self.server.wait_for_change(generation, timeout=_POLL_S)
        self.sock.okay()

    def _reached(self, selector: TransportSelector, state: str) -> bool:
        try:
            phone = self.server.select(selector, any_state=True)
        except PhoneUnavailable:
            return state == "disconnect"
        return phone.state == state

    def _split_serial(self, rest: str) -> tuple[str, str]:
        """Split "<serial>:<command>"; serials such as "10.0.0.2:5555" contain colons themselves."""
        for serial in sorted((phone.serial for phone in self.server.phones), key=len, reverse=True):
            if rest.startswith(serial + ":"):
                return serial, rest[len(serial) + 1:]
        serial, _, command = rest.partition(":")
        return serial, command

    # -- device requests ------------------------------------------------------------------------

    def _device_request(self, phone: SimulatedPhone, request: str) -> None:
        """Serve a device service on `phone`; unplugging it drops this connection."""
        slot = ProcessSlot()

        def drop() -> None:
            slot.drop()
            shutdown_quietly(self.sock.sock)

        try:
            link = phone.open_link(drop)
        except PhoneUnavailable as error:
            self.sock.fail(str(error))
            return
        try:
            shell = ShellRequest.parse(request)
            if shell is not None:
                serve_shell(self.sock, phone, shell, slot)
            elif request == "sync:":
                self.sock.okay()
                SyncSession(self.sock, phone).run()
            else:
                service = request.partition(":")[0]
                self.sock.fail(
                    f"closed: the adb simulator does not implement the device service '{service}'"
                )
        finally:
            phone.close_link(link)


def _parse_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ProtocolError(f"bad transport id '{text}'") from None


def _sanitize(value: str, alphanumeric: bool) -> str:
    """As adb prints device info: newlines (or, for the model, every non-alphanumeric) as '_'."""
    keep = (lambda c: c.isascii() and c.isalnum()) if alphanumeric else (lambda c: c != "\n")
    return "".join(c if keep(c) else "_" for c in value)

