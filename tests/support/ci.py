"""What a test does when this machine lacks something it needs (a server, the sandbox the
simulated phone runs commands in, a compiler): skip, except under CI=true, where it fails.
.ci/run installs everything the tests need, so on CI a missing piece is a broken install step,
and a skipped test would check nothing.

    pytest.mark.needs(reason_or_None)   on a test, class or module (pytestmark): runs the test
                                         when the reason is None, else `unavailable(reason)`
    unavailable(reason)                  inside a test or fixture, once it knows
"""

from __future__ import annotations

import os

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Fail under CI=true, skip elsewhere; never returns."""
    if under_ci():
        pytest.fail(f"{reason} (CI=true: .ci/run must provide what this test needs)", pytrace=False)
    pytest.skip(f"{reason} (this fails under CI=true)")
