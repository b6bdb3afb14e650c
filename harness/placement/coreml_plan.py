"""Core ML's compute plan: the compute unit Core ML prefers for each operation of a model.

Core ML decides where each operation runs (CPU, GPU, Neural Engine) when the model is loaded on
the device, and tells only through `MLComputePlan` (macOS 14.4+ / iOS 17.4+), which coremltools
(8.0+) wraps as `coremltools.models.compute_plan.MLComputePlan.load_from_path(compiled model,
compute_units)`: per operation of an ML program, the preferred compute device and an estimated
share of the work (`weight`). That needs Core ML itself, so macOS; on Linux this module says
what cannot be known instead, and the placement map carries that sentence.

The macOS branch follows coremltools' documented API; it has never run on this project's Linux
machines (docs/placement.md says so).
"""

from __future__ import annotations

import sys

NOT_HERE = ("Core ML chooses a compute unit (CPU, GPU, Neural Engine) per operation when the "
            "model loads; only its compute plan (MLComputePlan, macOS 14.4+ / iOS 17.4+, through "
            "coremltools on a Mac) says which, and this host is {platform}: which operations run "
            "where cannot be known here")
# coremltools' compute device classes -> the placement map's units.
_UNITS = {"MLCPUComputeDevice": "cpu", "MLGPUComputeDevice": "gpu",
          "MLNeuralEngineComputeDevice": "ane"}


def compute_plan(mlpackage: str, compute_units: str = "all", platform: str | None = None) -> dict:
    """{"rows": [...]} in the placement map's shape (untimed; `estimated_share` from Core ML's
    cost weights), or {"unavailable": why}."""
    platform = platform or sys.platform
    if platform != "darwin":
        return {"unavailable": NOT_HERE.format(platform=platform)}
    try:
        import coremltools as ct
        from coremltools.models.compute_plan import MLComputePlan

        model = ct.models.MLModel(mlpackage, compute_units=getattr(ct.ComputeUnit, compute_units.upper()))
        plan = MLComputePlan.load_from_path(model.get_compiled_path(),
                                            getattr(ct.ComputeUnit, compute_units.upper()))
    except Exception as exc:  # noqa: BLE001 (an older macOS, a model Core ML cannot plan)
        return {"unavailable": f"Core ML's compute plan could not be read: {exc}"}
    program = plan.model_structure.program
    if program is None:
        return {"unavailable": "the model is not an ML program; its compute plan has no operations"}
    rows: dict[tuple[str, str], dict] = {}
    for operation in program.functions["main"].block.operations:
        usage = plan.get_compute_device_usage_for_mlprogram_operation(operation)
        cost = plan.get_estimated_cost_for_mlprogram_operation(operation)
        unit = _UNITS.get(type(usage.preferred_compute_device).__name__, "unknown") if usage else "unknown"
        key = (operation.operator_name, unit)
        row = rows.setdefault(key, {"operator": operation.operator_name, "kind": operation.operator_name,
                                    "unit": unit, "delegated": unit != "cpu", "count": 0, "ms": None,
                                    "estimated_share": 0.0})
        row["count"] += 1
        row["estimated_share"] += cost.weight if cost else 0.0
    return {"rows": sorted(rows.values(), key=lambda r: -r["estimated_share"]),
            "compute_units": compute_units}
