"""The heartbeat of a running run: proof of life that a reader on any host can judge."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("harness.store")


class Heartbeat:
    """Calls `beat(connection, run_id)` every `interval_s` from a daemon thread, on a connection
    of its own made by `connect()` (the backend's: a beat never creates a database), until
    `stop()`. A failed beat is logged, its connection dropped and made again for the next one,
    and it never reaches the run: the worst it can do is make the run look abandoned to a
    reader. `where` names the database in the log."""

    def __init__(self, where: str, run_id: str, interval_s: float,
                 connect: Callable[[], Any], beat: Callable[[Any, str], None]):
        self.where, self.run_id, self.interval_s = where, run_id, interval_s
        self._connect, self._beat_once = connect, beat
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {run_id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        conn = None
        while not self._stopped.wait(self.interval_s):
            try:
                if conn is None:
                    conn = self._connect()
                self._beat_once(conn, self.run_id)
            except Exception as exc:  # noqa: BLE001 - by design, see the class docstring
                log.warning("heartbeat of run %s in %s failed: %s", self.run_id, self.where,
                            " ".join(str(exc).split()))
                conn = _close(conn)
        _close(conn)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _close(conn) -> None:
    if conn is not None:
        with contextlib.suppress(Exception):  # a broken connection may fail to close: dropped
            conn.close()
