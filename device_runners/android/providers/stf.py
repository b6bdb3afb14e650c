"""DeviceFarmer STF: borrow a phone from a lab's STF, measure on it over adb, give it back.

STF's REST API (doc/API.md in the STF repository), every call with `Authorization: Bearer TOKEN`:

    GET    /api/v1/devices/{serial}                  is it there, ready, in use?
    POST   /api/v1/user/devices {"serial", "timeout"}  reserve it for us (timeout in ms)
    POST   /api/v1/user/devices/{serial}/remoteConnect -> {"remoteConnectUrl": "host:port"}
    DELETE /api/v1/user/devices/{serial}/remoteConnect
    DELETE /api/v1/user/devices/{serial}             release it

STF answers 401 to a bad token, 404 "Device not found", 403 "Device is being used or not
available" (someone else holds it), and 504 "Device is not responding" when the phone's
provider does not answer within 5 s. `adb connect host:port` then makes the phone one more
serial on this host's adb server, and the Android runner measures on it as on a USB phone.
The phone is given back (disconnected, released) when the runner closes, whatever happened.

The token goes to STF's own origin only: a redirect to another scheme, host or port is refused
in one line, never followed with the token (urllib would send it along), and a serial is one
escaped path segment of the URL, whatever it holds.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Mapping

from device_runners.errors import DeviceError
from device_runners.runner import Runner, RunnerSettings

log = logging.getLogger(__name__)

DEFAULT_RESERVE_MINUTES = 120  # STF gives the phone back by itself after this, if we die


class StfError(DeviceError):
    """STF would not lend the phone; the message is one line saying what to do."""


# What STF's status codes mean for a borrower, and what to do about each.
_STATUS_HINTS = {
    401: "STF refused the access token: make a new one in STF's Settings > Keys",
    403: "device {serial} is in use by someone else or not available on STF: wait, or farm "
         "another phone",
    404: "STF has no device {serial}: check the serial in STF's device list",
    504: "device {serial} is not responding on STF (its provider did not answer in 5 s): "
         "check the phone and its STF provider",
}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect within STF's own origin only; one elsewhere is refused, so the bearer
    token never leaves for another host (urllib copies the Authorization header along)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if _origin(newurl) != _origin(req.full_url):
            there = _origin(newurl)
            raise StfError(f"STF at {_display(req.full_url)} answered HTTP {code} with a redirect to "
                           f"{there[0]}://{there[1]}, another origin; the token is not sent there. "
                           "Give farm.yaml's stf url the address STF's API answers at.")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _display(url: str) -> str:
    scheme, host, port = _origin(url)
    return f"{scheme}://{host}" + (f":{port}" if port else "")


class StfClient:
    """The few STF calls a borrower makes; every failure an StfError in one line."""

    def __init__(self, url: str, token: str, timeout_s: float = 30.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self._opener = urllib.request.build_opener(_SameOriginRedirects)

    def _call(self, method: str, path: str, serial: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/api/v1{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                     "Accept": "application/json"})
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            hint = _STATUS_HINTS.get(exc.code)
            said = _description(exc.read())
            if hint:
                raise StfError(f"{hint.format(serial=serial)} (HTTP {exc.code}"
                               f"{': ' + said if said else ''}).") from None
            raise StfError(f"STF at {self.url} answered {method} {path} with HTTP {exc.code}"
                           f"{': ' + said if said else ''}.") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StfError(f"Cannot reach STF at {self.url} ({reason}); check the url in "
                           "farm.yaml and that STF is up.") from None
        try:
            answer = json.loads(payload or b"{}")
        except ValueError:
            raise StfError(f"STF at {self.url} answered {method} {path} with something that is "
                           "not JSON; is the url STF's (not its web UI behind a login page)?") from None
        if isinstance(answer, dict) and answer.get("success") is False:
            raise StfError(f"STF refused {method} {path} for {serial}: "
                           f"{answer.get('description') or 'no reason given'}.")
        return answer if isinstance(answer, dict) else {}

    def device(self, serial: str) -> dict:
        return self._call("GET", f"/devices/{_segment(serial)}", serial).get("device") or {}

    def reserve(self, serial: str, minutes: float) -> None:
        self._call("POST", "/user/devices", serial,
                   {"serial": serial, "timeout": int(minutes * 60_000)})

    def remote_connect(self, serial: str) -> str:
        answer = self._call("POST", f"/user/devices/{_segment(serial)}/remoteConnect", serial)
        address = answer.get("remoteConnectUrl")
        if not isinstance(address, str) or ":" not in address:
            raise StfError(f"STF lent {serial} but gave no adb address (remoteConnectUrl: "
                           f"{address!r}).")
        return address

    def remote_disconnect(self, serial: str) -> None:
        self._call("DELETE", f"/user/devices/{_segment(serial)}/remoteConnect", serial)

    def release(self, serial: str) -> None:
        self._call("DELETE", f"/user/devices/{_segment(serial)}", serial)


def _segment(serial: str) -> str:
    """A serial as one path segment: `/`, `?`, `#`, `..` and the rest escaped."""
    return urllib.parse.quote(str(serial), safe="") if serial not in (".", "..") else \
        str(serial).replace(".", "%2E")


def _description(payload: bytes) -> str:
    try:
        return str(json.loads(payload).get("description") or "")
    except (ValueError, AttributeError):
        return ""


class StfLease:
    """One borrowed phone: reserved, remote-connected and `adb connect`ed; `give_back()` undoes
    all three, each step on its own, so a failure in one still returns the phone."""

    def __init__(self, client: StfClient, serial: str, minutes: float = DEFAULT_RESERVE_MINUTES):
        self.client, self.serial, self.minutes = client, serial, minutes
        self.address: str | None = None
        self._reserved = False

    def take(self) -> str:
        """The adb serial of the borrowed phone (`host:port`)."""
        from device_runners.android.adb import adb_client

        info = self.client.device(self.serial)
        if info and info.get("present") is False:
            raise StfError(f"device {self.serial} is on STF but not connected to its provider; "
                           "check its cable.")
        self.client.reserve(self.serial, self.minutes)
        self._reserved = True
        try:
            self.address = self.client.remote_connect(self.serial)
            said = adb_client().connect(self.address, timeout=30)
        except Exception:
            self.give_back()
            raise
        if "connected to" not in said:  # adb answers OKAY and then says what happened
            address = self.address
            self.give_back()
            raise StfError(f"adb could not connect to {self.serial} at {address}: {said.strip()}.")
        log.info("STF lent %s at %s", self.serial, self.address)
        return self.address

    def give_back(self) -> None:
        from device_runners.android.adb import adb_client

        steps = []
        if self.address:
            steps += [("adb disconnect", lambda: adb_client().disconnect(self.address)),
                      ("remote disconnect", lambda: self.client.remote_disconnect(self.serial))]
        if self._reserved:
            steps.append(("release", lambda: self.client.release(self.serial)))
        for what, step in steps:
            try:
                step()
            except Exception as exc:  # the next step still runs: the phone must go back
                log.warning("STF %s of %s failed: %s", what, self.serial, exc)
        self.address, self._reserved = None, False


class LeasedRunner(Runner):
    """A runner of a borrowed phone: every call goes to the phone's own runner, and closing it
    gives the phone back."""

    def __init__(self, inner: Runner, lease: StfLease):
        self.inner, self.lease = inner, lease
        self.device = inner.device

    def runtimes(self):
        return self.inner.runtimes()

    def variants(self, runtime):
        return self.inner.variants(runtime)

    def prepare(self, artifact):
        self.inner.prepare(artifact)

    def run(self, request):
        return self.inner.run(request)

    def gate(self):
        return self.inner.gate()

    def close(self):
        try:
            self.inner.close()
        finally:
            self.lease.give_back()


def open_stf_runner(spec: Mapping[str, Any], settings: RunnerSettings,
                    options: Mapping[str, Any]) -> Runner:
    """farm.yaml's `provider: {stf: {url, serial, token_env, minutes}}`, as a ready runner."""
    from device_runners.android.discovery import open_runner

    token_env = spec.get("token_env", "STF_TOKEN")
    token = os.environ.get(token_env)
    if not token:
        raise StfError(f"STF needs an access token in ${token_env} (STF's Settings > Keys).")
    lease = StfLease(StfClient(spec["url"], token), spec["serial"],
                     spec.get("minutes", DEFAULT_RESERVE_MINUTES))
    address = lease.take()
    try:
        runner = open_runner(address, settings, options)
    except BaseException:
        lease.give_back()
        raise
    return LeasedRunner(runner, lease)
