"""A loopback HTTP server that records every request it gets and answers what the test says: the
other end of a webhook, a redirect to another origin, a presigned URL serving a hostile zip.

    with Recorder(lambda request: (302, {"Location": other.url("/x")}, b"")) as hook:
        ...  # POST to hook.url("/hook")
    hook.requests  # [Request(method, path, headers, body), ...]
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, dict[str, str], bytes]


class Recorder:
    """An HTTP server on 127.0.0.1 (a free port) that answers `answer(request)`, by default 204."""

    def __init__(self, answer: Callable[[Request], Answer] | None = None):
        self.requests: list[Request] = []
        self.answer = answer or (lambda request: (204, {}, b""))
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path, dict(self.headers.items()),
                                  self.rfile.read(length) if length else b"")
                recorder.requests.append(request)
                status, headers, body = recorder.answer(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str = "/") -> str:
        return self.origin + path

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
