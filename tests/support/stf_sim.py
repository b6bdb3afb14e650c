"""A loopback stand-in for DeviceFarmer STF's REST API (doc/API.md and
lib/units/api/controllers/user.js of the STF repository), on 127.0.0.1 with a random port.

It keeps the devices STF knows and who holds each: `POST /api/v1/user/devices` reserves
(403 "Device is being used or not available" when someone else holds it, 404 "Device not
found"), `remoteConnect` answers the device's adb address, and either call answers 504 "Device
is not responding" for a device marked unresponsive. A wrong token gets 401. Every call is
logged as (method, path) for the tests to check the order of reserve, connect and release.
"""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass


@dataclass
class StfDevice:
    serial: str
    address: str  # what remoteConnect answers: the adb `host:port` of the phone
    owner: str | None = None  # who holds it: "us" (the token's user) or someone else
    responsive: bool = True
    connected: bool = False


class StfSim:
    def __init__(self, devices: list[StfDevice], token: str = "secret-token"):
        self.devices = {d.serial: d for d in devices}
        self.token = token
        self.calls: list[tuple[str, str]] = []
        sim = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                sim.calls.append((method, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                if self.headers.get("Authorization") != f"Bearer {sim.token}":
                    return self._answer(401, {"success": False, "description": "Requires authentication"})
                code, answer = sim.route(method, self.path, body)
                self._answer(code, answer)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "StfSim":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def route(self, method: str, path: str, body: dict) -> tuple[int, dict]:
        parts = path.split("?")[0].strip("/").split("/")  # api v1 ...
        rest = parts[2:]
        not_found = (404, {"success": False, "description": "Device not found"})
        not_responding = (504, {"success": False, "description": "Device is not responding"})
        if rest[:1] == ["devices"] and len(rest) == 2 and method == "GET":
            device = self.devices.get(rest[1])
            if device is None:
                return not_found
            return 200, {"success": True, "device": {
                "serial": device.serial, "present": True, "ready": True,
                "using": device.owner == "us", "owner": {"email": device.owner} if device.owner else None}}
        if rest == ["user", "devices"] and method == "POST":
            device = self.devices.get(body.get("serial", ""))
            if device is None:
                return not_found
            if device.owner is not None and device.owner != "us":
                return 403, {"success": False, "description": "Device is being used or not available"}
            if not device.responsive:
                return not_responding
            device.owner = "us"
            return 200, {"success": True, "description": "Device successfully added"}
        if rest[:2] == ["user", "devices"] and len(rest) >= 3:
            device = self.devices.get(rest[2])
            if device is None:
                return not_found
            if device.owner != "us":
                return 403, {"success": False, "description": "Device is not owned by you or is not available"}
            if rest[3:] == ["remoteConnect"]:
                if not device.responsive:
                    return not_responding
                device.connected = method == "POST"
                if method == "POST":
                    return 200, {"success": True, "remoteConnectUrl": device.address}
                return 200, {"success": True, "description": "Device remote disconnected successfully"}
            if rest[3:] == [] and method == "DELETE":
                device.owner = None
                return 200, {"success": True, "description": "Device successfully removed"}
        return 404, {"success": False, "description": "Not found"}
