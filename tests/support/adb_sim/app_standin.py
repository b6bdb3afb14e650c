"""The benchmark app's stand-in on a simulated phone (android_app/ cannot be built here).

`am start` (the am shim) runs this in the app's files directory, as the app's BenchActivity
would start, with the intent's extras as options: `--harness-request harness/requests/<t>.json`
or `--harness-status harness/status/<p>.json`. It follows the app's file protocol
(device_runners/android/app_protocol.py): read the request, measure, write the RunResult
through a temporary name, then the `.done` marker. It measures as everything on the simulated
phone does, with host builds: this machine's host runner (ExecuTorch in the native runner,
LiteRT in the worker), as the iOS stand-in app (tests/support/ios_sim/app.py) does. A request it cannot read still ends in a failed RunResult and the marker.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from device_runners.contract import (  # noqa: E402
    STATUS_RUN_FAILED,
    ContractError,
    DeviceInfo,
    RunRequest,
    RunResult,
)

DEVICE = DeviceInfo(device_id="app", platform="android", kind="android")


def write_through(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def measure(request: RunRequest, files: Path) -> RunResult:
    """As tests/support/ios_sim/app.py's stand-in: this machine's host runner, whose runners report the
    timed loop's wall-clock times as the app does."""
    import dataclasses

    from device_runners.host.runner import HostRunner

    local = dataclasses.replace(
        request, artifact_path=str(files / request.artifact_path),
        check_inputs_path=str(files / request.check_inputs_path) if request.check_inputs_path else "")
    result = HostRunner().run(local)
    return dataclasses.replace(result, artifact_sha256=request.artifact_sha256,
                               context={**result.context, "app_process": os.getpid()})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--package", required=True)
    parser.add_argument("--app-dir", required=True, type=Path)
    parser.add_argument("--harness-request")
    parser.add_argument("--harness-status")
    args = parser.parse_args()
    files = Path.cwd()
    manifest = dict(line.split("=", 1) for line in (args.app_dir / "sim-manifest").read_text().splitlines() if "=" in line)
    if args.harness_status:
        status = files / args.harness_status
        status.parent.mkdir(parents=True, exist_ok=True)
        write_through(status, json.dumps({"app_version": int(manifest["versionCode"]),
                                          "runtimes": {"executorch": "host build", "litert": "host worker"},
                                          "delegates": {"litert": []}}))
        status.with_suffix(".done").write_text("")
        return 0
    request_path = files / args.harness_request
    result_path = request_path.parent.parent / "results" / request_path.name
    result_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        request = RunRequest.from_json(request_path.read_text())
        result = measure(request, files)
    except (OSError, ContractError, ValueError) as exc:
        data = json.loads(request_path.read_text()) if request_path.exists() else {}
        result = RunResult(model=str(data.get("model", "?")), format=str(data.get("format", "?")),
                           status=STATUS_RUN_FAILED, device=DEVICE, runtime=str(data.get("runtime", "")),
                           error=f"the app could not run the request: {exc}")
    write_through(result_path, result.to_json())
    result_path.with_suffix(".done").write_text("")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
