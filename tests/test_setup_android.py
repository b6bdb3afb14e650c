"""`harness setup android`: the NDK found in an SDK's layout, the native runner built with its
toolchain file, LiteRT's benchmark_model fetched from its (here: a 127.0.0.1) server and
checked by sha256; then `harness devices` says a phone is ready.

The NDK is a stand-in laid out as the real one (sdk/ndk/<version>/build/cmake/
android.toolchain.cmake), whose toolchain file builds for this host, against an "ExecuTorch
Android install" whose CMake package is the pip wheel's: the orchestration is what is tested
(which NDK, which options, where the binary lands), not the cross-compiler.
"""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest
from click.testing import CliRunner

from harness.cli import main
from tests.support.adb_sim import AdbSimServer, SimulatedPhone, sandbox_unavailable_reason

TOOL = b"\x7fELF stand-in benchmark_model\n" * 100
TOOL_SHA256 = hashlib.sha256(TOOL).hexdigest()


@pytest.fixture
def litert_site():
    """LiteRT's download site on 127.0.0.1: /<version>/android_arm64/benchmark_model."""
    served = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            served.append(self.path)
            parts = self.path.split("/")  # /binaries/<version>/android_arm64/benchmark_model
            if parts[1:2] == ["binaries"] and parts[3:] == ["android_arm64", "benchmark_model"]:
                self.send_response(200)
                self.send_header("Content-Length", str(len(TOOL)))
                self.end_headers()
                self.wfile.write(TOOL)
            else:
                self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/binaries", served
    server.shutdown()
    server.server_close()


@pytest.fixture
def android_sdk(tmp_path):
    """An SDK with two NDKs (the newer must be chosen) and an ExecuTorch "Android install"."""
    import executorch

    for version in ("25.1.8937393", "27.2.12479018"):
        toolchain = tmp_path / "sdk" / "ndk" / version / "build" / "cmake" / "android.toolchain.cmake"
        toolchain.parent.mkdir(parents=True)
        toolchain.write_text(f"# stand-in NDK {version}: builds for this host\n")
    wheel_config = f"{list(executorch.__path__)[0]}/share/cmake/executorch-config.cmake"
    config = tmp_path / "et" / "lib" / "cmake" / "ExecuTorch" / "executorch-config.cmake"
    config.parent.mkdir(parents=True)
    config.write_text(f"include({wheel_config})\n")
    return tmp_path


def setup(env, *args):
    return CliRunner().invoke(main, ["setup", "android", *args], env=env)


