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


class _GcPaused:
    def __enter__(self):
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.was_enabled:
            gc.enable()


def run_warmup(run_once: Callable[[], object], iterations: int) -> list[float]:
    """Warm-up samples in milliseconds, kept apart from the timed ones."""
    clock = time.perf_counter_ns
    warmup: list[float] = []
    with _GcPaused():
        for _ in range(iterations):
            t0 = clock()
            run_once()
            warmup.append((clock() - t0) / 1e6)
    return warmup


def run_timed(run_once: Callable[[], object], request: RunRequest) -> list[float]:
    """Timed samples in milliseconds, until both minimums or either maximum is reached."""
    clock = time.perf_counter_ns
    samples: list[float] = []
    min_ns = request.min_duration_s * 1e9
    max_ns = request.max_duration_s * 1e9
    with _GcPaused():
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
    return samples


def planned_duration_s(request: RunRequest, warmup_ms: list[float]) -> float:
    """How long the timed loop will probably last: what the idle baseline should match."""
    typical_ms = sorted(warmup_ms)[len(warmup_ms) // 2] if warmup_ms else 0.0
    return min(request.max_duration_s, max(request.min_duration_s, request.min_iterations * typical_ms / 1e3))


def time_iterations(
    run_once: Callable[[], object], request: RunRequest
) -> tuple[list[float], list[float]]:
    """Return (warm-up samples, timed samples), both in milliseconds."""
    warmup = run_warmup(run_once, request.warmup_iterations)
    return warmup, run_timed(run_once, request)
