"""XCTest's performance results: the log lines xcodebuild prints, and the JSON of
`xcrun xcresulttool get test-results metrics` (Xcode 16.3 and later), both read by
device_runners.ios.xctest.

    Test Case '-[GenericTests test_forward_mv3_xnnpack_fp32_pte_iOS_17_2_1_iPhone15_4]' measured
    [Clock Monotonic Time, s] average: 0.012, relative standard deviation: 1.2%, values: [...],
    performanceMetricID:com.apple.dt.XCTMetric_Clock.time.monotonic, ...

Every iteration's value is a sample (never the rounded `average:`). Latency comes from
`Clock Monotonic Time` (in xcresulttool's JSON, failing that, the one other wall-time metric in
s or ms, such as `Duration (AppLaunch)`, named in the details); CPU time is not latency. Memory
comes from `Memory Peak Physical`, in XCTest's kB of 1000 bytes (16.384 kB is one 16 KiB page),
stored as KiB. A test that measured memory and no latency is a measured memory figure.

ExecuTorch's Apple benchmark app (extension/benchmark/apple/Benchmark) names each test
`test_<method>_<file>_<ext>_<systemName>_<systemVersion>_<machine>`, punctuation made `_`
(TestUtils/ResourceTestCase.m and DynamicTestCase.m): `test_forward_mv3_xnnpack_fp32_pte_iOS_17_2_1_iPhone15_4`
is the forward test of mv3_xnnpack_fp32.pte on iOS 17.2.1 on an iPhone15,4 (an iPhone 15, not
"iPhone 15.4"). The product type and the OS are read wherever they stand in the name; the model
file's name gives the model, backend and dtype (ExecuTorch's own `<model>_<backend>_<dtype>`).
Other suites' tests are one cell each, under the runtime and format the import names
(`--runtime`, `--format`), else "unknown": nothing in them says Core ML.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

from device_runners.contract import DeviceInfo
from device_runners.ios.xctest import (
    CLOCK_ID,
    CLOCK_NAME,
    PEAK_MEMORY_NAME,
    Metric,
    kib_from_kb,
    parse_log,
    parse_metric_runs,
)
from harness.results_io.cells import (
    UNKNOWN,
    UNNAMED_KIND,
    ImportedCell,
    ImportFileError,
    precision_of,
    scaled,
)
from harness.results_io.executorch_app import executorch_format

_METHOD = re.compile(r"^test_(?P<method>forward|load|generate)_(?P<rest>[\w+]+)$")
_PRODUCT = re.compile(r"_(?P<family>iPhone|iPad|iPod|Watch|AppleTV|RealityDevice)(?P<major>\d+)_"
                      r"(?P<minor>\d+)(?=_|$)")
_OS = re.compile(r"_(?P<os>iOS|iPadOS|macOS|visionOS|tvOS|watchOS)_(?P<version>\d+(?:_\d+)*)"
                 r"(?=_|$)")
_EXTENSION = re.compile(r"_(?P<ext>pte|mlpackage|mlmodelc?|tflite)$")
# `<model>_<backend>_<dtype>`: a backend ExecuTorch names (a model name may hold underscores,
# `repvit_m0_9_coreml_fp16`); else ExecuTorch's own rule, a model name without any.
_EXECUTORCH_MODEL = (
    re.compile(r"(?P<model>.+?)_(?P<backend>(?:xnnpack|coreml|mps|qnn|portable|vulkan|mediatek|"
               r"neutron|arm|cadence|ethos)[\w+]*?)_(?P<dtype>[a-z0-9]+)$"),
    re.compile(r"(?P<model>[^_]+)_(?P<backend>[\w+]+)_(?P<dtype>[a-z0-9]+)$"))
_WALL_UNITS = {"s": 1000.0, "ms": 1.0}
_NOT_LATENCY = ("XCTMetric_CPU", "XCTMetric_Memory", "XCTMetric_Disk", "XCTMetric_Storage")


def is_xctest_log(text: str) -> bool:
    return "Test Case '-[" in text and " measured [" in text


def is_xcresult_metrics(data) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) \
        and "testIdentifier" in data[0] and "testRuns" in data[0]


def executorch_test(method: str) -> dict | None:
    """What ExecuTorch's benchmark app's test name says (module docstring); None for another."""
    found = _METHOD.match(method)
    if not found:
        return None
    rest = "_" + found["rest"]
    product = _PRODUCT.search(rest)
    system = _OS.search(rest)
    for match in sorted((m for m in (product, system) if m), key=lambda m: -m.start()):
        rest = rest[:match.start()] + rest[match.end():]
    rest = rest.lstrip("_")
    ext = _EXTENSION.search(rest)
    if ext is None:
        return None
    name, backend, dtype = rest[:ext.start()], "", ""
    parts = next((m for m in (p.match(name) for p in _EXECUTORCH_MODEL) if m), None)
    if parts:
        name, backend, dtype = parts["model"], parts["backend"], parts["dtype"]
    return {"method": found["method"], "model": name, "backend": backend, "dtype": dtype,
            "ext": ext["ext"],
            "product_type": f"{product['family']}{product['major']},{product['minor']}" if product else "",
            "os": f"{system['os']} {system['version'].replace('_', '.')}" if system else ""}


def phone(product_type: str, os_version: str, fallback: DeviceInfo) -> DeviceInfo:
    """The device a product type names, with the catalog's name and SoC where it knows it."""
    if not product_type:
        return fallback
    from device_runners.ios.catalog import load_catalog

    spec = load_catalog().for_product_type(product_type)
    return DeviceInfo(device_id=product_type, platform="ios",
                      product_model=spec.name if spec else product_type,
                      soc=spec.soc.name if spec else "", cpu=spec.soc.describe_cpu() if spec else "",
                      cpu_count=spec.soc.core_count if spec else 0, os_version=os_version,
                      kind="ios")


