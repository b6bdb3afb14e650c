"""Structured results files of other tools: ExecuTorch's benchmark app, the PyTorch benchmark
database's v3 records, and Qualcomm AI Hub's perf.yaml.

ExecuTorch's Android benchmark app (extension/benchmark/android, `BenchmarkMetric` written by
Gson) writes `benchmark_results.json`: a list of
`{"benchmarkModel": {"name", "backend", "quantization"}, "metric", "actualValue",
"targetValue", "deviceInfo": {"device", "os", "arch", "availMem", "totalMem"}}`, with metrics
`avg_inference_latency(ms)` (the mean of its iterations: the cell's one sample),
`trimmean_inference_latency(ms)`, `model_load_time(ms)`, `load_status` (non-zero: the model
did not load) and `peak_*_mem_usage(mb)`.

v3 records (pytorch/pytorch wiki "How to integrate with PyTorch OSS benchmark database", as
ExecuTorch's extract_benchmark_results.py writes them) are a list of
`{"benchmark": {"name", "mode", "extra_info"}, "model": {"name", "type", "backend"},
"metric": {"name", "benchmark_values": [...], "target_value", "extra_info"}, "runners": [{"name",
"type", ...}]}`. Every value of `avg_inference_latency(ms)` is a sample (ExecuTorch's CI gives
one, a mean; `harness results export --format hud-v3` gives every timed sample);
`model_load_time(ms)` is the load time, a `FAILURE_REPORT` metric a failed cell.

AI Hub's perf.yaml (qai_hub_models `QAIHMModelPerf`): `precisions: {float|w8a8|...:
{components: {name: {performance_metrics: {device: {runtime: {inference_time_milliseconds,
estimated_peak_memory_range_mb: {min, max}, primary_compute_unit, layer_counts: {total, npu,
gpu, cpu}, job_status, tool_versions}}}}}}}`, and the older layout, `models: [{name,
performance_metrics: [{<runtime>: {inference_time (µs), estimated_peak_memory_range (bytes),
primary_compute_unit, precision, layer_info}, reference_device_info: {name, os_name,
chipset}}]}]`. The inference time is AI Hub's one figure per profile: the cell's one sample.
"""

from __future__ import annotations

import json
from pathlib import Path

from device_runners.contract import DeviceInfo
from harness.results_io.cells import EVERY_ITERATION, ImportedCell, ImportFileError
from harness.results_io.text_logs import _executorch_format

LATENCY = "avg_inference_latency(ms)"
LOAD = "model_load_time(ms)"
FAILURE = "FAILURE_REPORT"


def load_json(path: Path, text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(path, exc.lineno, f"JSON ({exc.msg} at column {exc.colno})") from None


def _platform(os_text: str) -> str:
    low = (os_text or "").lower()
    return "ios" if "ios" in low else "android" if "android" in low else ""


def _device(name: str, os_text: str = "", soc: str = "", fallback: DeviceInfo | None = None
            ) -> DeviceInfo:
    if not name and fallback is not None:
        return fallback
    platform = _platform(os_text) or (fallback.platform if fallback else "")
    return DeviceInfo(device_id=name, platform=platform or "unknown", product_model=name,
                      soc=soc or "", os_version=os_text or "", kind=platform or "imported")


def _number(path: Path, where: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ImportFileError(path, None, f"a number at {where}, not {value!r}")
    return float(value)


# ----------------------------------------------------------------------------------------------
# ExecuTorch's benchmark app


def is_executorch_results(data) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) \
        and "benchmarkModel" in data[0]


def read_executorch(path: Path, data, device: DeviceInfo) -> list[ImportedCell]:
    cells: dict[tuple, dict] = {}
    for i, entry in enumerate(data):
        where = f"entry {i + 1}"
        try:
            model = entry["benchmarkModel"]
            name, metric = model["name"], entry["metric"]
            value = _number(path, f"{where} actualValue", entry["actualValue"])
        except (KeyError, TypeError):
            raise ImportFileError(path, None, f"{where} to hold benchmarkModel.name, metric and "
                                  "actualValue (ExecuTorch's BenchmarkMetric)") from None
        info = entry.get("deviceInfo") or {}
        backend, quant = model.get("backend") or "", model.get("quantization") or ""
        cell_device = _device(info.get("device", ""), info.get("os", ""), info.get("arch", ""),
                              device)
        cell = cells.setdefault((name, backend, quant, cell_device.device_id), dict(
            model=name, format=_executorch_format(backend, quant), device=cell_device,
            runtime="executorch", backend=backend, precision=quant,
            details={"metrics": {}}))
        cell["details"]["metrics"][metric] = value
    return [_executorch_cell(c) for c in cells.values()]


def _executorch_cell(cell: dict) -> ImportedCell:
    metrics = cell["details"]["metrics"]
    status = metrics.get("load_status")
    if status:
        cell.update(status="run_failed", reason=f"the app's load_status is {status:g}: the "
                                                "model did not load")
    elif LATENCY not in metrics:
        cell.update(status="run_failed", reason=f"no {LATENCY} in the file")
    else:
        cell.update(samples_ms=(metrics[LATENCY],),
                    samples_are="the benchmark app's mean of its iterations (it keeps no "
                                "iterations)")
    cell["load_ms"] = metrics.get(LOAD)
    if "peak_inference_mem_usage(mb)" in metrics:
        cell["peak_inference_kb"] = int(metrics["peak_inference_mem_usage(mb)"] * 1024)
    if "peak_load_mem_usage(mb)" in metrics:
        cell["peak_load_kb"] = int(metrics["peak_load_mem_usage(mb)"] * 1024)
    return ImportedCell(**cell)


# ----------------------------------------------------------------------------------------------
# PyTorch benchmark database v3


def is_v3_records(data) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) \
        and {"benchmark", "model", "metric"} <= set(data[0])


