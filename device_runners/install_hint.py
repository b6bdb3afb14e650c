"""The one line that installs what is missing, as it works where the harness runs from.

From a clone (the usual case: `pip install -e .` of this repository) the hint names the clone,
`pip install -e '/path/to/clone[tflite]'`, which works from any directory; an installed
distribution gets `pip install 'mobile-vision-harness[tflite]'`. The distribution is not called
`harness`: that name on PyPI belongs to an unrelated project, so a hint naming it would install
the wrong thing.
"""

from __future__ import annotations

import shlex
from pathlib import Path

DISTRIBUTION = "mobile-vision-harness"


def clone_root() -> Path | None:
    """The clone this code runs from, or None when it runs from an installed distribution."""
    root = Path(__file__).resolve().parents[1]
    pyproject = root / "pyproject.toml"
    try:
        return root if f'name = "{DISTRIBUTION}"' in pyproject.read_text() else None
    except OSError:
        return None


def pip_install_extra(extra: str) -> str:
    """The command that installs one of the project's extras (`tflite`, `farm`, ...)."""
    root = clone_root()
    if root is not None:
        return f"pip install -e {shlex.quote(f'{root}[{extra}]')}"
    return f"pip install '{DISTRIBUTION}[{extra}]'"
