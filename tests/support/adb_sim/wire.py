"""Byte-level framing of the adb host protocol, the shell protocol v2 and the file sync protocol.

Everything an adb client and server exchange on the wire, as AOSP's adb documents it
(packages/modules/adb: SERVICES.TXT, SYNC.TXT, shell_protocol.h, file_sync_protocol.h):

- A request is 4 lowercase hex digits of length, then that many bytes of UTF-8 service name.
- A reply starts with `OKAY` or `FAIL`; `FAIL` and most host-service answers are followed by a
  length-prefixed string in the same 4-hex-digit form.
- Shell protocol v2 packets are 1 byte of stream id, a little-endian u32 length, the payload.
- Sync messages are a 4-byte ASCII id and a little-endian u32, then a payload for some ids.

Nothing here knows about phones; `AdbSocket` only moves frames.
"""

from __future__ import annotations

import socket
import struct

OKAY = b"OKAY"
FAIL = b"FAIL"

# Shell protocol v2 stream ids (shell_protocol.h).
SHELL_STDIN = 0
SHELL_STDOUT = 1
SHELL_STDERR = 2
SHELL_EXIT = 3
SHELL_CLOSE_STDIN = 4

# Largest sync DATA payload a peer may send (SYNC_DATA_MAX) and longest request path.
SYNC_DATA_MAX = 64 * 1024
SYNC_PATH_MAX = 1024

SYNC_HEADER = struct.Struct("<4sI")  # id, length (or mode/mtime for some ids)
STAT_V1 = struct.Struct("<4sIII")  # id, mode, size, mtime
# id, error, dev, ino, mode, nlink, uid, gid, size, atime, mtime, ctime
STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")
DENT_V1 = struct.Struct("<4sIIII")  # id, mode, size, mtime, namelen; the name follows
DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")  # STAT_V2 fields then namelen; the name follows


class ConnectionClosed(Exception):
    """The peer closed the connection, or it was dropped under us (a simulated unplug)."""


class AdbSocket:
    """One accepted client connection, with the reads and writes the protocols need."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def read_exact(self, size: int) -> bytes:
        """Exactly `size` bytes, or ConnectionClosed if the stream ends first."""
        chunks = []
        remaining = size
        while remaining:
            try:
                chunk = self.sock.recv(min(remaining, SYNC_DATA_MAX))
            except OSError as error:
                raise ConnectionClosed(str(error)) from None
            if not chunk:
                raise ConnectionClosed(f"stream ended {remaining} bytes short")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def read_request(self) -> str:
        """One length-prefixed service request, e.g. "host:version"."""
        length_text = self.read_exact(4)
        try:
            length = int(length_text, 16)
        except ValueError:
            raise ProtocolError(f"bad request length {length_text!r}") from None
        return self.read_exact(length).decode("utf-8", errors="replace")

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise ConnectionClosed(str(error)) from None

    def okay(self, answer: str | None = None) -> None:
        """`OKAY`, followed by `answer` as a length-prefixed string when given."""
        self.send(OKAY + (encode_string(answer) if answer is not None else b""))

    def fail(self, message: str) -> None:
        self.send(FAIL + encode_string(message))

    def peer_closed(self) -> bool:
        """Whether the client has closed its end, without consuming anything it sent."""
        try:
            return not self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            return True

    def close(self) -> None:
        shutdown_quietly(self.sock)
        self.sock.close()


class ProtocolError(Exception):
    """The client sent something the protocol does not allow."""


def encode_string(text: str) -> bytes:
    """`text` as adb's length-prefixed string: 4 hex digits of byte length, then the bytes."""
    data = text.encode("utf-8")
    return f"{len(data):04x}".encode("ascii") + data


def shell_packet(stream_id: int, payload: bytes) -> bytes:
    return struct.pack("<BI", stream_id, len(payload)) + payload


def sync_message(sync_id: bytes, value: int, payload: bytes = b"") -> bytes:
    return SYNC_HEADER.pack(sync_id, value) + payload


def sync_fail(message: str) -> bytes:
    data = message.encode("utf-8")
    return sync_message(b"FAIL", len(data), data)


def shutdown_quietly(sock: socket.socket) -> None:
    """Shut both directions so a thread blocked in recv() wakes up; ignore a dead socket."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
