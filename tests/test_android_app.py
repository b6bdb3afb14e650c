"""The Kotlin benchmark app (android_app/) against the Python side of its contract.

The Android Gradle plugin cannot be fetched here, so the app itself is never built; its plain-Kotlin
core is. These tests compile the core and its JVM tests with the Kotlin compiler from package.json
(`npm install`: kotlin-compiler, one kotlinc call), run them on Java 17, drive the core's JVM entry
with a request written by device_runners/contract.py and read the answer back through the
contract's own checks, run the Kotlin loops and device_runners/timing.py on the same fake clock
(tests/support/loop_cases.py),
and check that Contract.kt is what quicktype generates from the schema. Under CI=true a missing
kotlinc, java or node fails these tests instead of skipping them.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.ci import unavailable
from device_runners import timing
from device_runners.android import app_protocol
from device_runners.contract import RunRequest, RunResult, wire_types
from tests.support.loop_cases import LOOP_CASES, case_durations, loop_request, timing_py_loops

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "android_app"
CORE = APP / "core" / "src" / "main" / "kotlin" / "org" / "harnessbench" / "core"
CORE_TESTS = APP / "core" / "src" / "test" / "kotlin"
ANDROID = APP / "app" / "src" / "main"
KOTLIN = ROOT / "node_modules" / "kotlin-compiler"
SCHEMA = ROOT / "device_runners" / "contract.schema.json"

# RunRequest fields the app reads nowhere, each with the reason (as tests/test_ios_app.py).
NOT_READ = {
    "schema_version": "checked where the request is read (ContractJson.request), not later",
    "timeout_s": "the harness enforces it, polling for the .done marker; the app stops on the maxima",
}


missing = unavailable  # a missing kotlinc, java or node: tests/support/ci.py


@pytest.fixture(scope="module")
def core_jar(tmp_path_factory) -> Path:
    """The core and its tests compiled into one jar, by one kotlinc call."""
    kotlinc = KOTLIN / "bin" / "kotlinc"
    if not kotlinc.exists():
        missing(f"{kotlinc.relative_to(ROOT)} is missing: run `npm install` at the repository root")
    if shutil.which("java") is None:
        missing("java is not installed (Java 17: apt-get install openjdk-17-jdk-headless)")
    jar = tmp_path_factory.mktemp("kotlin") / "core-tests.jar"
    started = time.monotonic()
    proc = subprocess.run(
        ["bash", str(kotlinc), str(APP / "core" / "src" / "main" / "kotlin"), str(CORE_TESTS),
         "-cp", str(KOTLIN / "lib" / "kotlin-test.jar"), "-nowarn", "-d", str(jar)],
        capture_output=True, text=True, timeout=600, check=False)
    seconds = time.monotonic() - started
    assert proc.returncode == 0, f"kotlinc failed after {seconds:.0f} s:\n{proc.stderr[-4000:]}"
    print(f"kotlinc compiled the core and its tests in {seconds:.1f} s")
    return jar


def java(jar: Path, main: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    classpath = os.pathsep.join([str(jar), str(KOTLIN / "lib" / "kotlin-stdlib.jar"),
                                 str(KOTLIN / "lib" / "kotlin-test.jar")])
    return subprocess.run(["java", "-cp", classpath, main, *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def app_code() -> str:
    """The hand-written Kotlin of the core and the Android shell, comments stripped."""
    paths = [p for p in sorted(CORE.glob("*.kt")) if p.name not in ("Contract.kt", "ContractJson.kt")]
    paths += sorted((ANDROID / "kotlin").rglob("*.kt"))
    return "\n".join(re.sub(r"//.*", "", p.read_text()) for p in paths)


@pytest.mark.slow  # the Kotlin core's compile (kotlinc, 15 s); its contract stays in the default tier through the quicktype tests
def test_the_core_passes_its_jvm_tests(core_jar):
    proc = java(core_jar, "org.harnessbench.core.CoreTestsKt")
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0 and re.fullmatch(r"\d+ passed, 0 failed", summary), \
        f"the core's JVM tests failed:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}"


def test_contract_kt_is_what_quicktype_generates_from_the_schema(tmp_path):
    node = shutil.which("node")
    if node is None:
        missing("node is not installed: quicktype (package.json) needs Node.js")
    if not (ROOT / "node_modules" / "quicktype").exists():
        missing("quicktype is not installed: run `npm install` at the repository root")
    out = tmp_path / "Contract.kt"
    proc = subprocess.run([node, str(APP / "core" / "generate_contract.mjs"), "--out", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"generate_contract.mjs failed: {proc.stderr.strip()}"
    checked_in = (CORE / "Contract.kt").read_text()
    generated = out.read_text()
    if generated != checked_in:
        first = next(line for line in difflib.unified_diff(
            checked_in.splitlines(), generated.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---")))
        pytest.fail("Contract.kt differs from the schema (first difference: "
                    f"{first.strip()!r}); run `node android_app/core/generate_contract.mjs`", pytrace=False)


def test_contract_json_names_every_schema_property():
    text = (CORE / "ContractJson.kt").read_text()
    schema = json.loads(SCHEMA.read_text())
    unnamed = [f"{name}.{prop}" for name in wire_types(schema)
               for prop in schema["$defs"][name].get("properties", {}) if f'"{prop}"' not in text]
    assert not unnamed, f"ContractJson.kt never reads or writes {', '.join(unnamed)}"


def test_the_app_reads_every_request_field_the_protocol_needs():
    body = re.search(r"data class RunRequest \((.*?)\n\)", (CORE / "Contract.kt").read_text(), re.DOTALL)
    fields = re.findall(r"val (\w+):", body.group(1))
    properties = set(json.loads(SCHEMA.read_text())["$defs"]["RunRequest"]["properties"])
    assert set(NOT_READ) <= properties, "NOT_READ lists a field the schema no longer has"
    camel = {re.sub(r"_(\w)", lambda m: m.group(1).upper(), p): p for p in properties}
    assert set(fields) == set(camel), "Contract.kt's RunRequest and the schema disagree"
    code = app_code()
    unread = [f"{camel[f]} (request.{f})" for f in fields
              if camel[f] not in NOT_READ and not re.search(rf"\brequest\.{f}\b", code)]
    assert not unread, f"the Kotlin app never reads {', '.join(unread)}: read it, or say why in NOT_READ"


@pytest.mark.slow  # the Kotlin core's compile (kotlinc, 15 s); its contract stays in the default tier through the quicktype tests
def test_the_jvm_entry_answers_a_harness_request(core_jar, tmp_path):
    files = tmp_path / "files"
    (files / "harness" / "artifacts").mkdir(parents=True)
    (files / "harness" / "inputs").mkdir()
    (files / "harness" / "artifacts" / "abc-m.pte").write_bytes(b"pte")
    values = [0.5, -1.0, 2.0, 3.5, 0.0, 1.0]  # two inputs of shape (1, 3)
    import struct
    (files / "harness" / "inputs" / "abc-m.bin").write_bytes(struct.pack("<6f", *values))
    request = RunRequest(model="m", format="executorch", runtime="executorch",
                         artifact_path="/elsewhere/m.pte", artifact_sha256="abc", input_shape=(1, 3),
                         warmup_iterations=2, min_iterations=4, min_duration_s=0.0, backend="xnnpack",
                         check_inputs_path="/elsewhere/m.bin")
    trial = app_protocol.new_trial()
    request_file = files / app_protocol.request_path(trial)
    request_file.parent.mkdir(parents=True)
    request_file.write_text(app_protocol.request_for_app(
        request, "harness/artifacts/abc-m.pte", "harness/inputs/abc-m.bin"))

    proc = java(core_jar, "org.harnessbench.core.MainKt", "--files-dir", str(files),
                "--request", app_protocol.request_path(trial), "--stub-ms", "1")
    assert proc.returncode == 0, proc.stderr
    assert (files / app_protocol.done_path(trial)).is_file()
    result = RunResult.from_json((files / app_protocol.result_path(trial)).read_text())  # schema + problems
    assert result.ok, result.error
    assert (result.model, result.format, result.runtime, result.backend) == ("m", "executorch", "executorch", "xnnpack")
    assert len(result.warmup_samples_ms) == 2 and len(result.samples_ms) == 4
    assert all(s >= 1.0 for s in result.samples_ms)
    assert [list(c.values) for c in result.check_outputs] == [values[:3], values[3:]]  # the stub echoes
    for key in ("timed_start_unix", "timed_end_unix", "thermal_readings", "timed_stop_reason", "warmup"):
        assert key in result.context
    assert result.context["timed_call"] == "stub sleep"  # what a sample times, named by the runtime
    assert result.peak_rss_load_kb and result.peak_rss_inference_kb

    status = files / app_protocol.status_path("p1")
    proc = java(core_jar, "org.harnessbench.core.MainKt", "--files-dir", str(files),
                "--status", app_protocol.status_path("p1"))
    assert proc.returncode == 0, proc.stderr
    assert (files / app_protocol.status_done_path("p1")).is_file()
    keys = set(re.findall(r'"(\w+)"', app_protocol.__doc__.split("A status answer:", 1)[1]))
    assert set(json.loads(status.read_text())) == keys


@pytest.mark.slow  # the Kotlin core's compile (kotlinc, 15 s); its contract stays in the default tier through the quicktype tests
def test_a_bad_request_gets_a_failed_result_the_harness_reads(core_jar, tmp_path):
    files = tmp_path / "files"
    (files / "harness" / "requests").mkdir(parents=True)
    (files / app_protocol.request_path("bad")).write_text('{"model": "m", "format": "tflite", "threads": 0}')
    proc = java(core_jar, "org.harnessbench.core.MainKt", "--files-dir", str(files),
                "--request", app_protocol.request_path("bad"))
    assert proc.returncode == 0, proc.stderr
    result = RunResult.from_json((files / app_protocol.result_path("bad")).read_text())
    assert result.status == "run_failed"
    assert result.error == "the benchmark app cannot read the request: the request has no schema_version"
    assert (result.model, result.format) == ("m", "tflite")


@pytest.mark.slow  # the Kotlin core's compile (kotlinc, 15 s); its contract stays in the default tier through the quicktype tests
@pytest.mark.parametrize("case", sorted(LOOP_CASES))
def test_the_kotlin_loops_are_timing_pys(core_jar, case):
    request = loop_request(LOOP_CASES[case][0])
    durations = case_durations(case)
    expected = timing_py_loops(request, durations)
    spec = json.dumps({"request": request.to_dict(), "durations_ms": durations})
    proc = java(core_jar, "org.harnessbench.core.CoreTestsKt", "--loops", spec)
    assert proc.returncode == 0, proc.stderr
    kotlin = json.loads(proc.stdout)
    assert kotlin["warmup_ms"] == expected["warmup_ms"]
    assert kotlin["settled"] == expected["settled"]
    assert kotlin["samples_ms"] == expected["samples_ms"]


def test_the_app_is_built_as_the_harness_launches_it():
    gradle = (APP / "app" / "build.gradle.kts").read_text()
    assert f"versionCode = {app_protocol.APP_VERSION_CODE}" in gradle
    assert f"const val APP_VERSION_CODE = {app_protocol.APP_VERSION_CODE}L" in (CORE / "Status.kt").read_text()
    assert f'applicationId = "{app_protocol.DEFAULT_PACKAGE}"' in gradle
    manifest = (ANDROID / "AndroidManifest.xml").read_text()
    assert f'android:name="{app_protocol.ACTIVITY}"' in manifest and 'android:exported="true"' in manifest
    files = (CORE / "Files.kt").read_text()
    assert f'REQUEST_EXTRA = "{app_protocol.REQUEST_EXTRA}"' in files
    assert f'STATUS_EXTRA = "{app_protocol.STATUS_EXTRA}"' in files
    assert f'RESULTS_DIR = "{Path(app_protocol.result_path("t")).parent}"' in files
    # The .pte files are written by the executorch wheel the harness installs; the app's runtime
    # must be the same release.
    pins = set(re.findall(r'"executorch==([\w.]+)"', (ROOT / "pyproject.toml").read_text()))
    assert len(pins) == 1, pins
    assert f'val executorchVersion = "{pins.pop()}"' in gradle
    assert 'implementation("org.pytorch:executorch-android-vulkan:$executorchVersion")' in gradle
    # The app's Kotlin is the compiler the tests compile the core with.
    kotlin = json.loads((ROOT / "package.json").read_text())["devDependencies"]["kotlin-compiler"]
    assert f'kotlin("jvm") version "{kotlin}"' in (APP / "build.gradle.kts").read_text()


def test_the_kotlin_settle_rule_is_the_host_workers():
    loops = (CORE / "Loops.kt").read_text()
    assert f"const val WINDOW = {timing.SETTLE_WINDOW}" in loops
    assert f"const val TOLERANCE = {timing.SETTLE_TOLERANCE}" in loops
    assert f"const val MAX_SECONDS = {timing.SETTLE_MAX_S}" in loops
