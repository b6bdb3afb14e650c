"""Host ExecuTorch trials in the native runner: what a phone runs, without Python's import cost.

The Python bindings (`import executorch.runtime`) import `executorch.exir`: 4-6 s of imports in
every fresh worker, before a 1 ms model is loaded. The project's own C++ runner
(device_runners/native) links the installed wheel's runtime, starts in milliseconds and is the
program the Android runner pushes to phones, so the host measures what a phone runs. It is built
on first use (`harness build-runner` does the same by hand) and reused; where it cannot be built
(no compiler, no CMake) trials fall back to the Python worker and their context says why. The
choice is the host's option `--executorch-runner native|python`.

The runner measures; this module adds what the Python worker records around it: the thermal
state before and after, the CPU frequency policy, the thread-count variables, and energy where
the machine has a sensor. Energy readings are taken around the whole process; the active window
is cut to the runner's own timed duration, ending at the process's exit (like a phone's trial),
so it holds every timed iteration plus at most the runner's exit.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

from device_runners import sensors
from device_runners.contract import STATUS_RUN_FAILED, ContractError, RunRequest, RunResult
from device_runners.host import system
from device_runners.process import child_preexec, describe_exit, temp_dir
from device_runners.operator_profile import etdump_profile
from device_runners.sensors.layout import EnergyWindow

RUNNERS = ("native", "python")
TEMP_PREFIX = "harness-run-"
COUNTER_INTERVAL_S = 0.5
POWER_INTERVAL_S = 0.05
LOG_LINES = 60


class NativeExecutorch:
    """Finds or builds the host native runner once, then runs trials in it."""

    def __init__(self, root: str | Path = "/"):
        self.root = root
        self._binary: Path | None = None
        self.problem = ""  # why the native runner cannot be used here, once known

    def available(self) -> bool:
        """Build the runner on first use (incremental, seconds when up to date)."""
        if self._binary is None and not self.problem:
            from device_runners.native.build import build_native_runner
            from device_runners.errors import DeviceError

            try:
                self._binary = build_native_runner("host")
            except DeviceError as exc:
                self.problem = str(exc)
        return self._binary is not None

    @property
    def binary(self) -> Path | None:
        return self._binary

    def run(self, request: RunRequest, env: dict[str, str], memory_limit_bytes: int | None,
            device) -> RunResult:
        """One trial: the runner in a fresh process, the sensors read around it."""
        source, note = _energy_source(self.root)
        interval = COUNTER_INTERVAL_S if source and source.kind == "counter" else POWER_INTERVAL_S
        sampler = sensors.EnergySampler(source.read, interval) if source else None
        thermal_before = sensors.read_thermal(self.root)
        with temp_dir(TEMP_PREFIX) as tmp:
            request_path, result_path = tmp / "request.json", tmp / "result.json"
            request_path.write_text(request.to_json())
            idle = sampler.sample_for(max(request.min_duration_s, 0.5)) if sampler else None
            if sampler:
                sampler.start()
            try:
                proc = subprocess.run(
                    [str(self._binary), "--request", str(request_path), "--result", str(result_path)],
                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                    timeout=request.timeout_s, preexec_fn=child_preexec(memory_limit_bytes),
                )
            except subprocess.TimeoutExpired as exc:
                _stop(sampler)
                return _failed(request, device, f"timed out after {request.timeout_s:.0f} s; "
                               "raise --timeout or use a smaller model", exc.stderr)
            active = _stop(sampler)
            thermal_after = sensors.read_thermal(self.root)
            if not result_path.exists():
                return _failed(request, device, f"the native runner died ({describe_exit(proc.returncode)})",
                               proc.stderr)
            try:
                result = RunResult.from_json(result_path.read_text())
            except ContractError as exc:
                return _failed(request, device, f"the native runner's result is invalid: {exc.detail}",
                               proc.stderr)
            result = dataclasses.replace(result, measured_by=NATIVE_RUNNER)
            # The ETDump lives in the trial's directory: read it before the directory goes. It
            # is read after the sensors stopped, in a child process (the Inspector imports torch).
            profile = (etdump_profile(result.context.get("profiling"), request.backend, env)
                       if request.profile and result.ok else None)
        if not result.ok:
            return _with_log(result, proc.stderr)
        timed_s = result.context.get("timed_duration_s")
        if sampler and active is not None and timed_s:
            energy = sensors.build_energy_samples(source, idle, _last(active, float(timed_s)),
                                                  len(result.samples_ms), interval)
        else:
            energy = sensors.no_energy_samples(note or "no timed duration to cut the energy window by")
        cpus = result.cpu_affinity or system.current_affinity() or range(os.cpu_count() or 1)
        context = {
            **result.context,
            "native_runner": str(self._binary),
            "cpu": system.cpu_context(cpus, self.root),
            "thread_env": {k: env[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                               "OPENBLAS_NUM_THREADS") if k in env},
            "thermal_readings": {"before": thermal_before.to_dict(), "after": thermal_after.to_dict()},
            **({"operator_profile": profile} if profile is not None else {}),
        }
        return dataclasses.replace(result, energy_samples=energy, context=context)


def _energy_source(root):
    """The best energy source, or None and why there is none."""
    try:
        source = sensors.find_energy_source(root)
    except sensors.SensorUnavailable as exc:
        return None, str(exc)
    if source is None:
        return None, "no energy sensor on this host (no RAPL, ODPM or battery readings)"
    return source, ""


def _stop(sampler) -> EnergyWindow | None:
    return sampler.stop() if sampler else None


def _last(window: EnergyWindow, seconds: float) -> EnergyWindow:
    """The end of `window`: the readings of its last `seconds`, and the one just before them, so
    the cut window covers at least that long."""
    end = window.t_s[-1]
    first = max((i for i, t in enumerate(window.t_s) if t <= end - seconds), default=0)
    return EnergyWindow(window.t_s[first:], window.values[first:],
                        window.status[first:] if window.status else ())


def _tail(text: str | bytes | None) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return [line.rstrip() for line in (text or "").splitlines() if line.strip()][-LOG_LINES:]


def _with_log(result: RunResult, stderr) -> RunResult:
    lines = _tail(stderr)
    if not lines:
        return result
    return dataclasses.replace(result, log="\n".join(lines))


NATIVE_RUNNER = "native runner"  # RunResult.measured_by


def _failed(request: RunRequest, device, why: str, stderr) -> RunResult:
    tail = " | ".join(_tail(stderr)[-3:])
    return _with_log(RunResult.failed(request, device, STATUS_RUN_FAILED,
                                      f"{why}: {tail}" if tail else why), stderr)