def test_setup_builds_the_runner_and_fetches_a_vouched_benchmark_model(android_sdk, litert_site, monkeypatch):
    url, served = litert_site
    env = {"ANDROID_HOME": str(android_sdk / "sdk"), "HARNESS_NATIVE_BUILD_DIR": str(android_sdk / "build"),
           "HARNESS_TOOLS_DIR": str(android_sdk / "tools"), "HARNESS_LITERT_BINARIES_URL": url,
           "ANDROID_NDK_HOME": "", "ANDROID_NDK": "", "ANDROID_NDK_ROOT": ""}
    for name in ("ANDROID_NDK_HOME", "ANDROID_NDK", "ANDROID_NDK_ROOT"):
        monkeypatch.delenv(name, raising=False)
    et = str(android_sdk / "et")

    # No sha256 recorded for this version: refused, naming what it downloaded.
    first = setup(env, "--executorch-android", et, "--litert-version", "9.9.9")
    assert first.exit_code == 1, first.output
    lines = first.output.splitlines()
    assert lines[0] == f"done  NDK: the Android NDK at {android_sdk}/sdk/ndk/27.2.12479018 (from the SDK at $ANDROID_HOME)"
    assert lines[1] == f"done  native runner: the native runner for android-arm64: {android_sdk}/build/android-arm64/harness_runner"
    assert lines[2].startswith("NOT DONE  benchmark_model: LiteRT 9.9.9's benchmark_model has no sha256 recorded")
    assert f"has sha256 {TOOL_SHA256}" in lines[2] and f"--accept-sha256 {TOOL_SHA256}" in lines[2]
    assert served == ["/binaries/9.9.9/android_arm64/benchmark_model"]
    assert not list((android_sdk / "tools").glob("benchmark_model*"))  # nothing unverified kept
    log = (android_sdk / "build" / "android-arm64" / "build.log").read_text()
    assert f"-DCMAKE_TOOLCHAIN_FILE={android_sdk}/sdk/ndk/27.2.12479018/build/cmake/android.toolchain.cmake" in log
    assert "-DANDROID_ABI=arm64-v8a" in log

    # A sha256 the user vouched for that the download does not have: refused.
    wrong = setup(env, "--executorch-android", et, "--litert-version", "9.9.9", "--accept-sha256", "0" * 64)
    assert wrong.exit_code == 1 and f"has sha256 {TOOL_SHA256}, not the {'0' * 64} you accepted" in wrong.output

    # The right one: installed, executable, where the Android runner looks.
    right = setup(env, "--executorch-android", et, "--litert-version", "9.9.9", "--accept-sha256", TOOL_SHA256)
    assert right.exit_code == 0, right.output
    installed = android_sdk / "tools" / "benchmark_model-9.9.9-android_arm64"
    assert installed.read_bytes() == TOOL and installed.stat().st_mode & 0o111
    assert "android: every step done" in right.output


def test_without_an_ndk_each_missing_piece_is_one_line(tmp_path, litert_site, monkeypatch):
    for name in ("ANDROID_NDK_HOME", "ANDROID_NDK", "ANDROID_NDK_ROOT", "ANDROID_HOME", "ANDROID_SDK_ROOT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    env = {"HARNESS_TOOLS_DIR": str(tmp_path / "tools"), "HARNESS_LITERT_BINARIES_URL": litert_site[0] + "/nothing-here"}
    out = setup(env, "--litert-version", "9.9.9")
    assert out.exit_code == 1
    lines = out.output.splitlines()
    assert lines[0].startswith("NOT DONE  NDK: no NDK in --ndk, $ANDROID_NDK_HOME") and "--ndk DIR" in lines[0]
    assert lines[1].startswith("NOT DONE  benchmark_model: could not download") and "404" in lines[1]
    assert lines[2] == "android: 0 of 2 steps done; the lines above say what the others need."


_no_sandbox = sandbox_unavailable_reason()


@pytest.mark.needs(_no_sandbox and f"no phone shell: {_no_sandbox}")
def test_devices_says_whether_this_host_is_ready_for_a_phone(tmp_path):
    tools = tmp_path / "tools"
    env = {"HARNESS_TOOLS_DIR": str(tools), "HARNESS_NATIVE_BUILD_DIR": str(tmp_path / "build")}
    with SimulatedPhone("SIM7", root=tmp_path / "p", props={"ro.product.model": "Pixel 7"}) as phone, \
            AdbSimServer([phone]) as server:
        env.update(ANDROID_ADB_SERVER_HOST=server.host, ANDROID_ADB_SERVER_PORT=str(server.port))
        missing = CliRunner().invoke(main, ["devices"], env=env)
        (tmp_path / "build" / "android-arm64").mkdir(parents=True)
        for path in (tmp_path / "build" / "android-arm64" / "harness_runner",
                     tools / "benchmark_model-2.3.0-android_arm64"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x")
            path.chmod(0o755)
        ready = CliRunner().invoke(main, ["devices"], env=env)
    [row] = [line for line in missing.output.splitlines() if line.startswith("SIM7")]
    assert "no harness_runner for ExecuTorch; no benchmark_model for LiteRT: `harness setup android`" in row
    [row] = [line for line in ready.output.splitlines() if line.startswith("SIM7")]
    assert row.rstrip().endswith("ready")
