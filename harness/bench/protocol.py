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

This module decides the parameters and the order and builds the requests; it measures nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from device_runners.contract import RunRequest


@dataclass(frozen=True)
class BenchConfig:
    warmup_iterations: int = 10
    # Warm up until the running median settles (device_runners.timing); `warmup_iterations` is
    # then the minimum count.
    warmup_until_settled: bool = False
    min_iterations: int = 50
    min_duration_s: float = 1.0
    max_iterations: int = 100_000
    max_duration_s: float = 120.0
    trials: int = 3
    interleave: bool = False
    threads: int = 1
    cpu_affinity: tuple[int, ...] | None = None
    seed: int = 0
    timeout_s: float = 600.0

    def __post_init__(self):
        if self.warmup_iterations < 0:
            raise ValueError("warmup_iterations cannot be negative.")
        if self.trials < 1:
            raise ValueError("trials must be at least 1.")
        if self.min_iterations < 1:
            raise ValueError("min_iterations must be at least 1.")
        if self.threads < 1:
            raise ValueError("threads must be at least 1.")
        if self.min_duration_s < 0:
            raise ValueError("min_duration_s cannot be negative.")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cpu_affinity"] = list(self.cpu_affinity) if self.cpu_affinity else None
        return d

    def request(
        self,
        *,
        model: str,
        format: str,
        runtime: str,
        artifact_path: str,
        artifact_sha256: str,
        input_shape: tuple[int, ...],
        backend: str = "",
        precision: str = "fp32",
        check_inputs_path: str = "",
    ) -> RunRequest:
        return RunRequest(
            model=model,
            format=format,
            runtime=runtime,
            artifact_path=artifact_path,
            artifact_sha256=artifact_sha256,
            input_shape=tuple(input_shape),
            threads=self.threads,
            cpu_affinity=self.cpu_affinity,
            warmup_iterations=self.warmup_iterations,
            min_iterations=self.min_iterations,
            min_duration_s=self.min_duration_s,
            max_iterations=max(self.max_iterations, self.min_iterations),
            max_duration_s=max(self.max_duration_s, self.min_duration_s),
            seed=self.seed,
            timeout_s=self.timeout_s,
            backend=backend,
            precision=precision,
            warmup_until_settled=self.warmup_until_settled,
            check_inputs_path=check_inputs_path,
        )


def schedule(cells: int, trials: int, interleave: bool) -> list[tuple[int, int]]:
    """The order of (cell index, trial index) measurements in a run (see the module docstring)."""
    if interleave:
        return [(c, t) for t in range(trials) for c in range(cells)]
    return [(c, t) for c in range(cells) for t in range(trials)]
