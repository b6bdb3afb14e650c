"""Exit codes, so a script, a CI job or a farm can tell what happened without reading the
output (the README's table; tests/test_exit_codes.py holds both to each command).

    0    every cell was measured (run), exported (export), or no cell got worse (compare, farm run)
    1    an error stopped the command; one line on stderr says what to do
    2    a usage error, found before any work: a bad or missing option, or a name that matches
         nothing (a misspelt model, format, device or run; a farm.yaml that cannot be used):
         click's own, harness.errors.UsageError, device_runners.errors.DeviceNameError
    3    some cells failed or could not run (run, export), or some got slower or broke (compare,
         farm run); the others are stored
    4    no cell was measured (run), none exported (export), or nothing to compare (compare)
    130  interrupted (Ctrl-C or SIGTERM); every finished cell is stored, the run is marked so
"""

from __future__ import annotations

OK = 0
ERROR = 1
USAGE = 2
SOME_FAILED = 3
NOTHING_DONE = 4
INTERRUPTED = 130


def outcome_code(done: int, total: int) -> int:
    """OK when every one of `total` cells is done, NOTHING_DONE when none is, else SOME_FAILED."""
    if done == total:
        return OK
    return NOTHING_DONE if done == 0 else SOME_FAILED
