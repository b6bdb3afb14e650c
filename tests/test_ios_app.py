"""The Swift benchmark app (ios_app/) against the Python side of its contract.

Swift cannot be compiled here, so these are the checks that can fail on this machine: every
`.swift` file parses (tree-sitter's Swift grammar, `tree-sitter-swift` on PyPI); the core is a
Foundation-only Swift package of the expected shape, compiled into the app and the XCTest target
as project.yml says; its contract types are exactly what quicktype generates from
contract.schema.json (real quicktype, pinned in package.json: `npm install`); its loop fixture is
device_runners/timing.py's own answer; and the sources name every request field, runtime, file,
launch argument, status key and result context key the iOS runner (device_runners/ios) relies on,
with the same settle rule and an ExecuTorch of the exporter's release line.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest
import yaml

from tests.support.ci import unavailable
from device_runners import timing
from device_runners.android.litert_benchmark import DELEGATE_FLAGS
from device_runners.contract import RunRequest, wire_types
from device_runners.ios import protocol, swift_contract
from device_runners.ios.runner import APP_RUNTIMES
from device_runners.ios.xctest import CLOCK_NAME, PEAK_MEMORY_NAME, XCTestMode
from tests.support.loop_cases import SWIFT_FIXTURE, fixture_text

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "ios_app"
SOURCES = APP / "HarnessBench"
PACKAGE = APP / "HarnessCore"
CORE = PACKAGE / "Sources" / "HarnessCore"
CORE_TESTS = PACKAGE / "Tests" / "HarnessCoreTests"

# RunRequest fields the app reads nowhere, each with the reason. A field added to the schema
# fails test_the_app_reads_every_request_field until it is read or listed here.
NOT_READ = {
    "profile": "no ETDump profiling pass on iOS yet; the native runner has one",
    "timeout_s": "the harness enforces it, polling for the .done marker; the app stops on the maxima",
}

# What a platform-free Swift file must not use: Apple-only frameworks and Darwin calls. The
# core's Foundation is swift-corelibs-foundation on Linux, where none of these exist.
NOT_IN_THE_CORE = ("UIKit", "SwiftUI", "CoreML", "Darwin", "ExecuTorch", "TensorFlowLite",
                   "clock_gettime_nsec_np", "task_info", "mach_", "ThermalState", "UIDevice",
                   "ProcessInfo.processInfo")


def swift(name: str) -> str:
    """An app or core source by file name."""
    for directory in (SOURCES, CORE):
        if (directory / name).exists():
            return (directory / name).read_text()
    raise FileNotFoundError(name)


def app_code() -> str:
    """Every hand-written Swift source the app compiles (its own and the core's), comments
    stripped (a name in a comment is not a use of it)."""
    paths = sorted(SOURCES.glob("*.swift")) + [p for p in sorted(CORE.glob("*.swift")) if p.name != "Contract.swift"]
    return "\n".join(re.sub(r"//.*", "", p.read_text()) for p in paths)


def code_without_comments(path: Path) -> str:
    return re.sub(r"//.*", "", path.read_text())


def coding_keys(struct: str) -> dict[str, str]:
    """{json name: Swift name} of a generated struct, from its CodingKeys."""
    body = re.search(rf"struct {struct}: Codable \{{(.*?)\n\}}", swift("Contract.swift"), re.DOTALL)
    assert body, f"Contract.swift has no struct {struct}"
    return {key: name for name, key in re.findall(r'case (\w+) = "(\w+)"', body.group(1))}


def test_contract_swift_is_what_quicktype_generates_from_the_schema(tmp_path):
    schema = json.loads((swift_contract.REPO / swift_contract.SCHEMA).read_text())
    assert set(swift_contract.TYPES) == set(wire_types(schema)), \
        "swift_contract.TYPES must list every object $def the request and result reference"
    try:
        generated = swift_contract.generate()
    except swift_contract.QuicktypeMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    (tmp_path / "Contract.swift").write_text(generated)
    checked_in = swift("Contract.swift")
    if generated != checked_in:
        diff = "".join(list(difflib.unified_diff(
            checked_in.splitlines(True), generated.splitlines(True), str(swift_contract.OUTPUT.relative_to(ROOT)),
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
    # No swiftpm-1.5.1 branch could be proved to exist (README.md, "ExecuTorch version"), so the
    # pin may be a 1.5 nightly: the same release line as the exporter, and the version the app
    # reports is the branch's.
    branch = yaml.safe_load(spec)["packages"]["executorch"]["branch"]
    match = re.fullmatch(r"swiftpm-((\d+)\.(\d+)\.\d+(?:\.\d{8})?)", branch)
    assert match, f"{branch} is not an ExecuTorch Swift package branch (swiftpm-X.Y.Z or swiftpm-X.Y.Z.YYYYMMDD)"
    assert f"{match[2]}.{match[3]}" == ".".join(version.split(".")[:2]), (branch, version)
    assert f'HarnessExecuTorchVersion: "{match[1]}"' in spec


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
    measure = swift("Loops.swift")
    assert f"static let window = {timing.SETTLE_WINDOW}" in measure
    assert f"static let tolerance = {timing.SETTLE_TOLERANCE}" in measure
    assert f"static let maxSeconds = {timing.SETTLE_MAX_S}" in measure


# -- the Swift core: syntax, package shape, project wiring, fixtures ------------------------------


def swift_parser():
    """tree-sitter's Swift grammar (the `test` extra installs tree-sitter and tree-sitter-swift)."""
    try:
        import tree_sitter_swift
        from tree_sitter import Language, Parser
    except ImportError:
        unavailable("tree-sitter and tree-sitter-swift are not installed: pip install -e '.[test]'")
    return Parser(Language(tree_sitter_swift.language()))


def syntax_errors(source: bytes, parser) -> list[str]:
    """Every ERROR and MISSING node of `source`, as "line:column: what"."""
    found = []

    def walk(node):
        if node.is_missing:
            found.append(f"{node.start_point[0] + 1}:{node.start_point[1] + 1}: missing {node.type}")
        elif node.is_error:
            text = source[node.start_byte:node.end_byte].decode(errors="replace").splitlines()
            found.append(f"{node.start_point[0] + 1}:{node.start_point[1] + 1}: cannot parse "
                         f"{(text[0] if text else '')[:60]!r}")
        elif node.has_error:
            for child in node.children:
                walk(child)

    walk(parser.parse(source).root_node)
    return found


def test_every_swift_file_parses():
    parser = swift_parser()
    assert syntax_errors(b"func f( {\n  let x = \n}\n", parser), "the check must see a broken file"
    files = sorted(APP.rglob("*.swift"))
    assert {CORE / "Trial.swift", PACKAGE / "Package.swift", CORE_TESTS / "TrialTests.swift",
            SOURCES / "App.swift"} <= set(files)
    broken = {str(f.relative_to(ROOT)): errors[:3] for f in files
              if (errors := syntax_errors(f.read_bytes(), parser))}
    assert not broken, f"Swift that does not parse: {broken}"


def test_the_swift_core_is_a_foundation_only_package():
    manifest = " ".join(re.sub(r"//.*", "", (PACKAGE / "Package.swift").read_text()).split())
    assert (PACKAGE / "Package.swift").read_text().startswith("// swift-tools-version:5.9\n")
    for part in ('name: "HarnessCore"',
                 'platforms: [.iOS(.v17), .macOS(.v13)]',
                 '.library(name: "HarnessCore", targets: ["HarnessCore"])',
                 '.target(name: "HarnessCore", path: "Sources/HarnessCore")',
                 '.testTarget(name: "HarnessCoreTests", dependencies: ["HarnessCore"], '
                 'path: "Tests/HarnessCoreTests", exclude: ["Fixtures"])'):
        assert part in manifest, f"Package.swift lacks {part}"
    assert ".package(" not in manifest, "the core depends on no other package"
    assert (CORE / "Contract.swift").exists() and (CORE_TESTS / "Fixtures" / "loops.json").exists()
    for path in sorted(CORE.glob("*.swift")):
        code = code_without_comments(path)
        assert re.findall(r"^import (\w+)", code, re.M) == ["Foundation"], f"{path.name} imports beyond Foundation"
        used = [name for name in NOT_IN_THE_CORE if name in code]
        assert not used, f"{path.name} uses {used}: that belongs in the app (DarwinProbe, DeviceFacts)"
    for path in sorted(CORE_TESTS.glob("*.swift")):
        imports = set(re.findall(r"^(?:@testable )?import (\w+)", code_without_comments(path), re.M))
        assert imports <= {"Foundation", "XCTest", "HarnessCore"}, f"{path.name} imports {imports}"
        if ": XCTestCase" in path.read_text():
            assert "@testable import HarnessCore" in path.read_text(), path.name


def test_the_xcode_project_compiles_the_core_into_the_app_and_its_tests():
    targets = yaml.safe_load((APP / "project.yml").read_text())["targets"]
    app = [s["path"] for s in targets["HarnessBench"]["sources"]]
    assert app == ["HarnessBench", "HarnessCore/Sources/HarnessCore"]
    tests = targets["HarnessBenchTests"]
    paths = [s["path"] for s in tests["sources"]]
    assert paths == ["HarnessBenchTests", "HarnessCore/Sources/HarnessCore", "HarnessBench/CoreMLRuntime.swift",
                     "HarnessBench/DarwinProbe.swift"]
    # Nothing the test target compiles may need ExecuTorch or LiteRT, which only the app links.
    compiled = [APP / p for p in paths]
    files = [f for p in compiled for f in (sorted(p.rglob("*.swift")) if p.is_dir() else [p])]
    for f in files:
        code = code_without_comments(f)
        assert not re.search(r"import (ExecuTorch|TensorFlowLite)|@testable import HarnessBench", code), f
    assert not [d for d in tests["dependencies"] if "package" in d], "the test target links no package"
    assert tests["settings"]["base"]["GENERATE_INFOPLIST_FILE"] in (True, "YES")
    test_source = (APP / "HarnessBenchTests" / "HarnessBenchTests.swift").read_text()
    assert "CoreMLRuntime()" in test_source and "DarwinProbe" in swift("CoreMLRuntime.swift")


def test_the_swift_loop_fixture_is_what_timing_py_does():
    assert SWIFT_FIXTURE.read_text() == fixture_text(), \
        "Fixtures/loops.json is not timing.py's answer: run `python tests/support/loop_cases.py`"


def test_the_swift_tests_check_what_the_core_promises():
    tests = {p.name: p.read_text() for p in CORE_TESTS.glob("*.swift")}
    assert "9_981_545_732_273_789_042" in tests["InputsTests.swift"]  # the C++ standard's mt19937_64 value
    assert '"Fixtures/loops.json"' in tests["LoopsTests.swift"]
    assert '"device_runners/contract.schema.json"' in tests["SchemaCheck.swift"]
    assert "contract.schema.json" in tests["TrialTests.swift"] and "SchemaChecker.contract()" in tests["TrialTests.swift"]
    count = sum(len(re.findall(r"^    func test\w+\(\)", text, re.M)) for text in tests.values())
    assert count >= 25, count


def test_every_app_runtime_names_the_call_a_sample_times_alike_on_both_apps():
    swift_calls = {}
    for name, type_name in re.findall(r'table\["(\w+)"\]\s*=\s*(\w+)\.self', swift("Runtimes.swift")):
        swift_calls[name] = re.search(r'static let timedCall = "([^"]+)"', swift(f"{type_name}.swift"))[1]
    kotlin_dir = ROOT / "android_app" / "app" / "src" / "main" / "kotlin" / "org" / "harnessbench" / "bench"
    kotlin_calls = {}
    for path in kotlin_dir.glob("*Runtime.kt"):
        text = path.read_text()
        kotlin_calls[re.search(r'override val name = "(\w+)"', text)[1]] = \
            re.search(r'override val timedCall = "([^"]+)"', text)[1]
    assert swift_calls == {"coreml": "MLModel.prediction", "executorch": "Module.forward",
                           "litert": "Interpreter.invoke"}
    assert kotlin_calls == {name: swift_calls[name] for name in ("executorch", "litert")}
    assert '"timed_call"' in swift("Trial.swift")


def test_litert_cpu_means_xnnpack_on_every_runner():
    # One meaning of the LiteRT backend "cpu" everywhere: LiteRT's default CPU path, with XNNPACK.
    assert DELEGATE_FLAGS["cpu"] == DELEGATE_FLAGS["xnnpack"] == "--use_xnnpack=true"  # benchmark_model
    ios = code_without_comments(SOURCES / "LiteRTRuntime.swift")
    assert 'case "", "cpu", "xnnpack":' in ios and "options.isXNNPackEnabled = true" in ios
    assert "isXNNPackEnabled = false" not in ios
    android = code_without_comments(ROOT / "android_app" / "app" / "src" / "main" / "kotlin" / "org" /
                                    "harnessbench" / "bench" / "LiteRTRuntime.kt")
    assert '"", "cpu", "xnnpack" -> {}' in android and ".setUseXNNPACK(true)" in android
    assert "setUseXNNPACK(false)" not in android