def read_v3(path: Path, data, device: DeviceInfo) -> list[ImportedCell]:
    cells: dict[tuple, dict] = {}
    for i, record in enumerate(data):
        where = f"record {i + 1}"
        try:
            bench, model, metric = record["benchmark"], record["model"], record["metric"]
            name, metric_name = model["name"], metric["name"]
            values = metric["benchmark_values"]
        except (KeyError, TypeError):
            raise ImportFileError(path, None, f"{where} to hold benchmark, model.name, "
                                  "metric.name and metric.benchmark_values (v3 records)") from None
        if not isinstance(values, list):
            values = [values]
        values = [_number(path, f"{where} metric.benchmark_values", v) for v in values]
        runner = (record.get("runners") or [{}])[0] or {}
        origin = bench.get("name") or ""
        backend = model.get("backend") or ""
        fmt = backend if origin == "harness" and backend else _executorch_format(backend, "")
        # Our own export keeps the device's id beside its product name: a round trip keeps both.
        cell_device = _device(runner.get("name", ""), runner.get("type", ""),
                              runner.get("cpu_info", ""), device)
        own_id = (runner.get("extra_info") or {}).get("device_id") if origin == "harness" else None
        if own_id:
            cell_device = DeviceInfo(**{**cell_device.__dict__, "device_id": own_id})
        extra = bench.get("extra_info") or {}
        cell = cells.setdefault((name, backend, cell_device.device_id), dict(
            model=name, format=fmt, device=cell_device,
            runtime=(extra.get("runtime") or ("executorch" if origin == "ExecuTorch" else "")),
            backend=extra.get("backend", backend if origin != "harness" else ""),
            precision=extra.get("precision", ""),
            details={"benchmark": origin, "metrics": {}}))
        cell["details"]["metrics"][metric_name] = values if len(values) <= 20 else \
            f"{len(values)} values"
        if metric_name == FAILURE:
            job = extra.get("job_conclusion") or extra.get("failure_level") or "failure"
            cell.update(status="run_failed", reason=f"a FAILURE_REPORT record ({job})")
        elif metric_name == LATENCY and values:
            many = len(values) > 1
            cell["samples_ms"] = tuple(values)
            cell["samples_are"] = EVERY_ITERATION if many else \
                "the one avg_inference_latency(ms) value of the record (a mean)"
        elif metric_name == LOAD and values:
            cell["load_ms"] = values[0]
        elif metric_name == "first_inference_latency(ms)" and values:
            cell["first_inference_ms"] = values[0]
        elif metric_name == "peak_inference_mem_usage(mb)" and values:
            cell["peak_inference_kb"] = int(values[0] * 1024)
    out = []
    for cell in cells.values():
        if cell.get("status") != "run_failed" and not cell.get("samples_ms"):
            cell.update(status="run_failed", reason=f"no {LATENCY} record for this cell")
        out.append(ImportedCell(**cell))
    return out


# ----------------------------------------------------------------------------------------------
# Qualcomm AI Hub perf.yaml

# AI Hub's profile paths (runtimes) as format names; its precision picks the quantized variant.
_AIHUB_FORMATS = {"tflite": "tflite", "torchscript_onnx_tflite": "tflite", "onnx": "onnx",
                  "torchscript_onnx": "onnx", "qnn": "qnn", "qnn_dlc": "qnn",
                  "qnn_context_binary": "qnn", "torchscript_onnx_qnn": "qnn",
                  "precompiled_qnn_onnx": "onnx-qnn"}


