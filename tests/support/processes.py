"""Processes of this machine as the tests look for them: the workers and native runners a
harness started, and whether a process has gone. Linux /proc; what a test waits on (with
tests/support/wait.py) instead of sleeping a guessed time."""

from __future__ import annotations

from pathlib import Path

# A trial's process on the host: a Python worker, or the native runner ExecuTorch trials run in.
TRIAL_PROCESSES = (b"device_runners.host.worker", b"harness_runner")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    state, ppid = text.rpartition(")")[2].split()[:2]
    return state, int(ppid)


def gone(pid: int) -> bool:
    stat = _stat(pid)
    return stat is None or stat[0] in ("Z", "X")  # a zombie no longer runs


def processes(*markers: bytes, parent: int | None = None) -> set[int]:
    """Live processes whose command line holds one of `markers` (default: a trial's), and
    whose parent is `parent` when given."""
    trials_only = not markers
    markers = markers or TRIAL_PROCESSES
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if not any(m in cmdline for m in markers):
            continue
        if trials_only and b"--request" not in cmdline:  # a build of the runner, a version probe
            continue
        stat = _stat(int(entry.name))
        if stat is None or stat[0] in ("Z", "X"):
            continue
        if parent is None or stat[1] == parent:
            found.add(int(entry.name))
    return found
