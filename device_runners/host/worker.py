"""One measurement in a fresh process: `python -m device_runners.host.worker --request R --result O`.

The host runner starts this module once per model and format, with an explicit argv and a clean
environment, so no state (thread pools, allocator caches, JIT caches) leaks from one measurement
into the next. It writes the contract's RunResult JSON to the result file; runtimes may print
what they like to stdout and stderr. A failure's traceback goes to stderr, whose last lines the
runner keeps with the failed result. The worker exits when its parent does (process.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

import numpy as np

from device_runners import sensors
from device_runners.contract import (
    STATUS_OK,
    STATUS_RUN_FAILED,
    STATUS_UNSUPPORTED,
    CheckOutput,
    ContractError,
    DeviceInfo,
    RunRequest,
    RunResult,
)
from device_runners.host import system
from device_runners.process import watch_parent
from device_runners.host.runner import THREAD_VARS
from device_runners.timing import (
    SETTLE_MAX_S,
    planned_duration_s,
    run_timed,
    run_warmup,
    run_warmup_until_settled,
)

# Counters need only their first and last reading; a slow sampler disturbs the timed loop least.
COUNTER_INTERVAL_S = 0.5
POWER_INTERVAL_S = 0.05

# The parent replaces this with its full description of the machine.
_WORKER_DEVICE = DeviceInfo(device_id="host", platform=sys.platform, kind="host")


def make_inputs(request: RunRequest) -> list[np.ndarray]:
    rng = np.random.default_rng(request.seed)
    return [rng.standard_normal(request.input_shape).astype(np.float32)]


def timed_with_energy(run_once, request: RunRequest, warmup_ms: list[float], context: dict):
    """The timed loop, with an idle energy window of the same planned length just before it.
    The wall-clock times around the loop go into `context` (`timed_start_unix`,
    `timed_end_unix`), as every runner reports them, for readings taken outside the process."""

    def timed() -> list[float]:
        context["timed_start_unix"] = time.time()
        samples = run_timed(run_once, request)
        context["timed_end_unix"] = time.time()
        return samples

    try:
        source = sensors.find_energy_source()
    except sensors.SensorUnavailable as exc:
        return timed(), sensors.no_energy_samples(str(exc))
    if source is None:
        return timed(), sensors.no_energy_samples(
            "no energy sensor on this host (no RAPL, ODPM or battery readings)")
    interval = COUNTER_INTERVAL_S if source.kind == "counter" else POWER_INTERVAL_S
    sampler = sensors.EnergySampler(source.read, interval)
    idle = sampler.sample_for(planned_duration_s(request, warmup_ms))
    sampler.start()
    samples = timed()
    active = sampler.stop()
    return samples, sensors.build_energy_samples(source, idle, active, len(samples), interval)


def warm_up(run_once, request: RunRequest) -> tuple[list[float], dict]:
    """Warm-up samples, by count or until settled as the request asks, and what was done."""
    if request.warmup_until_settled:
        warmup, settled = run_warmup_until_settled(
            run_once,
            min_iterations=request.warmup_iterations,
            max_iterations=request.max_iterations,
            max_s=min(SETTLE_MAX_S, request.max_duration_s),
        )
        return warmup, {"mode": "settle", "iterations": len(warmup), "settled": settled}
    warmup = run_warmup(run_once, request.warmup_iterations)
    return warmup, {"mode": "count", "iterations": len(warmup)}


def measure(request: RunRequest) -> RunResult:
    from device_runners.host.runtimes import UnsupportedArtifact, import_runtime, load_artifact

    context: dict = {}
    if request.cpu_affinity:
        note = system.set_affinity(request.cpu_affinity)
        if note:
            context["cpu_affinity_note"] = note
    try:
        # Load time is the runtime reading the artifact, not Python importing the runtime.
        context["runtime_import_ms"] = import_runtime(request.runtime)
        context.update(rss_before_load_kb=system.read_status_kb("VmRSS"), pid=os.getpid())
        t0 = time.perf_counter_ns()
        loaded = load_artifact(request.artifact_path, request.runtime, request.threads,
                               backend=request.backend)
        load_ms = (time.perf_counter_ns() - t0) / 1e6
    except UnsupportedArtifact as exc:
        return RunResult.failed(request, _WORKER_DEVICE, STATUS_UNSUPPORTED, str(exc))
    peak_load = system.peak_rss_kb()
    context["peak_rss_reset"] = system.reset_peak_rss()
    context.update(loaded.details)

    inputs = make_inputs(request)
    run_once = loaded.bind(inputs)
    t0 = time.perf_counter_ns()
    run_once()
    first_ms = (time.perf_counter_ns() - t0) / 1e6
    warmup, context["warmup"] = warm_up(run_once, request)
    # Read after the warm-up, so frequencies are those the timed loop starts at.
    cpus = system.current_affinity()
    context["cpu"] = system.cpu_context(cpus if cpus is not None else range(os.cpu_count() or 1))
    context["thread_env"] = {v: os.environ[v] for v in THREAD_VARS if v in os.environ}
    # The runtime's own threads show whether it kept to the requested thread count. ("Threads:"
    # is a plain count; the status-line parser reads any numeric line.)
    context["process_threads"] = system.read_status_kb("Threads")
    thermal_before = sensors.read_thermal()
    samples, energy_samples = timed_with_energy(run_once, request, warmup, context)
    thermal_after = sensors.read_thermal()
    peak_inference = system.peak_rss_kb()
    context["thermal_readings"] = {"before": thermal_before.to_dict(), "after": thermal_after.to_dict()}
    # After the timed loop, so neither the first inference nor the samples are disturbed.
    check_outputs = run_checks(loaded, request)
    return RunResult(
        model=request.model,
        format=request.format,
        status=STATUS_OK,
        device=_WORKER_DEVICE,
        backend=request.backend,
        precision=request.precision,
        artifact_sha256=request.artifact_sha256,
        runtime=request.runtime,
        runtime_versions=loaded.versions,
        threads=request.threads,
        cpu_affinity=system.current_affinity(),
        load_ms=load_ms,
        first_inference_ms=first_ms,
        warmup_samples_ms=tuple(warmup),
        samples_ms=tuple(samples),
        peak_rss_load_kb=peak_load,
        peak_rss_inference_kb=peak_inference,
        energy_samples=energy_samples,
        context=context,
        check_outputs=check_outputs,
    )


def read_check_inputs(request: RunRequest) -> list[np.ndarray]:
    """The request's check inputs: raw little-endian float32 tensors of its input shape."""
    if not request.check_inputs_path:
        return []
    flat = np.fromfile(request.check_inputs_path, dtype="<f4")
    size = int(np.prod(request.input_shape))
    if flat.size == 0 or flat.size % size:
        raise ValueError(f"{request.check_inputs_path} holds {flat.size} floats, not a whole "
                         f"number of inputs of shape {list(request.input_shape)}")
    return [x.reshape(request.input_shape) for x in flat.reshape(-1, size)]


