"""A TCP proxy on 127.0.0.1 in front of a real server, that can lose a reply: what a network that
drops just after a commit does to a client. Armed with `lose_reply_to(b"COMMIT")`, it passes the
next client message holding those bytes to the server, then drops the server's answer and closes
the client's connection: the server has committed, the client never hears so.

    with TcpProxy("127.0.0.1", pg_port) as proxy:
        proxy.lose_reply_to(b"COMMIT")
        ...  # connect to 127.0.0.1:proxy.port
        proxy.lost  # how many replies it dropped
"""

from __future__ import annotations

import socket
import threading
from typing import Self


class TcpProxy:
    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lost = 0
        self._marker: bytes | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def lose_reply_to(self, marker: bytes) -> None:
        with self._lock:
            self._marker = marker

    def __enter__(self) -> Self:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped = True
        self.listener.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            fired = threading.Event()
            threading.Thread(target=self._upstream, args=(client, server, fired), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, fired), daemon=True).start()

    def _upstream(self, client: socket.socket, server: socket.socket, fired: threading.Event) -> None:
        try:
            while data := client.recv(65536):
                with self._lock:
                    if self._marker is not None and self._marker in data:
                        self._marker = None  # once
                        fired.set()
                server.sendall(data)
        except OSError:
            pass
        finally:
            _close(server)

    def _downstream(self, server: socket.socket, client: socket.socket, fired: threading.Event) -> None:
        try:
            while data := server.recv(65536):
                if fired.is_set():  # the answer to the marked message: dropped, and the line cut
                    self.lost += 1
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            _close(client)
            _close(server)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
