"""The measurement protocol a run asks every runner to follow.

One trial: warm up (a fixed count, or until the running median settles), then time iterations
until both a minimum count and a minimum duration are reached (bounded by a maximum of each),
keeping every sample. The loop itself runs inside the runner, next to the runtime.

A cell (model, format) is measured in `trials` independent trials: each one a fresh worker
process on the host, a fresh load on a device. Their samples are pooled for the statistics and
their medians compared for the trial-to-trial spread (`harness.bench.stats`). Trials of a run's
cells go in one of two orders (`schedule`):

    sequential   A1 A2 A3 B1 B2 B3     one cell at a time; each cell stored as soon as it is done
    interleaved  A1 B1 A2 B2 A3 B3     slow drift (heat, background load) falls on every cell
                                       alike, so comparisons between cells are fair

This module decides the order; harness.bench.settings declares the parameters and builds the
requests. Neither measures anything.
"""

from __future__ import annotations

from typing import Callable, Iterator


def trial_order(cells: int, interleave: bool, pending: Callable[[int], bool]) -> Iterator[int]:
    """The cell to measure next, for as long as `pending(cell)` says it wants a trial: each
    cell's trials back to back, or (interleave) one round over every pending cell after
    another. Asked anew before each trial, so a cell can stop early (a failure) or go on (an
    adaptive number of trials, --trials auto)."""
    if interleave:
        while True:
            waiting = [c for c in range(cells) if pending(c)]
            if not waiting:
                return
            for c in waiting:
                if pending(c):
                    yield c
    else:
        for c in range(cells):
            while pending(c):
                yield c


def schedule(cells: int, trials: int, interleave: bool) -> list[tuple[int, int]]:
    """The order of (cell index, trial index) measurements in a run (see the module docstring)."""
    if interleave:
        return [(c, t) for t in range(trials) for c in range(cells)]
    return [(c, t) for c in range(cells) for t in range(trials)]
