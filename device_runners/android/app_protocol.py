"""The file protocol between the harness and the Android benchmark app (android_app/).

The app's files live in its app-specific external storage, which `adb shell` can write and the
app reads without any permission (Android 10+ scoped storage included):

    /sdcard/Android/data/<package>/files/           FILES below
      harness/artifacts/<sha256[:16]>-<name>        .pte, .tflite
      harness/inputs/<sha256[:16]>-<name>           the check inputs (raw little-endian float32)
      harness/requests/<trial>.json                 a RunRequest; artifact_path and
                                                    check_inputs_path relative to FILES
      harness/results/<trial>.json                  the RunResult, written through a temporary name
      harness/results/<trial>.done                  written after it: the app has finished the trial
      harness/status/<probe>.json, .done            the app's answer to a status request

The harness pushes the artifact, the inputs and the request, then starts the app, stopping any
instance still running (`-S`):

    am start -S -W -n <package>/.BenchActivity --es harness-request harness/requests/<trial>.json
    am start -S -W -n <package>/.BenchActivity --es harness-status harness/status/<probe>.json

and polls for the `.done` marker. The app measures as the contract says
(device_runners/contract.py, the schema its Kotlin types are generated from), with
SystemClock.elapsedRealtimeNanos, and adds to the result's context the wall-clock times around
its timed loop (`timed_start_unix`, `timed_end_unix`), its battery current and voltage before
and after (`battery`: BatteryManager's BATTERY_PROPERTY_CURRENT_NOW in µA and the voltage in
mV), and its thermal status and headroom before and after (`thermal_readings`:
PowerManager.getCurrentThermalStatus as none/light/moderate/severe/critical/emergency/shutdown,
getThermalHeadroom(0)). The request's `backend` picks the delegate: LiteRT `cpu` (XNNPACK),
`gpu`, `nnapi`; ExecuTorch as the .pte was lowered (xnnpack, vulkan).

A status answer: {"app_version" (versionCode), "runtimes" ({runtime: version}), "delegates"
({runtime: [backend]}), "android_version", "device_model", "thermal_status", "battery_pct"}.
"""

from __future__ import annotations


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

DEFAULT_PACKAGE = "org.harnessbench.bench"
ACTIVITY = ".BenchActivity"
REQUEST_EXTRA = "harness-request"
STATUS_EXTRA = "harness-status"
APP_VERSION_CODE = 1  # android_app/app/build.gradle.kts's versionCode: the runner upgrades below it


def files_dir(package: str = DEFAULT_PACKAGE) -> str:
    return f"/sdcard/Android/data/{package}/files"


def start_command(package: str, extra: str, path: str) -> str:
    """The `am start` line that runs one trial (or answers one status request)."""
    return f"am start -S -W -n {package}/{ACTIVITY} --es {extra} {path}"
