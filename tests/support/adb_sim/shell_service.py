"""The `shell:`, `shell,v2:` and `exec:` services: run a command on the phone, stream its output.

Legacy shell (`shell:` and `exec:`) sends stdout and stderr merged, raw, and closes the
connection at exit, so the exit code is lost (adbutils' shell2() recovers it with an `echo $?`).
Shell protocol v2 (`shell,v2[,raw|pty|TERM=..]:`) wraps stdout and stderr in their own packets
and ends with an exit packet carrying the exit code.

Departures from a phone, all deliberate: stdin is /dev/null (adbutils never sends any, and a
command that reads stdin would otherwise hang forever), `pty` is served as `raw`, and an empty
command (an interactive shell) is refused.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import threading
from dataclasses import dataclass

from .phone import SimulatedPhone
from .sandbox import SandboxUnavailable, kill_process_group
from .wire import SHELL_EXIT, SHELL_STDERR, SHELL_STDOUT, AdbSocket, shell_packet

_READ_SIZE = 64 * 1024


@dataclass(frozen=True)
class ShellRequest:
    """A parsed shell service request; `service` is the name the phone's log records."""

    command: str
    v2: bool

    @property
    def service(self) -> str:
        return "shell,v2" if self.v2 else "shell"

    @classmethod
    def parse(cls, request: str) -> ShellRequest | None:
        """The request as a shell command, or None if it is not a shell service."""
        if request.startswith("exec:"):
            return cls(request[len("exec:"):], v2=False)
        head, colon, command = request.partition(":")
        name, *args = head.split(",")
        if not colon or name != "shell":
            return None
        return cls(command, v2="v2" in args)


class ProcessSlot:
    """The process a connection is running, so an unplug in another thread can kill it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._dropped = False

    def hold(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._process = process
            dropped = self._dropped
        if dropped:  # unplugged between the request and the spawn
            kill_process_group(process)

    def drop(self) -> None:
        with self._lock:
            self._dropped = True
            process = self._process
        if process is not None:
            kill_process_group(process)


def serve_shell(
    sock: AdbSocket, phone: SimulatedPhone, request: ShellRequest, slot: ProcessSlot
) -> None:
    """Run `request` on `phone` and stream it to the client; `slot` lets an unplug kill it."""
    if not request.command.strip():
        sock.fail("interactive shells are not supported by the adb simulator; pass a command")
        return
    phone.begin_request(request.service, request.command)
    try:
        process = phone.sandbox.spawn(request.command, merge_stderr=not request.v2)
    except SandboxUnavailable as error:
        sock.fail(str(error))
        return
    slot.hold(process)
    finished = False
    try:
        sock.okay()
        finished = _stream(sock, process, request.v2)
    finally:
        if not finished:  # the client left or the phone was unplugged: end what it started
            kill_process_group(process)
        process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def _stream(sock: AdbSocket, process: subprocess.Popen, v2: bool) -> bool:
    """Forward output until the command closes its pipes; False if the client went away first."""
    streams = {process.stdout.fileno(): SHELL_STDOUT}
    if v2:
        streams[process.stderr.fileno()] = SHELL_STDERR
    with selectors.DefaultSelector() as selector:
        for fd in streams:
            selector.register(fd, selectors.EVENT_READ)
        # The client's side is watched only to notice it leave (stdin is not forwarded).
        selector.register(sock.sock, selectors.EVENT_READ)
        while streams:
            for key, _ in selector.select():
                if key.fileobj is sock.sock:
                    if not _client_still_there(sock):
                        return False
                    continue
                data = os.read(key.fd, _READ_SIZE)
                if not data:
                    selector.unregister(key.fd)
                    del streams[key.fd]
                elif v2:
                    sock.send(shell_packet(streams[key.fd], data))
                else:
                    sock.send(data)
    exit_code = process.wait()
    if v2:
        sock.send(shell_packet(SHELL_EXIT, bytes([_exit_status(exit_code)])))
    return True


def _client_still_there(sock: AdbSocket) -> bool:
    try:
        return bool(sock.sock.recv(_READ_SIZE))  # stdin packets are read and dropped
    except OSError:
        return False


def _exit_status(returncode: int) -> int:
    """The status byte a shell reports: the exit code, or 128 + N for death by signal N."""
    return 128 - returncode if returncode < 0 else returncode & 0xFF
