"""The Swift benchmark app (ios_app/) against the Python side of its contract.

Swift cannot be compiled here, so these are the checks that can fail on this machine: the app's
contract types are exactly what quicktype generates from contract.schema.json (real quicktype,
pinned in package.json: `npm install`), and the app's sources name every request field, runtime,
file, launch argument, status key and result context key the iOS runner (device_runners/ios)
relies on, with the same settle rule and the same ExecuTorch version as the exporter.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest

from device_runners import timing
from device_runners.contract import RunRequest
from device_runners.ios import protocol, swift_contract
from device_runners.ios.runner import APP_RUNTIMES
from device_runners.ios.xctest import CLOCK_NAME, PEAK_MEMORY_NAME, XCTestMode

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "ios_app"
SOURCES = APP / "HarnessBench"

# RunRequest fields the app reads nowhere, each with the reason. A field added to the schema
# fails test_the_app_reads_every_request_field until it is read or listed here.
NOT_READ = {
    "profile": "no ETDump profiling pass on iOS yet; the native runner has one",
    "timeout_s": "the harness enforces it, polling for the .done marker; the app stops on the maxima",
}


def swift(name: str) -> str:
    return (SOURCES / name).read_text()


def app_code() -> str:
    """Every hand-written Swift source of the app, comments stripped (a name in a comment is
    not a use of it)."""
    texts = [p.read_text() for p in sorted(SOURCES.glob("*.swift")) if p.name != "Contract.swift"]
    return "\n".join(re.sub(r"//.*", "", t) for t in texts)


def coding_keys(struct: str) -> dict[str, str]:
    """{json name: Swift name} of a generated struct, from its CodingKeys."""
    body = re.search(rf"struct {struct}: Codable \{{(.*?)\n\}}", swift("Contract.swift"), re.DOTALL)
    assert body, f"Contract.swift has no struct {struct}"
    return {key: name for name, key in re.findall(r'case (\w+) = "(\w+)"', body.group(1))}


def test_contract_swift_is_what_quicktype_generates_from_the_schema(tmp_path):
    defs = json.loads((swift_contract.REPO / swift_contract.SCHEMA).read_text())["$defs"]
    objects = {name for name, spec in defs.items() if spec.get("type") == "object"}
    assert set(swift_contract.TYPES) == objects, "swift_contract.TYPES must list every object $def"
    try:
        generated = swift_contract.generate()
    except swift_contract.QuicktypeMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    (tmp_path / "Contract.swift").write_text(generated)
    checked_in = swift("Contract.swift")
    if generated != checked_in:
        diff = "".join(list(difflib.unified_diff(
            checked_in.splitlines(True), generated.splitlines(True), "ios_app/HarnessBench/Contract.swift",
            "generated from contract.schema.json"))[:40])
        pytest.fail("Contract.swift differs from the schema; run `python -m device_runners.ios.swift_contract`"
                    f"\n{diff}", pytrace=False)


def test_the_app_reads_every_request_field_the_protocol_needs():
    keys = coding_keys("RunRequest")
    schema = swift_contract.REPO / swift_contract.SCHEMA
    properties = set(json.loads(schema.read_text())["$defs"]["RunRequest"]["properties"])
    assert set(keys) == properties
    assert set(NOT_READ) <= properties, "NOT_READ lists a field the schema no longer has"
    code = app_code()
    unread = [f"{field} (request.{name})" for field, name in keys.items()
              if field not in NOT_READ and not re.search(rf"\brequest\.{name}\b", code)]
    assert not unread, f"the Swift app never reads {', '.join(unread)}: read it, or say why in NOT_READ"


def test_every_runtime_the_ios_runner_may_request_has_a_swift_implementation():
    table = dict(re.findall(r'table\["(\w+)"\]\s*=\s*(\w+)\.self', swift("Runtimes.swift")))
    known = re.search(r"static let known = \[(.*?)\]", swift("Runtimes.swift")).group(1)
    assert set(re.findall(r'"(\w+)"', known)) == set(APP_RUNTIMES)
    for runtime in APP_RUNTIMES:
        assert runtime in table, f"Runtimes.swift has no implementation of {runtime}"
        source = SOURCES / f"{table[runtime]}.swift"
        assert source.exists(), f"{table[runtime]} should live in {source.relative_to(ROOT)}"
        text = source.read_text()
        assert re.search(rf"final class {table[runtime]}: BenchRuntime", text)
        assert f'static let name = "{runtime}"' in text, f"{source.name} names another runtime"


def test_the_app_answers_in_the_files_and_keys_the_ios_runner_reads():
    code = app_code()
    for argument in (protocol.REQUEST_ARG, protocol.STATUS_ARG):
        assert f'"{argument}"' in code
    assert f'"{Path(protocol.result_path("t")).parent}"' in code
    assert Path(protocol.done_path("t")).suffix == ".done" and 'appendingPathExtension("done")' in code
    # runner.py cuts the battery readings to the timed loop; harness/run.py reads the thermal states.
    for key in ("timed_start_unix", "timed_end_unix", "thermal_readings"):
        assert f'"{key}"' in code, f"the app never writes context[{key!r}]"
    answer = protocol.__doc__.split("A status answer:", 1)[1]
    status_keys = set(re.findall(r'"(\w+)"', answer))
    assert {"thermal_state", "battery_level", "runtimes", "app_version"} <= status_keys
    written = set(re.findall(r'case \w+ = "(\w+)"', code))
    assert status_keys <= written, f"the status answer lacks {sorted(status_keys - written)}"


def test_the_project_builds_the_app_the_harness_launches():
    spec = (APP / "project.yml").read_text()
    assert f"PRODUCT_BUNDLE_IDENTIFIER: {protocol.DEFAULT_BUNDLE_ID}" in spec
    for key in ("UIFileSharingEnabled: true", "LSSupportsOpeningDocumentsInPlace: true"):
        assert key in spec
    # The .pte files are written by the executorch wheel the harness installs; the app's runtime
    # must be the same release, and report it.
    pins = set(re.findall(r'"executorch==([\w.]+)"', (ROOT / "pyproject.toml").read_text()))
    assert len(pins) == 1, pins
    version = pins.pop()
    assert f"branch: swiftpm-{version}" in spec
    assert f'HarnessExecuTorchVersion: "{version}"' in spec


def test_the_xctest_target_has_the_test_the_default_template_names():
    discovery = (ROOT / "device_runners" / "ios" / "discovery.py").read_text()
    template = re.search(r'or "(HarnessBenchTests/[^"]+)"', discovery).group(1)
    request = RunRequest(model="repvit_m1_0", format="coreml", runtime="coreml", artifact_path="x",
                         artifact_sha256="", input_shape=(1, 3, 224, 224))
    target, cls, method = XCTestMode("x.xctestrun", template, "udid").test_id(request).split("/")
    tests = (APP / "HarnessBenchTests" / f"{cls}.swift").read_text()
    assert f"final class {cls}: XCTestCase" in tests
    assert f"func {method}() throws" in tests
    assert f"\n  {target}:\n" in (APP / "project.yml").read_text()
    # The metrics xctest.py reads: Clock Monotonic Time and Memory Peak Physical.
    assert CLOCK_NAME == "Clock Monotonic Time" and "XCTClockMetric()" in tests
    assert PEAK_MEMORY_NAME == "Memory Peak Physical" and "XCTMemoryMetric()" in tests


def test_the_swift_settle_rule_is_the_host_workers():
    measure = swift("Measure.swift")
    assert f"static let window = {timing.SETTLE_WINDOW}" in measure
    assert f"static let tolerance = {timing.SETTLE_TOLERANCE}" in measure
    assert f"static let maxSeconds = {timing.SETTLE_MAX_S}" in measure
