"""The stand-in benchmark app: the file protocol of ios_app/ (device_runners/ios/protocol.py),
measuring with this machine's host runner instead of an iPhone's runtimes.

    python -m tests.support.ios_sim.app --udid U --container DIR --harness-request harness/requests/T.json
    python -m tests.support.ios_sim.app --udid U --container DIR --harness-status harness/status/P.json

A request's artifact and check inputs are paths relative to the container's Documents; the
result is written through a temporary name, then the `.done` marker, as the Swift app does. Core
ML cannot run here: a coreml request is answered `unsupported`, with the reason, like a runtime
the app was built without. The wall-clock times around the measurement stand in for the app's
`timed_start_unix` / `timed_end_unix`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from device_runners.contract import STATUS_UNSUPPORTED, DeviceInfo, RunRequest, RunResult

from .physics import as_modelled, log, model_of, performance_cores
from .state import State


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def status(state: State, udid: str) -> dict:
    phone = as_modelled(state, state.phone(udid))
    return {"thermal_state": phone.thermal_state, "battery_level": phone.battery_level,
            "battery_state": "charging" if phone.charging else "unplugged",
            "low_power_mode": False,
            "runtimes": phone.runtimes, "os_version": phone.os_version,
            "delegates": {"litert": phone.litert_delegates} if phone.litert_delegates else {},
            "device_model": phone.product_type, "app_version": "1.0 (stand-in)"}


def measure(state: State, udid: str, documents: Path, request: RunRequest) -> RunResult:
    phone = state.phone(udid)
    here = DeviceInfo(device_id=udid, platform="ios", kind="ios")
    if request.runtime not in phone.runtimes or request.runtime == "coreml":
        return RunResult.failed(request, here, STATUS_UNSUPPORTED,
                                f"the stand-in app cannot run {request.runtime} on this machine")
    if request.runtime == "litert" and request.backend == "coreml":  # Apple's delegate, not here
        return RunResult.failed(request, here, STATUS_UNSUPPORTED,
                                "LiteRT's Core ML delegate cannot be created on this machine")
    from device_runners.host.runner import HostRunner

    local = dataclasses.replace(
        request, artifact_path=str(documents / request.artifact_path),
        check_inputs_path=str(documents / request.check_inputs_path) if request.check_inputs_path else "")
    before = as_modelled(state, phone).thermal_state
    model = model_of(state, phone)  # replayed before the work, so scaling after it is quick
    started, work = time.monotonic(), f"app-{os.getpid()}"
    if model is not None:
        cores = performance_cores(phone, request.threads)
        log(state, udid, {"work": work, "pid": os.getpid(), "cpus": cores})
    result = HostRunner().run(local)  # its runners report the loop's wall-clock times, as the app does
    if model is not None:
        log(state, udid, {"done": work})
        from tests.support.phone_physics.scaling import scale_result

        result = RunResult.from_dict(scale_result(model, result.to_dict(), cores, started, phone.physics))
    context = {**result.context,
               "thermal_readings": {"before": {"state": before, "temps_c": {}},
                                    "after": {"state": as_modelled(state, state.phone(udid)).thermal_state,
                                              "temps_c": {}}},
               "app": "ios_sim stand-in"}
    return dataclasses.replace(result, artifact_sha256=request.artifact_sha256, device=here, context=context)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.ios_sim.app")
    parser.add_argument("--udid", required=True)
    parser.add_argument("--container", required=True, type=Path)
    parser.add_argument("--harness-request")
    parser.add_argument("--harness-status")
    args = parser.parse_args(argv)
    state = State.from_env()
    documents = args.container / "Documents"
    try:
        if args.harness_status:
            target = documents / args.harness_status
            _write(target, json.dumps(status(state, args.udid)))
            _write(target.with_suffix(".done"), "ok")
        elif args.harness_request:
            request_file = documents / args.harness_request
            request = RunRequest.from_json(request_file.read_text())
            result = measure(state, args.udid, documents, request)
            trial = Path(args.harness_request).stem
            results = documents / "harness" / "results"
            _write(results / f"{trial}.json", result.to_json())
            _write(results / f"{trial}.done", "ok")
            request_file.unlink(missing_ok=True)
    finally:
        pid_file = state.app_pid_file(args.udid)
        if pid_file.exists() and pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
