"""Android phones over adb: discovery, the runner, and everything it pushes and parses.

    discovery.py         which phones are attached, and the one `--device` means
    runner.py            AndroidRunner: open, prepare, gate, run, close
    staging.py           sha256-checked pushes of tools and artifacts
    measure.py           one trial as one shell script, and what its output means
    adb.py               adbutils with a timeout on every call, and a phone that may leave
    probe.py             properties, CPU clusters, battery and thermal state of a phone
    cores.py             the phone's clusters and what --cores prime|big|little|all means
    health.py            the phone's state around every trial, and over a long one
    frequencies.py       --pin-frequencies: fixed clocks on a rooted phone, put back after
    catalog.py           devices.yaml: phones and SoCs the harness knows by name
    litert_benchmark.py  TensorFlow's benchmark_model: its command line and its output
    providers/           services that lend phones: DeviceFarmer STF, AWS Device Farm

`KIND` is what the harness lists: phones named by serial, catalog name or product model, and
the `harness run` options only a phone takes (docs/android.md).
"""

from __future__ import annotations

from device_runners.android.cores import CORE_CHOICES
from device_runners.android.providers import PROVIDERS
from device_runners.phones import PHONE_OPTIONS
from device_runners.runner import DeviceKind, DeviceOption, KindSetup


def _list_devices():
    from device_runners.android.discovery import attached_devices

    return attached_devices()


def _no_devices_hint() -> str:
    from device_runners.android.adb import (
        adb_server_address,
        adb_server_reachable,
        start_server_hint,
    )

    host, port = adb_server_address()
    if not adb_server_reachable(host, port):
        return f"no adb server at {host}:{port}: {start_server_hint()} (docs/android.md)"
    return (f"the adb server at {host}:{port} lists no phone: plug one in with USB debugging "
            "on and accept its prompt (docs/android.md)")


def _open_runner(name, settings, options):
    from device_runners.android.discovery import open_runner

    return open_runner(name, settings, options)


OPTIONS = (
    DeviceOption("--native-runner", "native_runner", type="path",
                 help="Android: the harness_runner binary to push (default: the android-arm64 "
                      "build from `harness build-runner`)."),
    DeviceOption("--benchmark-model", "benchmark_model", type="path",
                 help="Android: TensorFlow's benchmark_model binary, to run .tflite."),
    DeviceOption("--runner", "runner", type="text",
                 help="Android: what runs each runtime: native (ExecuTorch's native runner) and "
                      "benchmark-model (LiteRT's tool), the default; app (the benchmark app of "
                      "android_app/, installed on first use); or executorch=app,litert=benchmark-model."),
    DeviceOption("--app-apk", "app_apk", type="path",
                 help="Android: the benchmark app's APK to install or upgrade (default: "
                      "android_app's release build)."),
    DeviceOption("--litert-delegates", "litert_delegates", type="text",
                 help="Android: LiteRT delegates measured beside the CPU, one cell each "
                      "(tflite@gpu): gpu, nnapi."),
    DeviceOption("--cleanup", "cleanup", type="flag",
                 help="Android: remove everything pushed to the phone when the run ends."),
    DeviceOption("--cores", "cores", type="choice", choices=CORE_CHOICES,
                 help="Android: run on the prime, big or little cores (or all), found from the "
                      "phone's own topology; default the fastest cores the threads need."),
    DeviceOption("--pin-frequencies", "pin_frequencies", type="flag",
                 help="Android, rooted phones: fix each cluster's clock for the run and put it "
                      "back after (others: record the clocks found)."),
    *PHONE_OPTIONS,  # shared with the iOS kind
    DeviceOption("--reconnect-timeout", "reconnect_timeout_s", minimum=0,
                 help="Android: how long to wait for a phone that left, s [60]."),
)

def _setup(options):
    from device_runners.android.setup import setup_android

    return setup_android(**options)


SETUP = KindSetup(
    "Find the NDK, build the native runner for arm64, fetch LiteRT's benchmark_model.",
    (DeviceOption("--ndk", "ndk", type="dir",
                  help="The Android NDK [$ANDROID_NDK_HOME, $ANDROID_NDK, the SDK's ndk/]."),
     DeviceOption("--executorch-android", "executorch_android", type="dir",
                  help="Install prefix of an ExecuTorch arm64-v8a build [$EXECUTORCH_ANDROID_DIR]."),
     DeviceOption("--accept-sha256", "accept_sha256", type="text",
                  help="The sha256 of a benchmark_model you checked, for a LiteRT version with "
                       "none recorded."),
     DeviceOption("--litert-version", "litert_version", type="text",
                  help="The LiteRT version whose benchmark_model to fetch [the one installed here]."),
     ),
    _setup,
)

def _also_known_as(name: str) -> tuple[str, ...]:
    from device_runners.android.catalog import load_catalog

    phone = load_catalog().lookup(name)
    return (phone.name, *phone.models) if phone else ()


KIND = DeviceKind("android", "Android phones over adb", _list_devices, _open_runner, OPTIONS,
                  no_devices_hint=_no_devices_hint, providers=PROVIDERS, setup=SETUP,
                  also_known_as=_also_known_as, build_targets=("android-arm64",))
