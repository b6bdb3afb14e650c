"""What a trial costs beyond its own iterations, and what a cached two-format run costs in all.

Per-trial fixed cost: the wall time of one host trial (HostRunner.run: a fresh process, the
runtime loaded, the model loaded, first inference, warm-up and timed iterations, the result
read back) minus the time of its warm-up and timed iterations. Measured for ExecuTorch in the
native runner and in the Python bindings (the way every trial ran before), and for LiteRT in
the Python worker, on a model of about 1 ms (tests/tiny_models.py:slow_convnet), `--rounds`
trials each, interleaved. Target: at most 0.5 s.

Then the wall time of `harness run --models repvit_m0_9 --formats executorch,tflite` with the
default protocol (3 trials, 10 warm-up and at least 50 iterations and 1 s per trial), the cache
already holding both artifacts, as a user runs it (a subprocess). Target: at most 12 s.

    python benchmarks/cell_overhead.py [--rounds 5] [--skip-run]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = f"{ROOT / 'tests' / 'tiny_models.py'}:slow_convnet"
TARGET_FIXED_S = 0.5
TARGET_RUN_S = 12.0


def fixed_costs(rounds: int, cache_dir: Path) -> dict[str, list[float]]:
    from device_runners.host.runner import HostRunner
    from harness.bench.settings import MeasurementSettings
    from harness.export.base import get_format
    from harness.export.cache import ArtifactCache
    from harness.export.pipeline import export_artifact, lazy_model
    from harness.zoo import resolve_models

    [spec] = resolve_models(MODEL)
    cache = ArtifactCache(cache_dir)
    config = MeasurementSettings.from_values(dict(warmup_iterations=10, min_iterations=50, min_duration_s=1.0))
    cases = {
        "executorch, native runner": ("executorch", HostRunner(executorch_runner="native")),
        "executorch, Python bindings": ("executorch", HostRunner(executorch_runner="python")),
        "litert, Python worker": ("tflite", HostRunner()),
    }
    requests = {}
    for label, (fmt_name, _) in cases.items():
        fmt = get_format(fmt_name)
        artifact = export_artifact(spec, fmt, cache, lazy_model(spec))
        requests[label] = config.request(model=spec.name, format=fmt.name, runtime=fmt.runtime,
                                         artifact_path=artifact.path, artifact_sha256=artifact.sha256,
                                         input_shape=spec.input_shape, backend=fmt.backend)
    costs: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(rounds):
        for label, (_, runner) in cases.items():
            t0 = time.perf_counter()
            result = runner.run(requests[label])
            wall = time.perf_counter() - t0
            if not result.ok:
                raise SystemExit(f"{label}: the trial failed: {result.error}")
            iterations_s = (sum(result.samples_ms) + sum(result.warmup_samples_ms)) / 1e3
            costs[label].append(wall - iterations_s)
    return costs


def cached_run_wall(cache_dir: Path) -> tuple[float, int]:
    """Seconds of the second, cached `harness run` of RepViT-M0.9 in two formats, and its exit."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, HARNESS_DB=str(Path(tmp) / "h.db"), HARNESS_CACHE=str(cache_dir))
        argv = [sys.executable, "-m", "harness.cli", "run", "--models", "repvit_m0_9",
                "--formats", "executorch,tflite", "--leaderboard", str(Path(tmp) / "board.md")]
        first = subprocess.run(argv, env=env, cwd=tmp, capture_output=True)  # fills the cache
        if first.returncode not in (0, 3):
            raise SystemExit(f"the first run failed: {first.stderr.decode()[-2000:]}")
        t0 = time.perf_counter()
        second = subprocess.run(argv, env=env, cwd=tmp, capture_output=True)
        return time.perf_counter() - t0, second.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--skip-run", action="store_true", help="only the per-trial costs")
    args = parser.parse_args()
    from harness.export.cache import default_cache_dir

    cache_dir = args.cache_dir or default_cache_dir()
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    ok = True
    for label, values in fixed_costs(args.rounds, cache_dir).items():
        median = statistics.median(values)
        verdict = "ok" if median <= TARGET_FIXED_S else "OVER"
        ok &= median <= TARGET_FIXED_S or "Python bindings" in label  # the "before" figure
        print(f"per-trial fixed cost, {label:<28} median {median:.3f} s "
              f"(min {min(values):.3f}, max {max(values):.3f}; target <= {TARGET_FIXED_S} s) {verdict}")
    if not args.skip_run:
        wall, code = cached_run_wall(cache_dir)
        ok &= wall <= TARGET_RUN_S
        print(f"cached `harness run --models repvit_m0_9 --formats executorch,tflite`: {wall:.1f} s "
              f"(exit {code}; target <= {TARGET_RUN_S:.0f} s) {'ok' if wall <= TARGET_RUN_S else 'OVER'}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
