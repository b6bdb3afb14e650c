"""The PyTorch benchmark database's v3 records, in and out (pytorch/pytorch wiki "How to integrate
with PyTorch OSS benchmark database"; the table is test-infra's clickhouse_db_schema/
benchmark.oss_ci_benchmark_v3/schema.sql, the uploader .github/scripts/upload_benchmark_results.py).

A record: `{"benchmark": {"name", "mode", "dtype", "extra_info"}, "model": {"name", "type",
"backend", "origins", "extra_info"}, "metric": {"name", "benchmark_values": [...],
"target_value", "extra_info"}, "runners": [{"name", "type", "cpu_info", "cpu_count",
"avail_mem_in_gb", ..., "extra_info"}]}`. In the table every `extra_info` is a Map(String,
String), `benchmark_values` Array(Float32), `target_value` Float32, the runner's counts and
memory UInt32: the export writes exactly those types. A file holds one record, a list of them,
or one record (or list) per line, as the uploader reads it (json_text.load_json).

`model.backend` is the delegate or benchmark configuration (`xnnpack_q8`, `coreml_fp16`): read
for the format (harness.results_io.executorch_app.executorch_format) and the precision (int8 for
q8 configurations; "unknown" where nothing says), and written as the delegate the artifact was
built for; the harness's own format name travels in `model.extra_info["format"]`.

Metrics read: `avg_inference_latency(ms)` (several values: samples, as the export writes every
timed sample; one value: the tool's mean, kept as its summary, as ExecuTorch's CI writes one),
`model_load_time(ms)`, `first_inference_latency(ms)`, `peak_inference_mem_usage(mb)` and
`peak_load_mem_usage(mb)` (memory alone is a measured memory cell, not a failure),
`trimmean_inference_latency(ms)`, and `FAILURE_REPORT` (a failed cell). Records of other
metrics (`compile_time_instruction_count`, `token_per_sec`) are named in the cells' details;
a file of only those stores nothing and says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from device_runners.contract import DeviceInfo
from harness.results_io.cells import EVERY_ITERATION, UNKNOWN, ImportedCell, ImportFileError, precision_of
from harness.results_io.executorch_app import (
    LATENCY,
    LOAD,
    PEAK_INFERENCE,
    PEAK_LOAD,
    TRIMMED,
    executorch_format,
    mb_to_kib,
    named_device,
    number,
)

FAILURE = "FAILURE_REPORT"
FIRST = "first_inference_latency(ms)"
# A summary's statistic -> the metric it is written as (and read back from).
SUMMARY_METRICS = {"mean": LATENCY, "median": "median_inference_latency(ms)",
                   "figure": "inference_time(ms)"}
READ = {LATENCY, LOAD, FIRST, PEAK_INFERENCE, PEAK_LOAD, TRIMMED, FAILURE,
        *SUMMARY_METRICS.values(), "p90_inference_latency(ms)"}


def is_v3_records(data) -> bool:
    rows = data if isinstance(data, list) else [data]
    return bool(rows) and isinstance(rows[0], dict) and {"benchmark", "model", "metric"} <= set(rows[0])


def _text(value) -> str:
    """An extra_info value as the text the table holds it as (files put numbers there too)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _device(runner: dict, ours: bool, fallback: DeviceInfo) -> DeviceInfo:
    """The runner a record names: ours keep the device's own fields in extra_info."""
    extra = {k: _text(v) for k, v in (runner.get("extra_info") or {}).items()}
    if ours and extra.get("device_id"):
        count = str(runner.get("cpu_count") or extra.get("cpu_count") or "0")
        return DeviceInfo(device_id=extra["device_id"], platform=extra.get("platform") or "unknown",
                          product_model=runner.get("name") or "", soc=extra.get("soc") or "",
                          cpu=runner.get("cpu_info") or "", os_version=extra.get("os_version") or "",
                          cpu_count=int(count) if count.isdigit() else 0,
                          kind=extra.get("kind") or extra.get("platform") or "imported")
    device = named_device(runner.get("name") or "", runner.get("type") or "",
                          runner.get("cpu_info") or "", fallback)
    count = runner.get("cpu_count")
    if isinstance(count, int) and count > 0 and device is not fallback:
        device = DeviceInfo(**{**device.__dict__, "cpu_count": count})
    return device


