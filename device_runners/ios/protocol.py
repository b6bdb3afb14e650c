"""The file protocol between the harness and the benchmark app (ios_app/), in the app's Documents.

    harness/artifacts/<sha256[:16]>-<name>     .mlpackage (a directory), .pte, .tflite
    harness/inputs/<sha256[:16]>-<name>        the check inputs (raw little-endian float32)
    harness/requests/<trial>.json              a RunRequest; artifact_path and check_inputs_path
                                               relative to Documents
    harness/results/<trial>.json               the RunResult, written through a temporary name
    harness/results/<trial>.done               written after it: the app has finished the trial
    harness/status/<probe>.json, .done         the app's answer to a status request

The harness pushes the artifact, the inputs and the request, then launches the app with
`--harness-request harness/requests/<trial>.json` (or `--harness-status harness/status/<probe>.json`),
terminating any instance still running, and polls for the `.done` marker. The app measures as
the contract says (device_runners/contract.py, the same schema its Swift types are generated
from) and adds to the result's context the wall-clock times around its timed loop
(`timed_start_unix`, `timed_end_unix`, seconds since the epoch) so the battery readings can be
cut to it, and its thermal state before and after (`thermal_readings`, ProcessInfo.thermalState:
nominal, fair, serious, critical).

A status answer: {"thermal_state", "battery_level" (0..1 or -1), "battery_state" (unplugged,
charging, full, unknown), "low_power_mode", "runtimes" ({runtime: version}), "delegates" ({runtime: [backend]}: the
delegates a runtime has beyond its default: LiteRT's Core ML delegate is litert: [coreml]), "os_version",
"device_model" (the product type), "app_version"}.
"""

from __future__ import annotations

from pathlib import Path

from device_runners.app_files import (  # noqa: F401 (the layout both apps share)
    ROOT,
    artifact_path,
    done_path,
    inputs_path,
    new_trial,
    request_for_app,
    request_path,
    result_path,
    status_done_path,
    status_path,
)

REQUEST_ARG = "--harness-request"
STATUS_ARG = "--harness-status"
DEFAULT_BUNDLE_ID = "org.harnessbench.HarnessBench"


def files_of(local: Path) -> list[tuple[Path, str]]:
    """(file, path relative to `local`'s parent) of an artifact: itself, or every file of a
    directory artifact (.mlpackage), so transports copy files only."""
    if local.is_dir():
        return [(f, str(f.relative_to(local.parent))) for f in sorted(local.rglob("*")) if f.is_file()]
    return [(local, local.name)]
