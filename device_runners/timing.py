"""The timing loop every Python runner uses, so all of them follow the same protocol.

Warm-up iterations are timed and kept apart; timed iterations run until both `min_iterations`
and `min_duration_s` are reached, or either maximum. The garbage collector is off during the
loop (as pyperf does) so a collection does not land inside one sample.
"""

from __future__ import annotations

import gc
import time
from typing import Callable

from device_runners.contract import RunRequest


def time_iterations(
    run_once: Callable[[], object], request: RunRequest
) -> tuple[list[float], list[float]]:
    """Return (warm-up samples, timed samples), both in milliseconds."""
    clock = time.perf_counter_ns
    warmup: list[float] = []
    samples: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(request.warmup_iterations):
            t0 = clock()
            run_once()
            warmup.append((clock() - t0) / 1e6)
        min_ns = request.min_duration_s * 1e9
        max_ns = request.max_duration_s * 1e9
        start = clock()
        while True:
            t0 = clock()
            run_once()
            t1 = clock()
            samples.append((t1 - t0) / 1e6)
            n = len(samples)
            elapsed = t1 - start
            if n >= request.max_iterations or elapsed >= max_ns:
                break
            if n >= request.min_iterations and elapsed >= min_ns:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return warmup, samples
