"""The host runner: runtimes on this machine, each measurement in a fresh worker process.

Like pyperf's workers, every measurement (one trial) is `python -m device_runners.host_worker`
with an explicit argv and a clean environment (thread-count variables set to the request's
value), the result coming back as a JSON file, and the worker killed on timeout.

Between models the harness calls `cooldown()`: a fixed pause (`cooldown_s`, 0 by default), then
a thermal gate that waits until the hottest thermal zone is below `gate_c`, for at most
`gate_timeout_s`. How long it waited, and whether it gave up, travel with the next result
(`thermal.waited_s`, `context["thermal_gate"]`). A machine without thermal zones (this one,
containers, most VMs) passes the gate at once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from device_runners import hostinfo, sensors
from device_runners.contract import (
    STATUS_RUN_FAILED,
    ContractError,
    DeviceInfo,
    RunRequest,
    RunResult,
)

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


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass(frozen=True)
class GateReport:
    """What one pass through the cooldown and thermal gate did."""

    waited_s: float  # everything: the fixed cooldown and the wait for the temperature
    hottest_c: float | None  # the hottest zone when the gate opened; None without zones
    threshold_c: float
    timed_out: bool

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def wait_until_cool(
    threshold_c: float = THERMAL_GATE_C,
    timeout_s: float = THERMAL_GATE_TIMEOUT_S,
    poll_s: float = THERMAL_GATE_POLL_S,
    root: str | Path = "/",
) -> GateReport:
    """Wait until the hottest thermal zone under `root` is below `threshold_c`, at most
    `timeout_s` seconds. Returns at once where there are no thermal zones."""
    start = time.monotonic()
    while True:
        hottest = sensors.read_thermal(root).max_temp_c
        elapsed = time.monotonic() - start
        if hottest is None or hottest < threshold_c:
            return GateReport(elapsed, hottest, threshold_c, timed_out=False)
        if elapsed >= timeout_s:
            return GateReport(elapsed, hottest, threshold_c, timed_out=True)
        time.sleep(min(poll_s, timeout_s - elapsed))


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
    """Runs artifacts on this machine; `cooldown()` pauses and gates on temperature (see above).

    `root` is where /sys and /proc are read from (the thermal gate and the load average), so
    tests can point it at a temporary tree.
    """

    kind = "host"

    def __init__(
        self,
        cooldown_s: float = 0.0,
        gate_c: float = THERMAL_GATE_C,
        gate_timeout_s: float = THERMAL_GATE_TIMEOUT_S,
        root: str | Path = "/",
    ):
        if cooldown_s < 0 or gate_timeout_s < 0:
            raise ValueError("cooldown_s and gate_timeout_s cannot be negative.")
        self.device = describe_host()
        self.cooldown_s = cooldown_s
        self.gate_c = gate_c
        self.gate_timeout_s = gate_timeout_s
        self.root = root
        self._last_gate: GateReport | None = None  # reported with the next result

    def prepare(self) -> None:
        """Nothing to set up on the host; kept for the runner interface."""

    def worker_env(self, request: RunRequest) -> dict[str, str]:
        env = {k: os.environ[k] for k in _KEEP_VARS if k in os.environ}
        for var in THREAD_VARS:
            env[var] = str(request.threads)
        env["PYTHONHASHSEED"] = "0"
        # The worker must import this very package, wherever it was imported from.
        package_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        return env

    def run(self, request: RunRequest) -> RunResult:
        """One trial in a fresh worker, with the load average before it and the last gate."""
        context = {"loadavg_before": hostinfo.load_average(self.root)}
        gate, self._last_gate = self._last_gate, None
        if gate is not None:
            context["thermal_gate"] = gate.to_dict()
        result = self._run_worker(request)
        return dataclasses.replace(
            result,
            device=self.device,
            context={**result.context, **context},
            thermal=dataclasses.replace(result.thermal, waited_s=gate.waited_s if gate else 0.0),
        )

    def _run_worker(self, request: RunRequest) -> RunResult:
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
        return result

    def cooldown(self) -> GateReport:
        """Between models: the fixed pause, then the thermal gate."""
        start = time.monotonic()
        if self.cooldown_s > 0:
            time.sleep(self.cooldown_s)
        gate = wait_until_cool(self.gate_c, self.gate_timeout_s, root=self.root)
        self._last_gate = dataclasses.replace(gate, waited_s=time.monotonic() - start)
        return self._last_gate
