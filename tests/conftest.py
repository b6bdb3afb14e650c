import sys
from pathlib import Path

import pytest
import torch
from torch import nn

TESTS = Path(__file__).parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))

# The results database on both backends (an SQLite file, a database on a private PostgreSQL
# server): fixtures for any test module, defined in tests/store_backends.py and pg_server.py.
from store_backends import db, pg_server, pg_url  # noqa: E402, F401
from ci import unavailable  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "needs(reason): the test needs what `reason` (None: nothing "
                                       "missing) says this machine lacks; tests/ci.py")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs"):
        if mark.args and mark.args[0]:
            unavailable(mark.args[0])

TINY = f"{TESTS / 'tiny_models.py'}:tiny_convnet"


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


def randomise_batchnorms(module: nn.Module) -> None:
    """Wide random BN statistics and affine terms, so a wrong fold cannot hide behind identity BNs."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
