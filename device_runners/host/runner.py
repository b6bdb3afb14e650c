"""The host runner: runtimes on this machine, each measurement in a fresh worker process.

Like pyperf's workers, every measurement (one trial) is `python -m device_runners.host.worker`
with an explicit argv and a clean environment (thread-count variables set to the request's
value), the result coming back as a JSON file, and the worker killed on timeout.

Before each model the harness calls `gate()`: a fixed pause (`cooldown_s`, 0 by default; only
between models, not before the first), then the thermal gate, which waits until the hottest
thermal zone is below `gate_c`, for at most `gate_timeout_s`. A machine without thermal zones
(this one, containers, most VMs) passes the gate at once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from device_runners.contract import STATUS_RUN_FAILED, ContractError, RunRequest, RunResult
from device_runners.errors import DeviceError
from device_runners.host import runtimes, system
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
    tests can point it at a temporary tree.
    """

    def __init__(
        self,
        cooldown_s: float = 0.0,
        gate_c: float = THERMAL_GATE_C,
        gate_timeout_s: float = THERMAL_GATE_TIMEOUT_S,
        root: str | Path = "/",
    ):
        if cooldown_s < 0 or gate_timeout_s < 0:
            raise DeviceError("cooldown_s and gate_timeout_s cannot be negative.")
        self.device = system.describe_host()
        self.cooldown_s = cooldown_s
        self.gate_c = gate_c
        self.gate_timeout_s = gate_timeout_s
        self.root = root
        self._ran_a_trial = False  # the pause is between models: none before the first

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
        """One trial in a fresh worker, with the load average before it."""
        self._ran_a_trial = True
        context = {"loadavg_before": system.load_average(self.root)}
        result = self._run_worker(request)
        return dataclasses.replace(result, device=self.device, context={**result.context, **context})

    def _run_worker(self, request: RunRequest) -> RunResult:
        with tempfile.TemporaryDirectory(prefix="harness-run-") as tmp:
            request_path = Path(tmp) / "request.json"
            result_path = Path(tmp) / "result.json"
            request_path.write_text(request.to_json())
            argv = [sys.executable, "-m", "device_runners.host.worker",
                    "--request", str(request_path), "--result", str(result_path)]
            try:
                proc = subprocess.run(
                    argv,
                    env=self.worker_env(request),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    timeout=request.timeout_s,
                    text=True,
                )
            except subprocess.TimeoutExpired:
                return RunResult.failed(
                    request, self.device, STATUS_RUN_FAILED,
                    f"timed out after {request.timeout_s:.0f} s; raise --timeout or use a smaller model",
                )
            if not result_path.exists():
                tail = (proc.stderr or "").strip().splitlines()[-3:]
                why = " | ".join(tail) or f"exit code {proc.returncode}"
                return RunResult.failed(
                    request, self.device, STATUS_RUN_FAILED,
                    f"worker died (exit code {proc.returncode}): {why}",
                )
            try:
                data = json.loads(result_path.read_text())
                result = RunResult.from_dict(data)
            except (ValueError, ContractError) as exc:
                return RunResult.failed(request, self.device, STATUS_RUN_FAILED, f"bad result: {exc}")
        return result
