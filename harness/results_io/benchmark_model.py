"""TFLite's and LiteRT's `benchmark_model` logs (google-ai-edge/LiteRT `tflite/tools/benchmark`
and `litert/tools`; docs/results-io.md lists the versions read).

The log is parsed by the Android runner's parser (device_runners.android.litert_benchmark), which
knows every version's lines. The tool prints statistics of its runs, never the runs, so the cell
has no samples: it carries the timed phase's `count=` line as benchmark_model's own summary
(count, mean, std, min, max, first, curr, and p5/median/p95 where printed), labelled as the
tool's. Its memory lines fill the memory figures: the `init=` footprint (MB above the tool's own
at start, after loading the model) is the load's, the periodic peak when printed (else the
`overall=` footprint) the inference's; which one is in the cell's details.

What delegated the graph is read from what the log says happened: `Replacing N out of M
node(s) with delegate (TfLiteXNNPackDelegate)` (recent versions print only this for the
default XNNPACK delegate), `Explicitly applied XNNPACK delegate, and the model graph will be
completely executed ...`, and only failing both, the `Use xnnpack: [1]` parameter.
"""

from __future__ import annotations

import re
from pathlib import Path

from device_runners.android.litert_benchmark import (
    parse_benchmark_output,
    strip_prefixes,
    tool_summary,
    us_to_ms,
)
from device_runners.contract import DeviceInfo
from harness.results_io.cells import ImportedCell, ImportFileError

_PARAM = re.compile(r"^(?P<name>[A-Za-z#][\w #]*?)\s*: \[(?P<value>[^\]]*)\]$")
# The delegate kernels' names in `Replacing ... with delegate (NAME)` as backend names.
_KERNELS = {"tflitexnnpackdelegate": "xnnpack", "tflitegpudelegatev2": "gpu",
            "tflitegpudelegate": "gpu", "litert_cl": "gpu", "tflitenndelegate": "nnapi",
            "tflitennapidelegate": "nnapi", "tflitehexagondelegate": "hexagon",
            "tflitecoremldelegate": "coreml"}
# benchmark_model's flags, in the order it applies the delegates.
_FLAGS = (("Use gpu", "gpu"), ("Use NNAPI", "nnapi"), ("Use nnapi", "nnapi"),
          ("Use hexagon", "hexagon"), ("Use Hexagon", "hexagon"), ("Use xnnpack", "xnnpack"))


def is_benchmark_model_log(text: str) -> bool:
    return "Inference timings in us" in text or "Running benchmark for at least" in text \
        or ("Graph: [" in text and "benchmark" in text.lower())


def parameters(text: str) -> dict[str, str]:
    """The `Name: [value]` parameter lines benchmark_model prints (only those set, recently)."""
    params = {}
    for raw in text.splitlines():
        _, line = strip_prefixes(raw)
        if match := _PARAM.match(line):
            params[match["name"].strip()] = match["value"].strip()
    return params


def _delegation(report, params: dict) -> tuple[str, dict | None]:
    """(backend, artifact delegation {"backend", "delegated_nodes", "total_nodes"} or None)."""
    for entry in report.replaced:  # what the interpreter did, node by node
        backend = _KERNELS.get(entry["kernel"].lower(), entry["kernel"].lower())
        if entry["total_nodes"]:
            return backend, {"backend": backend, "delegated_nodes": entry["nodes"],
                             "total_nodes": entry["total_nodes"]}
        return backend, None
    for entry in report.delegates:  # the tool's own sentence about the delegate it applied
        if entry["graph"] != "none":
            return entry["delegate"].lower(), None
    for flag, backend in _FLAGS:
        if params.get(flag) in ("1", "true"):
            return backend, None
    if params.get("Use xnnpack") in ("0", "false"):
        return "cpu", None  # TFLite's built-in kernels, said so by the log
    return "", None


def _threads(params: dict) -> int | None:
    for name in ("Num threads", "#threads used for CPU inference"):
        value = params.get(name, "")
        if value.lstrip("-").isdigit() and int(value) > 0:
            return int(value)
    return None


def read_benchmark_model(path: Path, text: str, device: DeviceInfo,
                         model: str | None = None) -> list[ImportedCell]:
    """The one cell a benchmark_model log measured (or failed to)."""
    params = parameters(text)
    graph = params.get("Graph", "")
    name = model or (Path(graph).stem if graph else "") or path.stem
    report = parse_benchmark_output(text)
    backend, delegation = _delegation(report, params)
    details = {"benchmark_model": report.to_context(), "parameters": params}
    base = dict(model=name, format="tflite", device=device, runtime="litert", backend=backend,
                threads=_threads(params), details=details, delegation=delegation)
    if report.errors:
        return [ImportedCell(**base, status="run_failed", reason=report.failure())]
    summary = tool_summary(report)
    if summary is None or report.inference_avg_us is None:
        raise ImportFileError(path, None, "benchmark_model's `count=...` line of the timed runs "
                              "and its `Inference timings in us: ...` line (or LiteRT's "
                              "BENCHMARK RESULTS block)")
    peak = report.peak_memory_mb if report.peak_memory_mb is not None else report.footprint_overall_mb
    details["memory"] = ("load: the init= footprint; inference: "
                         + ("the periodic peak" if report.peak_memory_mb is not None
                            else "the overall= footprint")
                         + " (MB above the tool's own at its start, as benchmark_model prints)")
    return [ImportedCell(
        **base, summary=summary, samples_are=summary["note"],
        load_ms=us_to_ms(report.init_us), first_inference_ms=us_to_ms(report.first_inference_us),
        peak_load_kb=(round(report.footprint_init_mb * 1024)
                      if report.footprint_init_mb is not None else None),
        peak_inference_kb=round(peak * 1024) if peak is not None else None)]
