"""The `sync:` service: stat, list, push and pull files on the phone (SYNC.TXT).

Requests on one connection are served until QUIT, the client closes, or a request fails: as in
adbd, a FAIL ends the session. Implemented: STAT (lstat, v1), STA2 / LST2 (stat_v2), LIST,
LIS2 (ls_v2), SEND (v1, regular files), RECV (v1). SEND creates missing parent directories
(fixed_push_mkdir), applies the mode the way adbd does, and sets the mtime from DONE.
Compressed or v2 transfers (SND2, RCV2) and pushing symlinks are refused with a FAIL.

Paths map to the host as `DeviceSandbox.host_path` says; only the sandbox is writable.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Callable

from .phone import SimulatedPhone
from .wire import (
    DENT_V1,
    DENT_V2,
    STAT_V1,
    STAT_V2,
    SYNC_DATA_MAX,
    SYNC_HEADER,
    SYNC_PATH_MAX,
    AdbSocket,
    ConnectionClosed,
    sync_fail,
    sync_message,
)

_U32 = 0xFFFFFFFF


class SyncSession:
    """Serves sync requests for one connection to `phone`."""

    def __init__(self, sock: AdbSocket, phone: SimulatedPhone):
        self.sock = sock
        self.phone = phone
        self._handlers: dict[bytes, Callable[[str], bool]] = {
            b"STAT": self._lstat_v1,
            b"STA2": lambda path: self._stat_v2(b"STA2", os.stat, path),
            b"LST2": lambda path: self._stat_v2(b"LST2", os.lstat, path),
            b"LIST": lambda path: self._list(path, v2=False),
            b"LIS2": lambda path: self._list(path, v2=True),
            b"SEND": self._send,
            b"RECV": self._recv,
        }

    def run(self) -> None:
        while self._serve_one():
            pass

    def _serve_one(self) -> bool:
        """Serve one request; False when the session is over."""
        try:
            sync_id, length = SYNC_HEADER.unpack(self.sock.read_exact(SYNC_HEADER.size))
        except ConnectionClosed:
            return False
        if length > SYNC_PATH_MAX:
            self.sock.send(sync_fail("path too long"))
            return False
        path = self.sock.read_exact(length).decode("utf-8", errors="surrogateescape")
        if sync_id == b"QUIT":
            return False
        handler = self._handlers.get(sync_id)
        if handler is None:
            self.sock.send(sync_fail(f"unknown command {int.from_bytes(sync_id, 'little'):08x}"))
            return False
        logged_path = path.rpartition(",")[0] if sync_id == b"SEND" else path
        self.phone.begin_request(sync_id.decode("ascii", errors="replace"), logged_path)
        return handler(path)

    # -- stat and list --------------------------------------------------------------------------

    def _lstat_v1(self, path: str) -> bool:
        try:
            st = os.lstat(self.phone.host_path(path))
            fields = (st.st_mode, st.st_size & _U32, int(st.st_mtime) & _U32)
        except OSError:
            fields = (0, 0, 0)  # v1 has no error field: all zeros means "no such file"
        self.sock.send(STAT_V1.pack(b"STAT", *fields))
        return True

    def _stat_v2(self, reply_id: bytes, stat_fn: Callable, path: str) -> bool:
        try:
            reply = STAT_V2.pack(reply_id, 0, *_stat_v2_fields(stat_fn(self.phone.host_path(path))))
        except OSError as error:
            reply = STAT_V2.pack(reply_id, error.errno or errno.EIO, *([0] * 10))
        self.sock.send(reply)
        return True

    def _list(self, path: str, v2: bool) -> bool:
        directory = self.phone.host_path(path)
        try:
            names = [".", ".."] + sorted(os.listdir(directory))
        except OSError:
            names = []  # adbd answers an unreadable directory with an empty listing
        for name in names:
            encoded = name.encode("utf-8", errors="surrogateescape")
            try:
                st = os.lstat(directory / name)
            except OSError as error:
                if not v2:
                    continue
                header = DENT_V2.pack(b"DNT2", error.errno or errno.EIO, *([0] * 10), len(encoded))
            else:
                if v2:
                    header = DENT_V2.pack(b"DNT2", 0, *_stat_v2_fields(st), len(encoded))
                else:
                    header = DENT_V1.pack(
                        b"DENT", st.st_mode, st.st_size & _U32, int(st.st_mtime) & _U32, len(encoded)
                    )
            # One write per entry: adbutils reads each entry's fixed part with a single recv().
            self.sock.send(header + encoded)
        done = DENT_V2.pack(b"DONE", *([0] * 12)) if v2 else DENT_V1.pack(b"DONE", 0, 0, 0, 0)
        self.sock.send(done)
        return True

    # -- push and pull --------------------------------------------------------------------------

    def _send(self, spec: str) -> bool:
        path, comma, mode_text = spec.rpartition(",")
        if not comma:
            return self._fail_send("missing , in ID_SEND_V1")
        try:
            mode = _parse_c_unsigned(mode_text)
        except ValueError:
            return self._fail_send("bad mode")
        if stat.S_ISLNK(mode):
            return self._fail_send("pushing symlinks is not supported by the adb simulator")
        if not self.phone.sandbox.owns(path):
            return self._fail_send(f"couldn't create file: {os.strerror(errno.EROFS)}")
        target = self.phone.host_path(path)
        try:
            fd = _create_for_push(target, _push_mode(mode))
        except _PushError as error:
            return self._fail_send(str(error))
        try:
            mtime = self._receive_file(fd, target)
        except ConnectionClosed:
            target.unlink(missing_ok=True)  # adbd removes what a broken push left behind
            raise
        if mtime is None:
            return False
        os.utime(target, (mtime, mtime))
        self.sock.send(sync_message(b"OKAY", 0))
        return True

    def _receive_file(self, fd: int, target: Path) -> int | None:
        """Write DATA chunks to `fd` until DONE; its mtime, or None once a FAIL was sent."""
        with os.fdopen(fd, "wb") as out:
            while True:
                sync_id, value = SYNC_HEADER.unpack(self.sock.read_exact(SYNC_HEADER.size))
                if sync_id == b"DONE":
                    return value
                if sync_id != b"DATA" or value > SYNC_DATA_MAX:
                    target.unlink(missing_ok=True)
                    self.sock.send(sync_fail("invalid data message"))
                    return None
                data = self.sock.read_exact(value)
                try:
                    out.write(data)
                except OSError as error:
                    target.unlink(missing_ok=True)
                    self._fail_send(f"write failed: {os.strerror(error.errno)}")
                    return None

    def _fail_send(self, message: str) -> bool:
        """FAIL a push, then swallow the data the client is still sending, as adbd does."""
        self.sock.send(sync_fail(message))
        while True:
            sync_id, value = SYNC_HEADER.unpack(self.sock.read_exact(SYNC_HEADER.size))
            if sync_id != b"DATA" or value > SYNC_DATA_MAX:
                return False
            self.sock.read_exact(value)

    def _recv(self, path: str) -> bool:
        try:
            source = open(self.phone.host_path(path), "rb")
        except OSError as error:
            self.sock.send(sync_fail(f"open failed: {os.strerror(error.errno)}"))
            return False
        with source:
            while chunk := source.read(SYNC_DATA_MAX):
                self.sock.send(sync_message(b"DATA", len(chunk), chunk))
        self.sock.send(sync_message(b"DONE", 0))
        return True


class _PushError(Exception):
    pass


def _create_for_push(target: Path, mode: int) -> int:
    """Open `target` for writing as adbd does: replace a file or symlink, make parent dirs."""
    if target.is_symlink() or target.is_file():
        target.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(target, flags, mode)
    except FileNotFoundError:
        try:
            target.parent.mkdir(mode=0o775, parents=True, exist_ok=True)
        except OSError as error:
            raise _PushError(f"secure_mkdirs() failed: {os.strerror(error.errno)}") from None
        fd = None
    except FileExistsError:
        fd = None
    try:
        if fd is None:
            fd = os.open(target, flags & ~os.O_EXCL, mode)
        os.fchmod(fd, mode)  # open() applied the umask; the phone keeps the mode asked for
        return fd
    except OSError as error:
        raise _PushError(f"couldn't create file: {os.strerror(error.errno)}") from None


def _push_mode(mode: int) -> int:
    """The mode adbd gives a pushed file: the permission bits, with the owner's copied to group
    and others, so 0o644 lands as 0o666 and 0o755 as 0o777, as `ls -l /data/local/tmp` shows."""
    mode &= 0o777
    mode |= (mode >> 3) & 0o070
    mode |= (mode >> 3) & 0o007
    return mode


def _parse_c_unsigned(text: str) -> int:
    """strtoul(text, NULL, 0): decimal, 0x-hex or 0-octal."""
    text = text.strip()
    if text.lower().startswith("0x"):
        return int(text, 16)
    if len(text) > 1 and text.startswith("0"):
        return int(text, 8)
    return int(text, 10)


def _stat_v2_fields(st: os.stat_result) -> tuple[int, ...]:
    """dev, ino, mode, nlink, uid, gid, size, atime, mtime, ctime as STAT_V2 packs them."""
    return (
        st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid,
        st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime),
    )
