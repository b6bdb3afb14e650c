"""The real command line, as a user (or an attacker) meets it: `harness ...` in a subprocess of
its own, stdout and stderr pipes, and what its stderr must be when it refuses something: one
line, no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.paths import ROOT


def harness_cli(*args, env: dict | None = None, cwd=None, timeout: float = 600,
                check: int | None = None) -> subprocess.CompletedProcess:
    """`python -m harness.cli ARGS` with this checkout first on the path; `check`: the exit
    code it must end with."""
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "harness.cli", *map(str, args)], env=full_env,
                         cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout,
                         check=False)
    if check is not None:
        assert out.returncode == check, (args, out.returncode, out.stdout[-3000:], out.stderr[-3000:])
    return out


def one_line(stderr: str) -> str:
    """The one line a refusal prints on stderr (no traceback, nothing else)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]
