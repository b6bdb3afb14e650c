"""The timing loop every Python runner uses, so all of them follow the same protocol.

Warm-up iterations are timed and kept apart; timed iterations run until both `min_iterations`
and `min_duration_s` are reached, or either maximum. The garbage collector is off during the
loop (as pyperf does) so a collection does not land inside one sample.

Warm-up comes in two kinds. By count: exactly `warmup_iterations`. Until settled: at least
`warmup_iterations`, then on until the median of the last `SETTLE_WINDOW` iterations is within
`SETTLE_TOLERANCE` of the median of the window before it (caches, allocator pools, thread pools
and clocks have stopped changing), bounded by `SETTLE_MAX_S` and the request's maxima. Medians,
not means: one preempted iteration must not hold the warm-up open.
"""

from __future__ import annotations

import gc
import time
from typing import Callable

from device_runners.contract import RunRequest

SETTLE_WINDOW = 10
SETTLE_TOLERANCE = 0.02
# A warm-up that has not settled after this long gives up, and the result says so: a model whose
# speed still drifts after 10 s of back-to-back inference is drifting for another reason (heat).
SETTLE_MAX_S = 10.0


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


def warmup_settled(
    samples_ms: list[float], window: int = SETTLE_WINDOW, tolerance: float = SETTLE_TOLERANCE
) -> bool:
    """True when the median of the last `window` samples is within `tolerance` (a fraction) of
    the median of the `window` samples before them."""
    if len(samples_ms) < 2 * window:
        return False
    last = sorted(samples_ms[-window:])[window // 2]
    before = sorted(samples_ms[-2 * window:-window])[window // 2]
    return abs(last - before) <= tolerance * before


def run_warmup_until_settled(
    run_once: Callable[[], object],
    min_iterations: int,
    max_iterations: int,
    max_s: float = SETTLE_MAX_S,
    window: int = SETTLE_WINDOW,
    tolerance: float = SETTLE_TOLERANCE,
) -> tuple[list[float], bool]:
    """Warm-up samples in milliseconds until the running median settles; and whether it did."""
    clock = time.perf_counter_ns
    warmup: list[float] = []
    max_ns = max_s * 1e9
    with _GcPaused():
        start = clock()
        while True:
            t0 = clock()
            run_once()
            t1 = clock()
            warmup.append((t1 - t0) / 1e6)
            if len(warmup) >= min_iterations and warmup_settled(warmup, window, tolerance):
                return warmup, True
            if len(warmup) >= max_iterations or t1 - start >= max_ns:
                return warmup, False


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
