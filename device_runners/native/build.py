"""Building the native runner (harness_runner.cpp beside this file) with CMake.

Two targets:
  host           against the ExecuTorch pip wheel's CMake package (prebuilt shared libraries);
                 the binary finds them at run time through its RUNPATH.
  android-arm64  cross-compiled with the Android NDK's toolchain file against an ExecuTorch
                 source build installed for arm64-v8a (see native/README.md for how to make
                 one); the result is a static executable to `adb push` and run.

Builds are incremental: calling `build_native_runner` again only rebuilds what changed, so
callers that want an up-to-date binary call it rather than trusting `find_native_runner`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

from device_runners.errors import DeviceError

NATIVE_DIR = Path(__file__).parent
BINARY_NAME = "harness_runner"
TARGETS = ("host", "android-arm64")

# The wheel's CMake package defines its imported targets only from this version on.
MIN_CMAKE = (3, 28)
# API 26 (Android 8.0): what ExecuTorch's own Android build script uses.
ANDROID_PLATFORM = "android-26"
ANDROID_ABI = "arm64-v8a"


class NativeBuildError(DeviceError):
    """The native runner cannot be built here; the message is one line saying what to do."""


def default_build_dir(target: str = "host") -> Path:
    """native/build/<target>, or $HARNESS_NATIVE_BUILD_DIR/<target> when that is set."""
    _check_target(target)
    root = os.environ.get("HARNESS_NATIVE_BUILD_DIR")
    return (Path(root) if root else NATIVE_DIR / "build") / target


def find_native_runner(target: str = "host") -> Path | None:
    """The binary of a previous build for `target` in the default build directory, or None."""
    binary = default_build_dir(target) / BINARY_NAME
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


def build_native_runner(
    target: str = "host",
    build_dir: str | Path | None = None,
    android_ndk: str | Path | None = None,
    executorch_android_dir: str | Path | None = None,
    jobs: int | None = None,
) -> Path:
    """Configure and build the runner for `target`; return the path of the binary.

    `android_ndk` defaults to $ANDROID_NDK (or $ANDROID_NDK_HOME) and `executorch_android_dir`,
    the install prefix of an ExecuTorch arm64-v8a build, to $EXECUTORCH_ANDROID_DIR. Raises
    NativeBuildError naming what is missing or which step failed (the full CMake output is kept
    in <build_dir>/build.log).
    """
    _check_target(target)
    build_dir = Path(build_dir) if build_dir is not None else default_build_dir(target)
    cmake = find_cmake()
    if target == "host":
        options = [f"-Dexecutorch_DIR={_wheel_cmake_dir()}"]
    else:
        options = _android_options(android_ndk, executorch_android_dir)

    build_dir.mkdir(parents=True, exist_ok=True)
    log_path = build_dir / "build.log"
    configure = [str(cmake), "-S", str(NATIVE_DIR), "-B", str(build_dir),
                 "-DCMAKE_BUILD_TYPE=Release", *options]
    # The generator is fixed when a build directory is first configured; naming another one
    # later is an error, so choose only for a fresh directory.
    if not (build_dir / "CMakeCache.txt").exists() and shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    build = [str(cmake), "--build", str(build_dir), "--target", BINARY_NAME,
             "-j", str(jobs or os.cpu_count() or 1)]

    with log_path.open("w") as log:
        for step, command in (("configuring", configure), ("building", build)):
            log.write("$ " + " ".join(command) + "\n")
            log.flush()
            completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True)
            log.write(completed.stdout)
            if completed.returncode != 0:
                raise NativeBuildError(
                    f"{step} {BINARY_NAME} for {target} failed: {_first_error(completed.stdout)} "
                    f"(full output in {log_path})"
                )

    binary = build_dir / BINARY_NAME
    if not binary.is_file():
        raise NativeBuildError(f"the build finished but {binary} does not exist (see {log_path})")
    return binary


def find_cmake() -> Path:
    """A cmake >= 3.28: the PyPI `cmake` package's first, then whatever is on PATH."""
    candidates = []
    if importlib.util.find_spec("cmake") is not None:
        import cmake  # the PyPI package; the system cmake here is too old

        candidates.append(Path(cmake.CMAKE_BIN_DIR) / "cmake")
    if on_path := shutil.which("cmake"):
        candidates.append(Path(on_path))
    for candidate in candidates:
        version = _cmake_version(candidate)
        if version is not None and version >= MIN_CMAKE:
            return candidate
    wanted = ".".join(map(str, MIN_CMAKE))
    raise NativeBuildError(f"cmake >= {wanted} not found: pip install 'cmake>={wanted}'")


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise NativeBuildError(f"unknown native target {target!r}; choose one of {', '.join(TARGETS)}")


def _cmake_version(cmake: Path) -> tuple[int, int] | None:
    try:
        out = subprocess.run([str(cmake), "--version"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"cmake version (\d+)\.(\d+)", out)
    return (int(match[1]), int(match[2])) if match else None


def _wheel_cmake_dir() -> Path:
    spec = importlib.util.find_spec("executorch")
    if spec is None or not spec.submodule_search_locations:
        raise NativeBuildError("the executorch package is not installed: pip install executorch")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    cmake_dir = package_dir / "share" / "cmake"
    if not (cmake_dir / "executorch-config.cmake").is_file():
        raise NativeBuildError(
            f"the executorch package at {package_dir} ships no CMake package "
            "(share/cmake/executorch-config.cmake); install a wheel that does"
        )
    return cmake_dir


def _android_options(android_ndk, executorch_android_dir) -> list[str]:
    ndk = android_ndk or os.environ.get("ANDROID_NDK") or os.environ.get("ANDROID_NDK_HOME")
    if not ndk:
        raise NativeBuildError(
            "the Android NDK is not set: give `harness build-runner --ndk DIR` or set "
            "ANDROID_NDK to the NDK directory"
        )
    toolchain = Path(ndk) / "build" / "cmake" / "android.toolchain.cmake"
    if not toolchain.is_file():
        raise NativeBuildError(f"{ndk} is not an Android NDK: {toolchain} does not exist")

    install = executorch_android_dir or os.environ.get("EXECUTORCH_ANDROID_DIR")
    if not install:
        raise NativeBuildError(
            "no ExecuTorch Android build: give `harness build-runner --executorch-android DIR` "
            "or set EXECUTORCH_ANDROID_DIR to its install prefix (device_runners/native/README.md "
            "shows how to build one)"
        )
    config_dir = Path(install) / "lib" / "cmake" / "ExecuTorch"
    if not (config_dir / "executorch-config.cmake").is_file():
        raise NativeBuildError(
            f"{install} is not an ExecuTorch install: {config_dir}/executorch-config.cmake "
            "does not exist (build ExecuTorch with --target install, see "
            "device_runners/native/README.md)"
        )
    return [
        f"-DCMAKE_TOOLCHAIN_FILE={toolchain}",
        f"-DANDROID_ABI={ANDROID_ABI}",
        f"-DANDROID_PLATFORM={ANDROID_PLATFORM}",
        f"-Dexecutorch_DIR={config_dir}",
        # The NDK toolchain confines package searches to its sysroot; let them see the install.
        f"-DCMAKE_FIND_ROOT_PATH={Path(install).resolve()}",
    ]


def _first_error(output: str) -> str:
    """The first line of CMake/compiler output that names an error, for a one-line message."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith("CMake Error"):
            # "CMake Error at CMakeLists.txt:19 (find_package):" says where; the next line why.
            return " ".join(lines[i : i + 2])
        if re.search(r"\berror\b", line, re.IGNORECASE):
            return line
    return lines[-1] if lines else "no output"
