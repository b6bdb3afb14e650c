"""What the Android runner does when the phone or the adb server goes away.

Every adb call has a timeout (adb.py). A phone that leaves mid-trial gives that trial a
`run_failed` result naming the disconnect (or the adb server, when it is the server that stopped
answering), then the runner waits up to `reconnect_timeout_s` for the serial to come back and
the run goes on; results already stored are never touched, and a shell the server's death cut
short is not blamed on the program."""

from __future__ import annotations

import time

from device_runners.contract import RunRequest, RunResult


class Reconnecting:
    """Mixed into AndroidRunner: needs `link`, `staging`, `reconnect_timeout_s`, `_gone_since`
    and `_failed`."""

    def _attached(self) -> bool:
        """Whether the phone is attached; after an outage, only a quick look, no waiting."""
        if self.link.state() == "device":
            if self._gone_since is not None:
                self._gone_since = None
                self.staging.forget()
            return True
        if self._gone_since is None:
            self._await_reconnect()
            return self._gone_since is None
        return False

    def _await_reconnect(self, what: str = "it") -> str:
        """Wait up to reconnect_timeout_s for the phone; says how that went, for the reason."""
        start = time.monotonic()
        back = self.link.wait_until_attached(self.reconnect_timeout_s)
        waited = time.monotonic() - start
        self.staging.forget()
        if back:
            self._gone_since = None
            return f"{what} came back after {waited:.1f} s and the run goes on"
        self._gone_since = time.monotonic()
        return f"{what} did not come back within {self.reconnect_timeout_s:.0f} s"

    def _no_result(self, request: RunRequest, why: str, log: str = "") -> RunResult:
        """A program's shell ended without its result. When the adb server went away meanwhile
        (its shell then ends as if the program had), that is raised, for `run` to wait for it
        and say so, rather than blaming the program."""
        gone = self.link.server_gone()
        if gone is not None:
            raise gone
        return self._failed(request, why, log)
