"""`harness site --serve`: the site's directory over HTTP on 127.0.0.1 (never another
interface), for a quick look in a browser; Ctrl-C stops it."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

HOST = "127.0.0.1"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


def site_server(directory: str | Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server of `directory` bound to 127.0.0.1:`port` (0: any free port), not yet serving."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    return http.server.ThreadingHTTPServer((HOST, port), handler)


def url_of(server: http.server.ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/index.html"


def serve_in_thread(directory: str | Path, port: int = 0):
    """(server, url) with the server answering from a daemon thread; `server.shutdown()` stops it."""
    server = site_server(directory, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, url_of(server)