def latency_metric(metrics: dict[str, Metric]) -> Metric | None:
    """Clock Monotonic Time; failing it, the one wall-time metric (module docstring)."""
    clock = metrics.get(CLOCK_NAME) or next(
        (m for m in metrics.values() if m.identifier == CLOCK_ID), None)
    if clock is not None:
        return clock
    walls = [m for m in metrics.values() if m.unit in _WALL_UNITS
             and not any(k in m.identifier for k in _NOT_LATENCY) and m.name != "CPU Time"]
    return walls[0] if len(walls) == 1 else None


def _ms(metric: Metric) -> tuple[float, ...]:
    return tuple(scaled(v, _WALL_UNITS[metric.unit]) for v in metric.values)


# A test's metrics are kept in the cell's details as XCTest gave them; their values only up to
# this many (the samples hold them all): a log of many long tests must not be stored twice over.
DETAIL_VALUES = 20


def _figures(metrics: dict[str, Metric]) -> dict:
    return {m.name: {"unit": m.unit, "identifier": m.identifier,
                     "values": list(m.values) if len(m.values) <= DETAIL_VALUES
                     else f"{len(m.values)} values"}
            for m in metrics.values()}


def _add(cell: dict, kind: str, metrics: dict[str, Metric]) -> None:
    """One test's metrics into its cell: the forward (or only) test's samples and memory, the
    load test's load time and memory at load."""
    clock = latency_metric(metrics)
    memory = metrics.get(PEAK_MEMORY_NAME)
    peak = kib_from_kb(max(memory.values)) if memory and memory.unit == "kB" else None
    if kind == "load":
        if clock is not None:
            cell["load_ms"] = statistics.median(_ms(clock))
            cell["details"]["load_ms"] = f"the median of XCTest's {len(clock.values)} load iterations"
        cell["peak_load_kb"] = peak
        return
    if clock is not None:
        cell["samples_ms"] = _ms(clock)
        if clock.name != CLOCK_NAME:
            cell["samples_are"] = f"every iteration of {clock.name} ({clock.identifier})"
    cell["peak_inference_kb"] = peak


def _finish(cells: dict) -> list[ImportedCell]:
    out = []
    for cell in cells.values():
        if not (cell.get("samples_ms") or cell.get("peak_inference_kb") is not None
                or cell.get("peak_load_kb") is not None):
            cell.update(status="run_failed",
                        reason=f"no {CLOCK_NAME} and no {PEAK_MEMORY_NAME} for this model")
        out.append(ImportedCell(**cell))
    return out


