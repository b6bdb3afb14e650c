"""`harness site --serve`: the site's directory over HTTP on 127.0.0.1 (never another
interface), for a quick look in a browser; Ctrl-C stops it.

It serves the site's own files and nothing else: no directory listing, no dotfile (the site's
marker, an editor's swap file), no path outside the directory. And it answers only requests
addressed to it by name (`Host: 127.0.0.1:PORT` or `localhost:PORT`): a web page elsewhere that
points its own domain at 127.0.0.1 (DNS rebinding) gets 403, never the results.
"""

from __future__ import annotations

import functools
import http.server
import threading
import urllib.parse
from http import HTTPStatus
from pathlib import Path

HOST = "127.0.0.1"


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    """The site's files, to requests addressed to this server (module docstring)."""

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def end_headers(self):
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    def _addressed_here(self) -> bool:
        port = self.server.server_address[1]
        host = (self.headers.get("Host") or "").strip().lower()
        return host in (f"{HOST}:{port}", f"localhost:{port}")

    def send_head(self):
        if not self._addressed_here():
            self.send_error(HTTPStatus.FORBIDDEN, "Not addressed to this server",
                            "harness site --serve answers only 127.0.0.1 and localhost.")
            return None
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = [p for p in path.split("/") if p]
        if not parts or path.endswith("/"):
            parts.append("index.html")  # a directory is its index page, never a listing
        root = Path(self.directory).resolve()
        target = root.joinpath(*parts).resolve()
        if any(p.startswith(".") for p in parts) or root not in target.parents \
                or not target.is_file():
            self.send_error(HTTPStatus.NOT_FOUND, "No such page of the site")
            return None
        self.path = "/" + "/".join(urllib.parse.quote(p) for p in target.relative_to(root).parts)
        return super().send_head()

    def list_directory(self, path):  # never reached (send_head); if it were: no listing
        self.send_error(HTTPStatus.NOT_FOUND, "No such page of the site")


def site_server(directory: str | Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server of `directory` bound to 127.0.0.1:`port` (0: any free port), not yet serving."""
    handler = functools.partial(_SiteHandler, directory=str(directory))
    return http.server.ThreadingHTTPServer((HOST, port), handler)


def url_of(server: http.server.ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/index.html"


def serve_in_thread(directory: str | Path, port: int = 0):
    """(server, url) with the server answering from a daemon thread; `server.shutdown()` stops it."""
    server = site_server(directory, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, url_of(server)
