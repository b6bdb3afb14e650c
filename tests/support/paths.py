"""Where the tests and the project are, and the tiny model every test that runs one uses."""

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
# The smallest model that still goes through every format: a `--models` selector.
TINY = f"{TESTS / 'tiny_models.py'}:tiny_convnet"
