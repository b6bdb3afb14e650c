"""One way for a test to wait: poll a condition until it holds, never sleep a guessed time.

A test that needs a process to reach a phase (a trial inside its timed loop, a worker that took
a task) waits for a signal of that phase (a file, a log line, a row, a key in Redis) with
`wait_until`; the deadline only bounds a failure, so a slow machine makes the test slower, never
wrong.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    pass


def wait_until(condition: Callable[[], T], timeout_s: float = 60.0, poll_s: float = 0.02,
               what: str = "") -> T:
    """The first truthy value `condition()` returns; WaitTimeout (an AssertionError naming
    `what`) when none came within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"gave up after {timeout_s:g} s waiting for "
                              f"{what or getattr(condition, '__name__', 'the condition')}")
        time.sleep(poll_s)
