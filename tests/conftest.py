"""Fixtures every test module may use, and the rules every test runs under.

- No test reads the user's environment: every `HARNESS_*` variable is removed before each test
  (a `HARNESS_DB` in the shell once sent six farm tests to the user's own database).
- Two tiers: `python -m pytest -q` runs the default tier (at most 5 minutes on 2 cores, touching
  every component: pyproject.toml's addopts say `-m "not slow"`); tests marked `slow` run with
  `python -m pytest -q -m slow` (a later -m replaces the first); `make test-all` and `.ci/run`
  run both.
- `needs(reason)`: a test lacking what it needs skips, except under CI=true (tests/support/ci.py).
- The tests run in parallel (pytest-xdist, pyproject.toml's addopts), one worker per core up to
  four: every worker builds its own session fixtures (servers, the shared export cache), so more
  workers would mostly repeat the same exports. No test may rely on being alone on the machine.
"""

import os

import pytest

# The results database on both backends (an SQLite file, a database on a private PostgreSQL
# server): fixtures for any test module, defined in tests/support/.
from tests.support.ci import unavailable
from tests.support.store_backends import db, pg_server, pg_url  # noqa: F401


def pytest_xdist_auto_num_workers(config):
    return max(1, min(4, len(os.sched_getaffinity(0))))


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs"):
        if mark.args and mark.args[0]:
            unavailable(mark.args[0])


@pytest.fixture(autouse=True)
def _no_user_environment(monkeypatch):
    """Every test starts with no HARNESS_* variable set, whatever the shell has."""
    for name in list(os.environ):
        if name.startswith("HARNESS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def tmp_results(tmp_path, monkeypatch):
    """A private database and artifact cache for one test."""
    monkeypatch.setenv("HARNESS_DB", str(tmp_path / "harness.db"))
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """An artifact cache shared by tests that export the same tiny models."""
    return tmp_path_factory.mktemp("shared-cache")