def read_v3(path: Path, data, device: DeviceInfo) -> list[ImportedCell]:
    rows = data if isinstance(data, list) else [data]
    cells: dict[tuple, dict] = {}
    other_metrics: set[str] = set()
    for i, record in enumerate(rows):
        where = f"record {i + 1}"
        try:
            bench, model, metric = record["benchmark"], record["model"], record["metric"]
            name, metric_name = model["name"], metric["name"]
            values = metric["benchmark_values"]
        except (KeyError, TypeError):
            raise ImportFileError(path, None, f"{where} to hold benchmark, model.name, "
                                  "metric.name and metric.benchmark_values (v3 records)") from None
        if metric_name not in READ:
            other_metrics.add(metric_name)
            continue
        values = [number(path, f"{where} metric.benchmark_values", v)
                  for v in (values if isinstance(values, list) else [values])]
        origin = bench.get("name") or ""
        ours = origin == "harness"
        extra = {k: _text(v) for k, v in (bench.get("extra_info") or {}).items()}
        model_extra = {k: _text(v) for k, v in (model.get("extra_info") or {}).items()}
        backend = model.get("backend") or ""
        cell_device = _device((record.get("runners") or [{}])[0] or {}, ours, device)
        threads = str(extra.get("threads") or "")
        fmt = (model_extra.get("format") if ours else None) or executorch_format(backend, "")
        cell = cells.setdefault((name, fmt, backend, cell_device.device_id), dict(
            model=name, device=cell_device, format=fmt,
            runtime=extra.get("runtime") or ("executorch" if origin == "ExecuTorch" else UNKNOWN),
            backend=backend,
            precision=(extra.get("precision") if ours else None)
            or precision_of(backend, bench.get("dtype") or ""),
            threads=int(threads) if ours and threads.isdigit() else None,
            details={"benchmark": origin, "metrics": {}}))
        _metric(cell, metric_name, values, metric.get("extra_info") or {}, origin, ours, extra,
                path, where)
    out = [_finish(cell, other_metrics) for cell in cells.values()]
    if not out:
        raise ImportFileError(path, None, "v3 records of a metric the harness reads ("
                              + ", ".join(sorted(READ - {FAILURE})) + "); this file holds "
                              + ", ".join(sorted(other_metrics)))
    return out


def _summary(path: Path, text, where: str) -> dict:
    """The tool's summary a harness export keeps as JSON text, checked like the file itself."""
    from harness.data_shape import ShapeProblem, check_shape
    from harness.results_io.schemas import check_tool_data

    try:
        summary = json.loads(text) if isinstance(text, str) else text
        check_shape(summary, max_values=1000)
    except (ValueError, RecursionError, ShapeProblem):
        raise ImportFileError(path, None, "JSON text of the tool's summary",
                              at=f"{where} metric.extra_info.tool_summary") from None
    check_tool_data(path, "tool_summary", summary, at=f"{where} metric.extra_info.tool_summary")
    return summary