def run_checks(loaded, request: RunRequest) -> tuple[CheckOutput, ...]:
    """The first output of the model for each check input, as this runtime computes it."""
    return tuple(CheckOutput.from_array(np.asarray(loaded.infer([x])[0], dtype=np.float64))
                 for x in read_check_inputs(request))


def main(argv: list[str] | None = None) -> int:
    watch_parent()  # before anything slow: an orphan must not go on measuring
    parser = argparse.ArgumentParser(prog="python -m device_runners.host.worker")
    parser.add_argument("--request", required=True)
    parser.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    with open(args.request) as f:
        request = RunRequest.from_json(f.read())
    try:
        result = measure(request)
    except Exception as exc:  # any runtime failure becomes a run_failed cell, never a crash
        detail = traceback.format_exc(limit=4)
        error = f"{type(exc).__name__}: {exc}".strip()
        result = RunResult.failed(request, _WORKER_DEVICE, STATUS_RUN_FAILED, error)
        print(detail, file=sys.stderr)
    try:
        text = result.to_json()
    except ContractError as exc:  # a NaN somewhere (a sensor, a runtime's detail): say where
        print(f"the result cannot be written: {exc}", file=sys.stderr)
        why = f"the worker's result cannot be written as JSON: {exc.detail}"
        text = RunResult.failed(request, _WORKER_DEVICE, STATUS_RUN_FAILED, why).to_json()
    tmp = args.result + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, args.result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
