"""`harness setup android`: what a phone needs from this host, in one command.

ExecuTorch on a phone runs in the native runner (device_runners/native), cross-compiled with the
Android NDK against an ExecuTorch arm64-v8a build; LiteRT runs in the official `benchmark_model`
binary. This module finds the NDK, builds the runner, and fetches `benchmark_model` for the
LiteRT version installed here, and says in one line per step what it could not do and how.

- **NDK**: `--ndk`, else $ANDROID_NDK_HOME, $ANDROID_NDK, $ANDROID_NDK_ROOT, else the newest
  `ndk/<version>` (or the old `ndk-bundle`) of the SDK at $ANDROID_HOME, $ANDROID_SDK_ROOT or
  the SDK managers' default places (~/Android/Sdk, ~/Library/Android/sdk).
- **benchmark_model**: from LiteRT's own download site, the pinned URL of the version
  (`https://storage.googleapis.com/litert/binaries/<version>/android_arm64/benchmark_model`),
  checked against the sha256 recorded for that version in benchmark_model_pins.json. A version
  with no recorded sha256 is refused, naming the sha256 it got, until the user vouches for it
  (`--accept-sha256 HASH`); a download whose sha256 differs from the pin is refused outright.
  Installed into the tools directory ($HARNESS_TOOLS_DIR, else ~/.cache/harness/tools), where
  the Android runner finds it without --benchmark-model.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from device_runners.native.build import BINARY_NAME, NativeBuildError, build_native_runner, find_native_runner
from device_runners.runner import SetupStep

PINS = Path(__file__).with_name("benchmark_model_pins.json")
DEFAULT_BINARIES_URL = "https://storage.googleapis.com/litert/binaries"
MAX_TOOL_BYTES = 256 * 2**20  # a benchmark_model is tens of MB; anything far bigger is not one
DOWNLOAD_TIMEOUT_S = 120.0


# ----------------------------------------------------------------------------------------------
# The NDK


def _newest_ndk(sdk: Path) -> Path | None:
    versions = [p for p in (sdk / "ndk").glob("*") if (p / "build" / "cmake").is_dir()]
    if versions:
        return max(versions, key=lambda p: tuple(int(v) for v in re.findall(r"\d+", p.name)) or (0,))
    bundle = sdk / "ndk-bundle"
    return bundle if (bundle / "build" / "cmake").is_dir() else None


def find_ndk(explicit: str | Path | None = None) -> tuple[Path | None, str]:
    """(the NDK directory, how it was found) or (None, where it was looked for)."""
    if explicit:
        return Path(explicit), "--ndk"
    for variable in ("ANDROID_NDK_HOME", "ANDROID_NDK", "ANDROID_NDK_ROOT"):
        if os.environ.get(variable):
            return Path(os.environ[variable]), f"${variable}"
    places = [(f"${v}", Path(os.environ[v])) for v in ("ANDROID_HOME", "ANDROID_SDK_ROOT") if os.environ.get(v)]
    home = Path.home()
    places += [("~/Android/Sdk", home / "Android" / "Sdk"), ("~/Library/Android/sdk", home / "Library" / "Android" / "sdk")]
    for label, sdk in places:
        found = _newest_ndk(sdk)
        if found is not None:
            return found, f"the SDK at {label}"
    return None, ("no NDK in --ndk, $ANDROID_NDK_HOME, $ANDROID_NDK, $ANDROID_NDK_ROOT, or an "
                  "SDK's ndk/ folder ($ANDROID_HOME, $ANDROID_SDK_ROOT, ~/Android/Sdk)")


# ----------------------------------------------------------------------------------------------
# benchmark_model


def tools_dir() -> Path:
    root = os.environ.get("HARNESS_TOOLS_DIR")
    return Path(root) if root else Path.home() / ".cache" / "harness" / "tools"


def litert_version() -> str | None:
    try:
        return importlib.metadata.version("ai-edge-litert")
    except importlib.metadata.PackageNotFoundError:
        return None


def benchmark_model_path(version: str) -> Path:
    return tools_dir() / f"benchmark_model-{version}-android_arm64"


def installed_benchmark_model() -> Path | None:
    """The benchmark_model `harness setup android` installed: the one of the LiteRT version in
    use here, else the newest one installed; None when there is none."""
    version = litert_version()
    if version and benchmark_model_path(version).is_file():
        return benchmark_model_path(version)
    found = sorted(tools_dir().glob("benchmark_model-*-android_arm64"))
    return found[-1] if found else None


def pinned_sha256(version: str) -> str | None:
    pins = json.loads(PINS.read_text())["sha256"]
    return pins.get(version)


def download_url(version: str) -> str:
    base = os.environ.get("HARNESS_LITERT_BINARIES_URL", DEFAULT_BINARIES_URL).rstrip("/")
    return f"{base}/{version}/android_arm64/benchmark_model"


def _download(url: str, target: Path) -> str:
    """Fetch `url` into `target` (atomically), bounded in size; its sha256."""
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            total = 0
            while chunk := response.read(1 << 20):
                total += len(chunk)
                if total > MAX_TOOL_BYTES:
                    raise ValueError(f"the download passed {MAX_TOOL_BYTES // 2**20} MB: not a benchmark_model")
                digest.update(chunk)
                out.write(chunk)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def fetch_benchmark_model(version: str | None = None, accept_sha256: str | None = None) -> SetupStep:  # noqa: C901
    """benchmark_model for `version` (default: the LiteRT installed here), verified (module
    docstring)."""
    version = version or litert_version()
    if version is None:
        return SetupStep("benchmark_model", False, "LiteRT (ai-edge-litert) is not installed here, so "
                         "there is no version to match: install the tflite extra, or pass --benchmark-model "
                         "PATH to `harness run`")
    target = benchmark_model_path(version)
    pinned = pinned_sha256(version)
    if target.is_file() and _sha256(target) in {pinned, accept_sha256} - {None}:
        return SetupStep("benchmark_model", True, f"LiteRT {version}'s benchmark_model is installed: {target}")
    url = download_url(version)
    staged = target.with_name(target.name + ".unverified")
    try:
        got = _download(url, staged)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        why = (f"HTTP {exc.code} {exc.reason}" if isinstance(exc, urllib.error.HTTPError)
               else getattr(exc, "reason", None) or exc)
        return SetupStep("benchmark_model", False, f"could not download {url} ({why}); download it "
                         "yourself and pass --benchmark-model PATH to `harness run`")
    expected = pinned or accept_sha256
    if expected is None:
        staged.unlink(missing_ok=True)
        return SetupStep("benchmark_model", False,
                         f"LiteRT {version}'s benchmark_model has no sha256 recorded in the harness "
                         f"({PINS.name}); the download from {url} has sha256 {got}: check it against "
                         f"a copy you trust, then run again with --accept-sha256 {got}")
    if got != expected:
        staged.unlink(missing_ok=True)
        source = "recorded for" if pinned else "you accepted for"
        return SetupStep("benchmark_model", False,
                         f"the download from {url} has sha256 {got}, not the {expected} {source} "
                         f"LiteRT {version}: refused (a changed or tampered file)")
    staged.chmod(0o755)
    os.replace(staged, target)
    return SetupStep("benchmark_model", True, f"LiteRT {version}'s benchmark_model, sha256 {got[:16]}..., "
                                              f"installed: {target}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------------
# The whole setup, and what `harness devices` says of a phone


def build_runner_step(ndk: str | Path | None, executorch_android: str | Path | None) -> list[SetupStep]:
    found, how = find_ndk(ndk)
    if found is None:
        return [SetupStep("NDK", False, f"{how}: install the NDK (Android Studio's SDK Manager, or "
                                         "`sdkmanager 'ndk;27.2.12479018'`) or pass --ndk DIR")]
    steps = [SetupStep("NDK", True, f"the Android NDK at {found} (from {how})")]
    try:
        binary = build_native_runner("android-arm64", android_ndk=found,
                                     executorch_android_dir=executorch_android)
    except NativeBuildError as exc:
        steps.append(SetupStep("native runner", False, str(exc)))
    else:
        steps.append(SetupStep("native runner", True, f"the native runner for android-arm64: {binary}"))
    return steps


def setup_android(ndk=None, executorch_android=None, accept_sha256: str | None = None,
                  litert_version: str | None = None) -> list[SetupStep]:
    """Every step, each one's outcome; a step that cannot be done does not stop the others."""
    return [*build_runner_step(ndk, executorch_android),
            fetch_benchmark_model(litert_version, accept_sha256)]


def readiness() -> str:
    """What a phone can run from this host now: `ready`, or what is missing and the fix."""
    missing = []
    if find_native_runner("android-arm64") is None:
        missing.append(f"no {BINARY_NAME} for ExecuTorch")
    if installed_benchmark_model() is None:
        missing.append("no benchmark_model for LiteRT")
    if not missing:
        return "ready"
    return "; ".join(missing) + ": `harness setup android`"