def _metric(cell: dict, name: str, values: list[float], extra: dict, origin: str, ours: bool,
            bench_extra: dict, path: Path, where: str) -> None:
    cell["details"]["metrics"][name] = values if len(values) <= 20 else f"{len(values)} values"
    if name == FAILURE:
        job = bench_extra.get("job_conclusion") or bench_extra.get("failure_level") or "failure"
        cell.update(status="run_failed", reason=extra.get("reason")
                    or f"a FAILURE_REPORT record ({job})")
    elif ours and extra.get("tool_summary"):
        cell["summary"] = _summary(path, extra["tool_summary"], where)  # the exact figures exported
        cell["samples_are"] = cell["summary"].get("note") or "none: another tool's summary"
    elif name == LATENCY and len(values) > 1:
        cell["samples_ms"] = tuple(values)
        cell["samples_are"] = EVERY_ITERATION
    elif name == LATENCY and values and not cell.get("summary"):
        cell["summary"] = {"tool": origin or "v3 record", "statistic": "mean", "value_ms": values[0],
                           "mean_ms": values[0], "note": "the one avg_inference_latency(ms) value "
                                                         "of the record, a mean"}
        cell["samples_are"] = "none: the record holds a mean"
    elif name == TRIMMED and values:
        cell["details"]["trimmed_mean_ms"] = values[0]
    elif name == LOAD and values:
        cell["load_ms"] = values[0]
    elif name == FIRST and values:
        cell["first_inference_ms"] = values[0]
    elif name == PEAK_INFERENCE and values:
        cell["peak_inference_kb"] = int(extra["kib"]) if ours and extra.get("kib") else mb_to_kib(values[0])
    elif name == PEAK_LOAD and values:
        cell["peak_load_kb"] = int(extra["kib"]) if ours and extra.get("kib") else mb_to_kib(values[0])


def _finish(cell: dict, other_metrics: set[str]) -> ImportedCell:
    if other_metrics:
        cell["details"]["metrics_not_read"] = sorted(other_metrics)
    if "trimmed_mean_ms" in cell["details"] and cell.get("summary"):
        cell["summary"].setdefault("other_ms", {})["trimmed mean"] = cell["details"]["trimmed_mean_ms"]
    imported = ImportedCell(**cell)
    if imported.status == "ok" and not imported.measured:
        return ImportedCell(**{**cell, "status": "run_failed",
                               "reason": f"no {LATENCY} and no memory record for this cell"})
    return imported


# ----------------------------------------------------------------------------------------------
# Out: stored records as v3 records


def _strings(mapping: dict) -> dict[str, str]:
    """extra_info as the table holds it, Map(String, String): no nulls, numbers as text, lists
    and objects as JSON text."""
    out = {}
    for key, value in mapping.items():
        if value is None:
            continue
        out[str(key)] = value if isinstance(value, str) else json.dumps(value, sort_keys=True) \
            if isinstance(value, (list, dict, bool)) else repr(value) if isinstance(value, float) \
            else str(value)
    return out


def runner_type(platform: str, os_version: str) -> str:
    """`iOS 17.5.1`, `Android 14`: the OS as ExecuTorch's records name it, never a platform
    prefixed to an OS version that already names it."""
    if os_version and not os_version[:1].isdigit():
        return os_version
    return " ".join(x for x in (platform, os_version) if x)


def runner(device: DeviceInfo | None, info: dict, device_id: str) -> dict:
    get = (lambda k: getattr(device, k)) if device is not None else (lambda k: info.get(k) or "")
    count = get("cpu_count") or 0
    return {
        "name": get("product_model") or device_id, "type": runner_type(get("platform"), get("os_version")),
        "cpu_info": get("cpu") or get("soc") or "", "cpu_count": int(count),
        "mem_info": "", "avail_mem_in_gb": 0, "total_mem_in_gb": 0,
        "gpu_info": "", "gpu_count": 0, "gpu_mem_info": "", "avail_gpu_mem_in_gb": 0,
        "extra_info": _strings({"device_id": device_id, "platform": get("platform"),
                                "os_version": get("os_version"), "soc": get("soc"),
                                "kind": get("kind"), "cpu_count": count}),
    }


def record(*, model: str, fmt: str, backend: str, precision: str, origin: str, bench_extra: dict,
           model_extra: dict, metric: str, values: list[float], metric_extra: dict,
           runner_row: dict) -> dict:
    return {
        "benchmark": {"name": "harness", "mode": "inference",
                      "dtype": precision if precision != UNKNOWN else "",
                      "extra_info": _strings(bench_extra)},
        "model": {"name": model, "type": "vision backbone", "backend": backend,
                  "origins": [origin] if origin else [],
                  "extra_info": _strings({"format": fmt, **model_extra})},
        "metric": {"name": metric, "benchmark_values": [float(v) for v in values],
                   "target_value": 0, "extra_info": _strings(metric_extra)},
        "runners": [runner_row],
    }
