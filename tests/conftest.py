import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))

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
