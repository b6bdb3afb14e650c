"""Qualcomm AI Hub's `perf.yaml` (qai_hub_models, `QAIHMModelPerf`; quic/ai-hub-models
qai_hub_models/models/*/perf.yaml).

    precisions: {float|w8a8|w8a16|...: {components: {NAME: {universal_assets: {...},
      performance_metrics: {DEVICE: {RUNTIME: {job_id, job_status, inference_time_milliseconds,
        estimated_peak_memory_range_mb: {min, max}, primary_compute_unit,
        layer_counts: {total, npu, gpu, cpu}, tool_versions}}}}}}}

and the older layout, `models: [{name, performance_metrics: [{<runtime>: {inference_time (µs),
estimated_peak_memory_range (bytes), primary_compute_unit, precision, layer_info},
reference_device_info: {name, os_name, chipset}}]}]`.

The inference time is AI Hub's one figure per profile job: the cell keeps it as AI Hub's figure
and has no samples. The memory range is AI Hub's estimate; its upper end is the cell's peak, and
a 0-0 range (AI Hub's "not measured") is no figure. The file says nothing of threads or CPUs:
those stay unknown. A device's platform comes from AI Hub's own device table
(aihub_devices.yaml beside this file): Samsung and other Android phones are android, the
Snapdragon X laptops windows, the Dragonwing kits linux.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from device_runners.contract import DeviceInfo
from harness.results_io.cells import ImportedCell, ImportFileError, precision_of
from harness.results_io.executorch_app import number

DEVICES = Path(__file__).with_name("aihub_devices.yaml")
# AI Hub's profile paths (runtimes) as format names; its precision picks the quantized variant.
_FORMATS = {"tflite": "tflite", "torchscript_onnx_tflite": "tflite", "onnx": "onnx",
            "torchscript_onnx": "onnx", "qnn": "qnn", "qnn_dlc": "qnn",
            "qnn_context_binary": "qnn", "torchscript_onnx_qnn": "qnn",
            "precompiled_qnn_onnx": "onnx-qnn"}
_PLATFORMS = {"android": "android", "windows": "windows", "qualcomm linux": "linux",
              "linux": "linux", "ios": "ios"}


def is_aihub_perf(data) -> bool:
    return isinstance(data, dict) and ("precisions" in data or (
        isinstance(data.get("models"), list) and data["models"]
        and isinstance(data["models"][0], dict) and "performance_metrics" in data["models"][0]))


@lru_cache(maxsize=1)
def device_table() -> dict[str, dict]:
    import yaml

    return yaml.safe_load(DEVICES.read_text())["devices"]


def aihub_device(name: str, os_name: str = "", chipset: str = "") -> DeviceInfo:
    """A device AI Hub names, with the platform its table (or the file) gives; else unknown."""
    known = device_table().get(name) or {}
    os_text = os_name or known.get("os") or ""
    platform = _PLATFORMS.get(os_text.lower(), "unknown")
    version = f"{os_text} {known['os_version']}" if known.get("os_version") and not os_name else os_text
    return DeviceInfo(device_id=name, platform=platform, product_model=name,
                      soc=chipset or known.get("chipset") or "", os_version=version,
                      kind=platform if platform != "unknown" else "imported")


def _format(runtime: str, precision: str) -> str:
    base = _FORMATS.get(runtime, runtime)
    quantized = precision.lower() not in ("float", "fp16", "fp32", "")
    return f"{base}-{precision.lower()}" if quantized else base


def _cell(path: Path, where: str, name: str, runtime: str, precision: str, device: DeviceInfo,
          perf: dict, time_ms, memory_mb: tuple | None, layers: dict | None) -> ImportedCell:
    if not isinstance(perf, dict):
        raise ImportFileError(path, None, f"a mapping of AI Hub's figures at {where}")
    unit = perf.get("primary_compute_unit") or ""
    base = dict(model=name, format=_format(runtime, precision), device=device,
                runtime=runtime, backend=unit.lower(), precision=precision_of(precision),
                versions={k: str(v) for k, v in (perf.get("tool_versions") or {}).items() if v},
                details={"aihub": {k: v for k, v in perf.items() if k != "tool_versions"},
                         "precision": precision})
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
    figure = number(path, f"{where} inference time", time_ms)
    peak = None
    if memory_mb and memory_mb[1] and memory_mb[1] > 0:  # 0-0: AI Hub measured nothing
        peak = round(memory_mb[1] * 1024)
    return ImportedCell(
        **base, summary={"tool": "AI Hub", "statistic": "figure", "value_ms": figure,
                         "note": "AI Hub's one inference time of the profile job "
                                 f"{perf.get('job_id') or ''}".strip()},
        samples_are="none: AI Hub gives one figure per profile job",
        peak_inference_kb=peak, delegation=delegation)


def read_aihub(path: Path, data: dict) -> list[ImportedCell]:
    cells = []
    if "precisions" in data:
        for precision, details in sorted((data.get("precisions") or {}).items()):
            for name, component in sorted(((details or {}).get("components") or {}).items()):
                for device_name, runtimes in sorted(
                        ((component or {}).get("performance_metrics") or {}).items()):
                    device = aihub_device(device_name)
                    for runtime, perf in sorted((runtimes or {}).items()):
                        where = f"precisions.{precision}.components.{name}.{device_name}.{runtime}"
                        memory = (perf or {}).get("estimated_peak_memory_range_mb")
                        cells.append(_cell(
                            path, where, name, runtime, str(precision), device, perf,
                            (perf or {}).get("inference_time_milliseconds"),
                            (memory["min"], memory["max"]) if memory else None,
                            (perf or {}).get("layer_counts")))
        return cells
    for i, model in enumerate(data["models"]):
        name = model.get("name") or f"model {i + 1}"
        for j, entry in enumerate(model.get("performance_metrics") or []):
            info = entry.get("reference_device_info") or {}
            if not info.get("name"):
                raise ImportFileError(path, None, f"models[{i}].performance_metrics[{j}]."
                                      "reference_device_info.name")
            device = aihub_device(info["name"], info.get("os_name", ""), info.get("chipset", ""))
            for runtime, perf in sorted(entry.items()):
                if runtime in ("reference_device_info", "timestamp") or not isinstance(perf, dict):
                    continue
                time_us = perf.get("inference_time")
                if time_us == "null":
                    time_us = None
                memory = perf.get("estimated_peak_memory_range")
                layers = perf.get("layer_info") or {}
                cells.append(_cell(
                    path, f"models[{i}].{runtime}", name, runtime,
                    str(perf.get("precision") or "float"), device, perf,
                    time_us / 1000.0 if isinstance(time_us, (int, float)) else time_us,
                    (memory["min"] / 2**20, memory["max"] / 2**20) if memory else None,
                    {"total": layers.get("total_layers", 0), "npu": layers.get("layers_on_npu", 0),
                     "gpu": layers.get("layers_on_gpu", 0), "cpu": layers.get("layers_on_cpu", 0)}))
    return cells
