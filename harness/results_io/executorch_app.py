"""ExecuTorch's Android benchmark app's `benchmark_results.json` (extension/benchmark/android,
`BenchmarkMetric` written by Gson): a list of

    {"benchmarkModel": {"name", "backend", "quantization"}, "metric", "actualValue",
     "targetValue", "deviceInfo": {"device", "os", "arch", "availMem", "totalMem"}}

with metrics `avg_inference_latency(ms)` (the mean of its iterations; it keeps none of them),
`trimmean_inference_latency(ms)`, `model_load_time(ms)`, `load_status` (non-zero: the model did
not load) and `peak_*_mem_usage(mb)`. The mean and trimmed mean are the app's own figures: the
cell keeps them as its summary, with no samples. A cell with memory figures and no latency is
a measured memory figure.
"""

from __future__ import annotations

from pathlib import Path

from device_runners.contract import DeviceInfo
from harness.results_io.cells import ImportedCell, ImportFileError, precision_of

LATENCY = "avg_inference_latency(ms)"
TRIMMED = "trimmean_inference_latency(ms)"
LOAD = "model_load_time(ms)"
PEAK_INFERENCE = "peak_inference_mem_usage(mb)"
PEAK_LOAD = "peak_load_mem_usage(mb)"


def executorch_format(backend: str, precision: str) -> str:
    """ExecuTorch's benchmark config (`xnnpack_q8`, `coreml_fp16`, `mps`) as a format name."""
    backend = backend.lower()
    if backend.startswith("xnnpack"):
        return "executorch-int8" if "q8" in backend or precision in ("q8", "int8") else "executorch"
    if backend.startswith("coreml"):
        return "executorch-coreml"
    if backend in ("portable", ""):
        return "executorch-portable" if backend else "executorch"
    return f"executorch-{backend.split('_')[0]}"


def number(path: Path, where: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ImportFileError(path, None, f"a number at {where}, not {value!r}")
    return float(value)


def platform_of(os_text: str) -> str:
    low = (os_text or "").lower()
    return "ios" if "ios" in low else "android" if "android" in low else ""


def named_device(name: str, os_text: str, soc: str, fallback: DeviceInfo) -> DeviceInfo:
    """The device a file names, or `fallback` when it names none."""
    if not name:
        return fallback
    platform = platform_of(os_text) or "unknown"
    return DeviceInfo(device_id=name, platform=platform, product_model=name, soc=soc or "",
                      os_version=os_text or "", kind=platform if platform != "unknown" else "imported")


def is_executorch_results(data) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) \
        and "benchmarkModel" in data[0]


def mb_to_kib(mb: float) -> int:
    return round(mb * 1024)


def read_executorch(path: Path, data, device: DeviceInfo) -> list[ImportedCell]:
    cells: dict[tuple, dict] = {}
    for i, entry in enumerate(data):
        where = f"entry {i + 1}"
        try:
            model = entry["benchmarkModel"]
            name, metric = model["name"], entry["metric"]
            value = number(path, f"{where} actualValue", entry["actualValue"])
        except (KeyError, TypeError):
            raise ImportFileError(path, None, f"{where} to hold benchmarkModel.name, metric and "
                                  "actualValue (ExecuTorch's BenchmarkMetric)") from None
        info = entry.get("deviceInfo") or {}
        backend, quant = model.get("backend") or "", model.get("quantization") or ""
        cell_device = named_device(info.get("device", ""), info.get("os", ""),
                                   info.get("arch", ""), device)
        cell = cells.setdefault((name, backend, quant, cell_device.device_id), dict(
            model=name, format=executorch_format(backend, quant), device=cell_device,
            runtime="executorch", backend=backend, precision=precision_of(backend, quant),
            details={"metrics": {}}))
        cell["details"]["metrics"][metric] = value
    return [_cell(c) for c in cells.values()]


def _cell(cell: dict) -> ImportedCell:
    metrics = cell["details"]["metrics"]
    status = metrics.get("load_status")
    if status:
        cell.update(status="run_failed", reason=f"the app's load_status is {status:g}: the "
                                                "model did not load")
    elif LATENCY in metrics:
        other = {"trimmed mean": metrics[TRIMMED]} if TRIMMED in metrics else {}
        cell.update(summary={"tool": "ExecuTorch benchmark app", "statistic": "mean",
                             "value_ms": metrics[LATENCY], "mean_ms": metrics[LATENCY],
                             "other_ms": other,
                             "note": "the benchmark app's mean of its iterations (it keeps none)"},
                    samples_are="none: the benchmark app keeps no iterations")
    cell["load_ms"] = metrics.get(LOAD)
    if PEAK_INFERENCE in metrics:
        cell["peak_inference_kb"] = mb_to_kib(metrics[PEAK_INFERENCE])
    if PEAK_LOAD in metrics:
        cell["peak_load_kb"] = mb_to_kib(metrics[PEAK_LOAD])
    if not status and LATENCY not in metrics and PEAK_INFERENCE not in metrics \
            and PEAK_LOAD not in metrics:
        cell.update(status="run_failed", reason=f"no {LATENCY} and no memory in the file")
    return ImportedCell(**cell)
