"""The host runner: runtimes on this machine, each measurement in a fresh worker process.

Like pyperf's workers, every measurement is `python -m device_runners.host_worker` with an
explicit argv and a clean environment (thread-count variables set to the request's value), the
result coming back as a JSON file, and the worker killed on timeout.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from device_runners.contract import (
    STATUS_RUN_FAILED,
    ContractError,
    DeviceInfo,
    RunRequest,
    RunResult,
)

# Variables that decide thread counts in the runtimes' own thread pools (OpenMP, MKL, XNNPACK
# through the runtimes' options); all set to the request's thread count.
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# Variables passed through to the worker; everything else is dropped.
_KEEP_VARS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "LD_LIBRARY_PATH")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_host() -> DeviceInfo:
    return DeviceInfo(
        device_id="host",
        platform=sys.platform,
        product_model=platform.node(),
        soc=platform.machine(),
        cpu=_cpu_model(),
        os_version=f"{platform.system()} {platform.release()}",
        cpu_count=os.cpu_count() or 0,
        kind="host",
    )


class HostRunner:
    """Runs artifacts on this machine. `cooldown_s` pauses between models."""

    kind = "host"

    def __init__(self, cooldown_s: float = 0.0):
        self.device = describe_host()
        self.cooldown_s = cooldown_s

    def prepare(self) -> None:
        """Nothing to set up on the host; kept for the runner interface."""

    def worker_env(self, request: RunRequest) -> dict[str, str]:
        env = {k: os.environ[k] for k in _KEEP_VARS if k in os.environ}
        for var in _THREAD_VARS:
            env[var] = str(request.threads)
        env["PYTHONHASHSEED"] = "0"
        # The worker must import this very package, wherever it was imported from.
        package_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        return env

    def run(self, request: RunRequest) -> RunResult:
        with tempfile.TemporaryDirectory(prefix="harness-run-") as tmp:
            request_path = Path(tmp) / "request.json"
            result_path = Path(tmp) / "result.json"
            request_path.write_text(request.to_json())
            argv = [sys.executable, "-m", "device_runners.host_worker",
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
        return dataclasses.replace(result, device=self.device)

    def cooldown(self) -> None:
        if self.cooldown_s > 0:
            import time

            time.sleep(self.cooldown_s)
