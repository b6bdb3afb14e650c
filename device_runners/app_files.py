"""The files a benchmark app (iOS: ios_app/, Android: android_app/) and the harness exchange,
by path relative to the app's own directory (iOS: Documents; Android: its external files
directory). Both apps use this one layout; each platform's protocol module says how the files
get there and how the app is started.

    harness/artifacts/<sha256[:16]>-<name>     the artifact
    harness/inputs/<sha256[:16]>-<name>        the check inputs (raw little-endian float32)
    harness/requests/<trial>.json              a RunRequest, paths relative to the app's directory
    harness/results/<trial>.json, .done        the RunResult, then the marker that it is whole
    harness/status/<probe>.json, .done         the app's answer to a status request
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from device_runners.contract import RunRequest

ROOT = "harness"


def artifact_path(local: Path, sha256: str) -> str:
    return f"{ROOT}/artifacts/{sha256[:16]}-{local.name}"


def inputs_path(local: Path, sha256: str) -> str:
    return f"{ROOT}/inputs/{sha256[:16]}-{local.name}"


def new_trial() -> str:
    return uuid.uuid4().hex[:12]


def request_path(trial: str) -> str:
    return f"{ROOT}/requests/{trial}.json"


def result_path(trial: str) -> str:
    return f"{ROOT}/results/{trial}.json"


def done_path(trial: str) -> str:
    return f"{ROOT}/results/{trial}.done"


def status_path(probe: str) -> str:
    return f"{ROOT}/status/{probe}.json"


def status_done_path(probe: str) -> str:
    return f"{ROOT}/status/{probe}.done"


def request_for_app(request: RunRequest, artifact_in_app: str, inputs_in_app: str) -> str:
    """The request as the app reads it: paths relative to its directory."""
    data = {**request.to_dict(), "artifact_path": artifact_in_app, "check_inputs_path": inputs_in_app}
    return json.dumps(data, allow_nan=False)