def _check_measured_lines(path: Path, text: str) -> None:
    """Every `measured [` line must be one parse_log reads: a damaged one is an error, not a
    silently smaller result."""
    for number, line in enumerate(text.splitlines(), 1):
        if " measured [" not in line or "Test Case '-[" not in line:
            continue
        try:
            readable = bool(parse_log(line))
        except ValueError:  # a value that is not a number
            readable = False
        if not readable:
            raise ImportFileError(path, number, "XCTest's `Test Case '-[Class test]' measured "
                                  "[Metric, unit] average: ..., values: [v1, v2, ...]`")


def _cell_of(method: str, device: DeviceInfo, fmt: str | None, runtime: str | None,
             cells: dict, source: str) -> tuple[dict, str]:
    """(the cell a test belongs to, the kind of test: forward/load/generate)."""
    found = executorch_test(method)
    if found:
        # The name says which phone ran it, unless the import named the device itself.
        cell_device = (phone(found["product_type"], found["os"], device)
                       if device.kind == UNNAMED_KIND else device)
        name, kind = found["model"], found["method"]
        cell_format = fmt or executorch_format(found["backend"], found["dtype"])
        defaults = dict(runtime="executorch", backend=found["backend"],
                        precision=precision_of(found["backend"], found["dtype"]))
    else:
        cell_device, kind = device, "forward"
        name = re.sub(r"^test_?", "", method.replace("()", "")) or method
        cell_format = fmt or runtime or UNKNOWN
        defaults = dict(runtime=runtime or UNKNOWN)
    cell = cells.setdefault((name, cell_format, cell_device.device_id), dict(
        model=name, format=cell_format, device=cell_device, **defaults,
        details={"source": source, "tests": {}}))
    return cell, kind


def read_xctest(path: Path, text: str, device: DeviceInfo, fmt: str | None = None,
                runtime: str | None = None, max_cells: int | None = None) -> list[ImportedCell]:
    """One cell per model (and device) the log's performance tests measured; ImportFileError
    as soon as there are more than `max_cells` (`results import --max-cells`)."""
    _check_measured_lines(path, text)
    tests = parse_log(text)
    if not tests:
        raise ImportFileError(path, None, "XCTest's `Test Case '-[Class test]' measured [...]` "
                              "lines of a performance test")
    cells: dict[tuple, dict] = {}
    for test, metrics in sorted(tests.items()):
        method = test.split(" ", 1)[-1].strip()
        cell, kind = _cell_of(method, device, fmt, runtime, cells, "xcodebuild log")
        if max_cells is not None and len(cells) > max_cells:
            raise ImportFileError(path, None, f"at most {max_cells:,} cells, not up to "
                                  f"{len(tests):,}, one per test (--max-cells {len(tests)} "
                                  "imports them all)")
        cell["details"]["tests"][test] = _figures(metrics)
        _add(cell, kind, metrics)
    return _finish(cells)


def read_xcresult_metrics(path: Path, data: list, device: DeviceInfo, fmt: str | None = None,
                          runtime: str | None = None) -> list[ImportedCell]:
    """One cell per test and device of `xcresulttool get test-results metrics` JSON, on the
    device it names (deviceName, deviceId), each metric's identifier kept."""
    runs = parse_metric_runs(data)
    if not runs:
        raise ImportFileError(path, None, "xcresulttool's test-results metrics with at least one "
                              "test run holding measurements")
    cells: dict[tuple, dict] = {}
    for run in runs:
        named = device
        if run.device_name or run.device_id:
            platform = "ios" if run.device_name.startswith(("iPhone", "iPad")) else device.platform
            named = DeviceInfo(device_id=run.device_id or run.device_name, platform=platform,
                               product_model=run.device_name, kind=platform or "imported")
        method = run.test.split("/")[-1]
        cell, kind = _cell_of(method, named, fmt, runtime, cells, "xcresulttool test-results metrics")
        cell["details"]["tests"][run.test] = {"configuration": run.configuration,
                                              "device_name": run.device_name,
                                              **_figures(run.metrics)}
        _add(cell, kind, run.metrics)
    return _finish(cells)
