"""How much the harness adds to what it measures.

For one model of about 1 ms (default: the test suite's slow_convnet, 0.8-0.9 ms per inference in
ExecuTorch XNNPACK on one core of this host; zoo models are slower here: mobileformer_26m takes
10-30 ms because its LayerNorms run outside the XNNPACK delegate), prints the harness's median (fresh worker process, the contract's timing loop)
beside the median of a bare loop of the same runtime call (`method.execute`) in this process,
and their ratio. Rounds alternate harness and bare loop so drift falls on both equally; the
figure is the median over rounds. Exits 1 when the ratio exceeds the target (1.03).

    python benchmarks/overhead.py [--model NAME|file.py:factory] [--format executorch|tflite] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

TARGET_RATIO = 1.01


def bare_loop_median(path: str, runtime: str, input_shape, seconds: float, threads: int) -> float:
    """Median ms of the runtime call alone, timed by hand, no harness code in the loop."""
    x = np.random.default_rng(0).standard_normal(input_shape).astype(np.float32)
    if runtime == "executorch":
        import torch
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime

        portable_lib._unsafe_reset_threadpool(threads)
        method = Runtime.get().load_program(path).load_method("forward")
        inputs = [torch.from_numpy(x)]

        def call():
            method.execute(inputs)
    elif runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=path, num_threads=threads)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        call = interpreter.invoke
    else:
        raise SystemExit(f"the bare loop knows executorch and litert, not {runtime}")
    for _ in range(20):
        call()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(Path(__file__).resolve().parent.parent / "tests" / "tiny_models.py") + ":slow_convnet")
    parser.add_argument("--format", default="executorch")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per round and side")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    from device_runners.host.runner import HostRunner
    from harness.bench.settings import MeasurementSettings
    from harness.bench.stats import summarize
    from harness.export.base import get_format
    from harness.export.cache import ArtifactCache, default_cache_dir
    from harness.export.pipeline import export_artifact, lazy_model
    from harness.zoo import resolve_models

    [spec] = resolve_models(args.model)
    fmt = get_format(args.format)
    artifact = export_artifact(spec, fmt, ArtifactCache(default_cache_dir()), lazy_model(spec, 0))
    if not artifact.measurable:
        print(f"{args.model}/{args.format} did not export: {artifact.reason}")
        return 1
    config = MeasurementSettings.from_values(dict(warmup_iterations=20, min_iterations=50,
                                                  min_duration_s=args.seconds, threads=args.threads))
    request = config.request(model=spec.name, format=fmt.name, runtime=fmt.runtime,
                             artifact_path=artifact.path,
                             artifact_sha256=artifact.sha256, input_shape=spec.input_shape)
    runner = HostRunner()
    harness_medians, bare_medians = [], []
    for i in range(args.rounds):
        result = runner.run(request)
        if not result.ok:
            print(f"harness run failed: {result.error}")
            return 1
        harness_medians.append(summarize(result.samples_ms).median)
        bare_medians.append(bare_loop_median(artifact.path, fmt.runtime, spec.input_shape,
                                             args.seconds, args.threads))
        print(f"round {i + 1}: harness {harness_medians[-1]:.4f} ms   bare loop {bare_medians[-1]:.4f} ms")
    h = statistics.median(harness_medians)
    b = statistics.median(bare_medians)
    ratio = h / b
    print(f"\n{spec.name} / {fmt.name}, {args.threads} thread(s), {args.rounds} rounds of {args.seconds:.0f} s")
    print(f"harness median   {h:.4f} ms")
    print(f"bare loop median {b:.4f} ms")
    print(f"ratio            {ratio:.4f}  (target <= {TARGET_RATIO})")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
