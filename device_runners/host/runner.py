"""The host runner: runtimes on this machine, each measurement in a fresh worker process.

Like pyperf's workers, every measurement (one trial) is `python -m device_runners.host.worker`
with an explicit argv and a clean environment (thread-count variables set to the request's
value), the result coming back as a JSON file, and the worker killed on timeout. A worker dies
with the runner (process.py: PDEATHSIG on Linux, a watcher thread elsewhere), may be held to a
memory limit, and works in a temporary directory `harness-run-<pid>-...` that the next runner
removes if this one was killed before it could. A failed trial carries the last lines of the
worker's stderr (its traceback) as the result's `log`.

Before each model the harness calls `gate()`: a fixed pause (`cooldown_s`, 0 by default; only
between models, not before the first), then the thermal gate, which waits until the hottest
thermal zone is below `gate_c`, for at most `gate_timeout_s`. A machine without thermal zones
(this one, containers, most VMs) passes the gate at once.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from device_runners.compute_peak import host_peak
from device_runners.contract import STATUS_RUN_FAILED, ContractError, RunRequest, RunResult
from device_runners.errors import DeviceError
from device_runners.host import runtimes, system
from device_runners.host.native import RUNNERS, NativeExecutorch
from device_runners.process import child_preexec, describe_exit, remove_leftovers, temp_dir
from device_runners.runner import GateReport, Runner, RuntimeSupport, pass_gate
from device_runners.sensors import read_thermal

# Variables that decide thread counts in the runtimes' own thread pools (OpenMP, MKL, XNNPACK
# through the runtimes' options); all set to the request's thread count.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

# The thermal gate. 75 °C is 10 °C under the throttling mark harness.energy uses (85 °C, around
# the first passive trip point of phone SoCs): a model starting there has room before throttling.
THERMAL_GATE_C = 75.0
THERMAL_GATE_TIMEOUT_S = 120.0
THERMAL_GATE_POLL_S = 1.0

# Variables passed through to the worker; everything else is dropped.
_KEEP_VARS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "LD_LIBRARY_PATH")

TEMP_PREFIX = "harness-run-"
# Who measured, as results say it (RunResult.measured_by): the harness's Python worker, and
# ExecuTorch in it through its Python bindings when the native runner cannot run.
PYTHON_WORKER = "Python worker"
PYTHON_BINDINGS = "Python bindings"
# Lines of the worker's stderr a failed trial keeps (its `log`), and in its reason.
WORKER_LOG_LINES = 60
REASON_LOG_LINES = 3


def wait_until_cool(
    threshold_c: float = THERMAL_GATE_C,
    timeout_s: float = THERMAL_GATE_TIMEOUT_S,
    poll_s: float = THERMAL_GATE_POLL_S,
    root: str | Path = "/",
    pause_s: float = 0.0,
) -> GateReport:
    """Wait until the hottest thermal zone under `root` is below `threshold_c`, at most
    `timeout_s` seconds. Returns at once where there are no thermal zones."""
    return pass_gate(lambda: read_thermal(root), threshold_c, timeout_s, pause_s=pause_s,
                     poll_s=poll_s)


class HostRunner(Runner):
    """Runs artifacts on this machine (see the module docstring).

    `root` is where /sys and /proc are read from (the thermal gate and the load average), so
    tests can point it at a temporary tree. `memory_limit_bytes` caps each worker's address
    space (RLIMIT_AS); None leaves it to the machine.
    """

    def __init__(
        self,
        cooldown_s: float = 0.0,
        gate_c: float = THERMAL_GATE_C,
        gate_timeout_s: float = THERMAL_GATE_TIMEOUT_S,
        root: str | Path = "/",
        memory_limit_bytes: int | None = None,
        executorch_runner: str = "native",
    ):
        if cooldown_s < 0 or gate_timeout_s < 0:
            raise DeviceError("cooldown_s and gate_timeout_s cannot be negative.")
        if memory_limit_bytes is not None and memory_limit_bytes <= 0:
            raise DeviceError("memory_limit_bytes must be positive.")
        if executorch_runner not in RUNNERS:
            raise DeviceError(f"--executorch-runner is one of {', '.join(RUNNERS)}, not "
                              f"{executorch_runner!r}.")
        self.device = system.describe_host()
        self.cooldown_s = cooldown_s
        self.gate_c = gate_c
        self.gate_timeout_s = gate_timeout_s
        self.root = root
        self.memory_limit_bytes = memory_limit_bytes
        # ExecuTorch trials run in the native runner unless asked otherwise (see native.py).
        self.native = NativeExecutorch(root) if executorch_runner == "native" else None
        self._ran_a_trial = False  # the pause is between models: none before the first
        remove_leftovers(TEMP_PREFIX)  # of runners killed before they could clean up

    def runtimes(self) -> RuntimeSupport:
        return runtimes.support()

    def variants(self, runtime: str) -> tuple[str, ...]:
        return runtimes.variants(runtime)

    def gate(self) -> GateReport:
        return wait_until_cool(self.gate_c, self.gate_timeout_s, root=self.root,
                               pause_s=self.cooldown_s if self._ran_a_trial else 0.0)

    def worker_env(self, request: RunRequest) -> dict[str, str]:
        env = {k: os.environ[k] for k in _KEEP_VARS if k in os.environ}
        for var in THREAD_VARS:
            env[var] = str(request.threads)
        env["PYTHONHASHSEED"] = "0"
        # The worker must import this very package, wherever it was imported from.
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        return env

    def run(self, request: RunRequest) -> RunResult:
        """One trial in a fresh process, with the load average before it: ExecuTorch in the
        native runner where it can be built, everything else in the Python worker."""
        self._ran_a_trial = True
        context = {"loadavg_before": system.load_average(self.root),
                   "compute_peak": host_peak(min(request.threads, _usable_cpus(request)))}
        if request.runtime == "executorch" and self.native is not None and self.native.available():
            result = self.native.run(request, self.worker_env(request), self.memory_limit_bytes,
                                     self.device)
        else:
            result = dataclasses.replace(self._run_worker(request), measured_by=PYTHON_WORKER)
            if request.runtime == "executorch":
                why = f": {self.native.problem}" if self.native is not None else ""
                result = dataclasses.replace(result, measured_by=PYTHON_BINDINGS + why)
        return dataclasses.replace(result, device=self.device, context={**result.context, **context})

    def _run_worker(self, request: RunRequest) -> RunResult:
        with temp_dir(TEMP_PREFIX) as tmp:
            request_path = tmp / "request.json"
            result_path = tmp / "result.json"
            try:
                request_path.write_text(request.to_json())
            except ContractError as exc:
                return self._failed(request,
                                    f"the request cannot be sent to the worker: {exc.detail}")
            argv = [sys.executable, "-m", "device_runners.host.worker",
                    "--request", str(request_path), "--result", str(result_path)]
            try:
                proc = subprocess.run(
                    argv,
                    env=self.worker_env(request),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    timeout=request.timeout_s,
                    text=True, errors="replace",
                    preexec_fn=child_preexec(self.memory_limit_bytes),
                )
            except subprocess.TimeoutExpired as exc:
                return self._failed(
                    request,
                    f"timed out after {request.timeout_s:.0f} s; raise --timeout or use a smaller model",
                    exc.stderr,
                )
            if not result_path.exists():
                why = f"worker died ({describe_exit(proc.returncode)})"
                tail = " | ".join(s.strip() for s in _last_lines(proc.stderr, REASON_LOG_LINES))
                return self._failed(request, f"{why}: {tail}" if tail else why, proc.stderr)
            try:
                result = RunResult.from_json(result_path.read_text())
            except ContractError as exc:
                return self._failed(request, f"the worker's result is invalid: {exc.detail}",
                                    proc.stderr)
        if not result.ok:  # the worker's own failure: its traceback is on stderr
            result = _with_log(result, proc.stderr)
        return result

    def _failed(self, request: RunRequest, why: str,
                stderr: str | bytes | None = None) -> RunResult:
        return _with_log(RunResult.failed(request, self.device, STATUS_RUN_FAILED, why), stderr)


def _last_lines(text: str | bytes | None, n: int) -> list[str]:
    """The last `n` non-blank lines of `text` (bytes after a timeout: subprocess does not decode
    what it read before the kill)."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return [line.rstrip() for line in (text or "").splitlines() if line.strip()][-n:]


def _with_log(result: RunResult, stderr: str | bytes | None) -> RunResult:
    """`result` with the worker's last stderr lines as its `log`, if it wrote any."""
    lines = _last_lines(stderr, WORKER_LOG_LINES)
    if not lines:
        return result
    return dataclasses.replace(result, log="\n".join(lines))


def _usable_cpus(request: RunRequest) -> int:
    """How many cores the trial may run on: its affinity, else this process's."""
    if request.cpu_affinity:
        return len(request.cpu_affinity)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
