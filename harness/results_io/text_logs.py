"""Text logs of other tools: TFLite's `benchmark_model` and XCTest's performance tests.

benchmark_model (google-ai-edge/LiteRT `tflite/tools/benchmark`) prints its parameters
(`Graph: [/data/local/tmp/m.tflite]`, `Num threads: [4]`, `Use xnnpack: [1]`), one
`count=... min=... avg=... std=...` line per phase and `Inference timings in us: ...`; the
Android runner's parser (device_runners.android.litert_benchmark) reads all of that and is reused
here. The tool prints statistics, never its runs, so the cell's one sample is the mean of the
timed runs and its own statistics are kept in the details.

XCTest prints one line per test and metric,

    Test Case '-[Benchmark test_forward_mv3_xnnpack_fp32_pte_iOS_17_2_1_iPhone15_4]' measured
    [Clock Monotonic Time, s] average: 0.012, relative standard deviation: 1.2%, values: [...]

read by device_runners.ios.xctest.parse_log: every iteration's value is a sample (never the
rounded `average:`). ExecuTorch's iOS benchmark app names its tests
`test_<forward|load>_<model>_<backend>_<dtype>_pte_iOS_<ver>_iPhone<id>`: the forward test
gives the samples, the load test the load time, the name the model, backend and device (`iPhone15_4`
is the model identifier iPhone15,4). Other tests are `test_<model>`, one cell each, in the
format and on the device the import names (`--format`, `--device`).
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

from device_runners.android.litert_benchmark import parse_benchmark_output, strip_prefixes
from device_runners.contract import DeviceInfo
from device_runners.ios.xctest import CLOCK_NAME, PEAK_MEMORY_NAME, parse_log
from harness.results_io.cells import ImportedCell, ImportFileError

_GRAPH = re.compile(r"^Graph: \[(?P<path>[^\]]*)\]")
_PARAM = re.compile(r"^(?P<name>[A-Za-z][\w ]*): \[(?P<value>[^\]]*)\]$")
_EXECUTORCH_TEST = re.compile(
    r"test_(?P<method>forward|load|generate)_(?P<name>[\w+]+?)_pte(?:_iOS_(?P<ios>[\d_]+))?"
    r"(?:_iPhone(?P<iphone>\d+_\d+))?$")
# `<model>_<backend>_<dtype>`: the backend is one ExecuTorch names (a model name may hold
# underscores, `repvit_m0_9_coreml_fp16`); else ExecuTorch's own rule, a model without any.
_EXECUTORCH_MODEL = (
    re.compile(r"(?P<model>.+?)_(?P<backend>(?:xnnpack|coreml|mps|qnn|portable|vulkan|mediatek|"
               r"neutron|arm|cadence|ethos)[\w+]*?)_(?P<dtype>[a-z0-9]+)$"),
    re.compile(r"(?P<model>[^_]+)_(?P<backend>[\w+]+)_(?P<dtype>[a-z0-9]+)$"))
# Backends benchmark_model can hand the graph to, by its flag's name, in the order it tries them.
_DELEGATES = (("Use gpu", "gpu"), ("Use NNAPI", "nnapi"), ("Use hexagon", "hexagon"),
              ("Use xnnpack", "xnnpack"))


def is_benchmark_model_log(text: str) -> bool:
    return "Inference timings in us" in text or "Running benchmark for at least" in text \
        or ("Graph: [" in text and "benchmark" in text.lower())


def is_xctest_log(text: str) -> bool:
    return "Test Case '-[" in text and " measured [" in text


def read_benchmark_model(path: Path, text: str, device: DeviceInfo,
                         model: str | None = None) -> list[ImportedCell]:
    """The one cell a benchmark_model log measured (or failed to)."""
    params = {}
    for raw in text.splitlines():
        _, line = strip_prefixes(raw)
        if match := _PARAM.match(line):
            params[match["name"].strip()] = match["value"].strip()
    graph = params.get("Graph", "")
    name = model or (Path(graph).stem if graph else "") or path.stem
    report = parse_benchmark_output(text)
    backend = next((b for flag, b in _DELEGATES if params.get(flag) in ("1", "true")), "")
    threads = params.get("Num threads", "")
    details = {"benchmark_model": report.to_context(), "parameters": params}
    base = dict(model=name, format="tflite", device=device, runtime="litert", backend=backend,
                details=details)
    if report.errors:
        return [ImportedCell(**base, status="run_failed", reason=report.failure())]
    if not report.ok:
        raise ImportFileError(path, None, "benchmark_model's `count=...` line of the timed runs "
                              "and its `Inference timings in us: ...` line")
    timed = report.timed
    mean_ms = (timed.avg if timed.avg is not None else report.inference_avg_us) / 1000.0
    if threads:
        details["threads"] = threads
    return [ImportedCell(
        **base, samples_ms=(mean_ms,),
        samples_are=f"benchmark_model's mean of {timed.count} timed runs (it prints no runs)",
        load_ms=report.init_us / 1000.0 if report.init_us is not None else None,
        first_inference_ms=(report.first_inference_us / 1000.0
                            if report.first_inference_us is not None else None),
        peak_inference_kb=(int(report.peak_memory_mb * 1024)
                           if report.peak_memory_mb is not None else None))]


def _check_measured_lines(path: Path, text: str) -> None:
    """Every `measured [` line must be one parse_log reads: a damaged one is an error, not a
    silently smaller result."""
    for number, line in enumerate(text.splitlines(), 1):
        if " measured [" in line and "Test Case '-[" in line and not parse_log(line):
            raise ImportFileError(path, number, "XCTest's `Test Case '-[Class test]' measured "
                                  "[Metric, unit] average: ..., values: [v1, v2, ...]`")


def _ms(metric) -> tuple[float, ...]:
    scale = {"s": 1000.0, "ms": 1.0}.get(metric.unit)
    return tuple(v * scale for v in metric.values) if scale else ()


def read_xctest(path: Path, text: str, device: DeviceInfo, fmt: str | None = None
                ) -> list[ImportedCell]:
    """One cell per model the log's performance tests measured."""
    _check_measured_lines(path, text)
    tests = parse_log(text)
    if not tests:
        raise ImportFileError(path, None, "XCTest's `Test Case '-[Class test]' measured [...]` "
                              "lines of a performance test")
    cells: dict[tuple[str, str], dict] = {}
    for test, metrics in sorted(tests.items()):
        method = test.split(" ", 1)[-1].strip()
        found = _EXECUTORCH_TEST.match(method)
        if found:
            name, backend, precision = found["name"], "", ""
            parts = next((m for m in (p.match(name) for p in _EXECUTORCH_MODEL) if m), None)
            if parts:
                name, backend, precision = parts["model"], parts["backend"], parts["dtype"]
            kind = found["method"]
            cell_device = device
            if found["iphone"] and device.device_id.startswith("unnamed"):
                ident = "iPhone" + found["iphone"].replace("_", ",")
                cell_device = DeviceInfo(device_id=ident, platform="ios", product_model=ident,
                                         os_version=(found["ios"] or "").replace("_", "."),
                                         kind="ios")
            cell_format = fmt or _executorch_format(backend, precision)
        else:
            name = re.sub(r"^test_?", "", method) or method
            kind, backend, precision, cell_device = "forward", "", "", device
            cell_format = fmt or "coreml"
        cell = cells.setdefault((name, cell_format), dict(
            model=name, format=cell_format, device=cell_device, backend=backend,
            precision=precision, runtime="executorch" if found else "coreml",
            details={"tests": {}}))
        cell["details"]["tests"][test] = {m.name: {"unit": m.unit, "values": list(m.values)}
                                          for m in metrics.values()}
        clock = metrics.get(CLOCK_NAME)
        memory = metrics.get(PEAK_MEMORY_NAME)
        if kind == "load":
            if clock and _ms(clock):
                cell["load_ms"] = statistics.median(_ms(clock))
            if memory and memory.unit == "kB":
                cell["peak_load_kb"] = int(max(memory.values))
        elif kind == "forward":
            if clock:
                cell["samples_ms"] = _ms(clock)
            if memory and memory.unit == "kB":
                cell["peak_inference_kb"] = int(max(memory.values))
    out = []
    for cell in cells.values():
        if not cell.get("samples_ms"):
            cell.update(status="run_failed", reason="the log has no Clock Monotonic Time of a "
                                                    "forward test for this model")
        out.append(ImportedCell(**cell))
    return out


def _executorch_format(backend: str, precision: str) -> str:
    """ExecuTorch's benchmark config (`xnnpack_q8`, `coreml_fp16`, `mps`) as a format name."""
    backend = backend.lower()
    if backend.startswith("xnnpack"):
        return "executorch-int8" if "q8" in backend or precision in ("q8", "int8") else "executorch"
    if backend.startswith("coreml"):
        return "executorch-coreml"
    if backend in ("portable", ""):
        return "executorch-portable" if backend else "executorch"
    return f"executorch-{backend.split('_')[0]}"