def is_aihub_perf(data) -> bool:
    return isinstance(data, dict) and ("precisions" in data or (
        isinstance(data.get("models"), list) and data["models"]
        and isinstance(data["models"][0], dict) and "performance_metrics" in data["models"][0]))


def load_yaml(path: Path, text: str):
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "well-formed YAML"
        raise ImportFileError(path, mark.line + 1 if mark else None,
                              f"YAML ({problem})") from None


def _aihub_format(runtime: str, precision: str) -> str:
    base = _AIHUB_FORMATS.get(runtime, runtime)
    quantized = precision.lower() not in ("float", "fp16", "fp32", "")
    return f"{base}-{precision.lower()}" if quantized else base


def _aihub_cell(path: Path, where: str, name: str, runtime: str, precision: str,
                device: DeviceInfo, perf: dict, time_ms, memory_kb: tuple | None,
                layers: dict | None) -> ImportedCell:
    if not isinstance(perf, dict):
        raise ImportFileError(path, None, f"a mapping of AI Hub's figures at {where}")
    unit = perf.get("primary_compute_unit") or ""
    base = dict(model=name, format=_aihub_format(runtime, precision), device=device,
                runtime=runtime, backend=unit.lower(), precision=precision,
                versions={k: str(v) for k, v in (perf.get("tool_versions") or {}).items() if v},
                details={"aihub": {k: v for k, v in perf.items() if k != "tool_versions"}})
    status = str(perf.get("job_status") or "Passed")
    if time_ms is None or status.lower() not in ("passed", "success", "succeeded"):
        return ImportedCell(**base, status="run_failed",
                            reason=f"AI Hub's profile job {perf.get('job_id') or ''} "
                                   f"{status.lower()}".replace("  ", " "))
    delegation = None
    if layers and layers.get("total"):
        accelerated = int(layers.get("npu", 0)) + int(layers.get("gpu", 0))
        delegation = {"backend": unit or "NPU/GPU", "delegated_nodes": accelerated,
                      "total_nodes": int(layers["total"])}
    return ImportedCell(
        **base, samples_ms=(_number(path, f"{where} inference time", time_ms),),
        samples_are="AI Hub's one inference time of the profile job",
        peak_inference_kb=memory_kb[1] if memory_kb else None, delegation=delegation)


def read_aihub(path: Path, data: dict) -> list[ImportedCell]:
    cells = []
    if "precisions" in data:
        for precision, details in sorted((data.get("precisions") or {}).items()):
            for name, component in sorted(((details or {}).get("components") or {}).items()):
                for device_name, runtimes in sorted(
                        ((component or {}).get("performance_metrics") or {}).items()):
                    device = _device(device_name)
                    for runtime, perf in sorted((runtimes or {}).items()):
                        where = f"precisions.{precision}.components.{name}.{device_name}.{runtime}"
                        memory = (perf or {}).get("estimated_peak_memory_range_mb")
                        cells.append(_aihub_cell(
                            path, where, name, runtime, str(precision), device, perf,
                            (perf or {}).get("inference_time_milliseconds"),
                            (int(memory["min"] * 1024), int(memory["max"] * 1024))
                            if memory else None, (perf or {}).get("layer_counts")))
        return cells
    for i, model in enumerate(data["models"]):
        name = model.get("name") or f"model {i + 1}"
        for j, entry in enumerate(model.get("performance_metrics") or []):
            info = entry.get("reference_device_info") or {}
            device = _device(info.get("name", ""), info.get("os_name", ""), info.get("chipset", ""))
            if not device.device_id:
                raise ImportFileError(path, None, f"models[{i}].performance_metrics[{j}]."
                                      "reference_device_info.name")
            for runtime, perf in sorted(entry.items()):
                if runtime in ("reference_device_info", "timestamp") or not isinstance(perf, dict):
                    continue
                time_us = perf.get("inference_time")
                if time_us == "null":
                    time_us = None
                memory = perf.get("estimated_peak_memory_range")
                layers = perf.get("layer_info") or {}
                cells.append(_aihub_cell(
                    path, f"models[{i}].{runtime}", name, runtime,
                    str(perf.get("precision") or "float"), device, perf,
                    time_us / 1000.0 if isinstance(time_us, (int, float)) else time_us,
                    (int(memory["min"] // 1024), int(memory["max"] // 1024)) if memory else None,
                    {"total": layers.get("total_layers", 0), "npu": layers.get("layers_on_npu", 0),
                     "gpu": layers.get("layers_on_gpu", 0), "cpu": layers.get("layers_on_cpu", 0)}))
    return cells
