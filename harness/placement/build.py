"""One placement map per cell, from whichever sources its record holds.

The map (stored in the record's combined result as `context["placement"]`, in `result_json`:
no schema change) says, operator by operator or delegate partition by partition, which backend
or compute unit ran it, its share of the profiled time, and whether it was delegated:

    {"version": 1,
     "sources": ["etdump", "export"],        # what it was built from, most trusted first
     "rows": [{"operator": "cumsum.out",     # the runtime's own name
               "kind": "cumsum",             # ATen's name for it (harness.placement.kinds)
               "unit": "cpu",                # xnnpack, gpu, nnapi, npu, ane, ... or cpu: the
                                             # runtime's own kernels, outside any delegate
               "delegated": false,
               "count": 1,                   # calls per inference, or nodes where untimed
               "ms": 0.012, "share": 0.031}, # per profiled inference; None where untimed
              ...],                          # largest time first, then largest count
     "units": {"xnnpack": {"ms": 0.37, "share": 0.96, "count": 9}, "cpu": {...}},
     "ops": {"delegated": 7, "cpu": 1, "total": 8, "source": "export"},  # operator counts
     "cpu_fallback": {"cumsum": 1},          # kinds run outside any delegate, counted
     "total_ms": 0.39, "time_source": "etdump",
     "unknown": ["..."]}                     # what this map cannot say, and why

Sources, most trusted first: the runtime's own per-operator profile of the cell (ExecuTorch's
ETDump, benchmark_model's op profiling; `harness run --profile`), the runtime's own delegate
lines (benchmark_model's "Replacing N out of M node(s)"), Qualcomm AI Hub's `layer_counts` and
compute unit (imported), Core ML's compute plan (macOS only: harness.placement.coreml_plan),
and the export's delegation coverage (what the partitioner took: exact for ExecuTorch, whose
delegation is decided ahead of time; for LiteRT, XNNPACK's on this host). Nothing here imports
torch.
"""

from __future__ import annotations

import dataclasses

from device_runners.host.runtimes import COREML_COMPUTE_UNITS
from harness.placement.kinds import kind_of

KEY = "placement"
VERSION = 1
CPU = "cpu"

# Rows of a profile that are a delegate's own time, not an operator of the model.
_BOOKKEEPING = {"delegate call overhead", "delegate call (operators not reported)"}
# Export coverage is the runtime's placement only for the delegate it was computed for: the
# host's XNNPACK for LiteRT, the partitioner's for ExecuTorch.
_CPU_BACKENDS = {"", "xnnpack", "cpu", "portable"}
NO_PROFILE = "time shares: no operator profile of this cell (`harness run --profile` takes one)"
COREML_UNITS = ("Core ML picks the compute unit (CPU, GPU, Neural Engine) of each operation "
                "when the model loads on the device; only its compute plan (MLComputePlan, "
                "macOS 14.4+ / iOS 17.4+) says which, and this record has none")


def _profile_rows(profile: dict) -> list[dict]:
    rows = []
    for op in profile.get("ops") or ():
        delegate = (op.get("delegate") or "").lower()
        name = op["operator"]
        # A delegate that reports no operators is one row per partition, named after its kernel
        # (TfLiteGpuDelegateV2): a partition, not an operator kind.
        partition = name in _BOOKKEEPING or (bool(delegate) and "delegate" in name.lower())
        rows.append({"operator": name, "kind": "" if partition else kind_of(name),
                     "unit": delegate or CPU, "delegated": bool(delegate),
                     "count": int(op.get("count") or 0), "ms": float(op.get("total_ms") or 0.0)})
    return rows


def _export_rows(delegation: dict) -> list[dict]:
    """Untimed rows from the export's coverage: the delegated nodes as one row, and every
    operator left outside the delegate."""
    backend = (delegation.get("backend") or "delegate").lower()
    rows = []
    if delegation.get("delegated_nodes"):
        rows.append({"operator": f"{delegation.get('delegate_calls') or ''} {backend} partition"
                                 f"{'s' if (delegation.get('delegate_calls') or 1) > 1 else ''}".strip(),
                     "kind": "", "unit": backend, "delegated": True,
                     "count": int(delegation["delegated_nodes"]), "ms": None})
    for op, n in sorted((delegation.get("not_delegated_ops") or {}).items()):
        if op == "getitem":  # the tuple access of a delegate's outputs: no work
            continue
        rows.append({"operator": op, "kind": kind_of(op), "unit": CPU, "delegated": False,
                     "count": int(n), "ms": None})
    return rows


def _counts_from_export(delegation: dict) -> dict | None:
    if delegation.get("total_nodes") is None:
        return None
    left = {op: n for op, n in (delegation.get("not_delegated_ops") or {}).items() if op != "getitem"}
    if "not_delegated_ops" in delegation:
        cpu = sum(left.values())
        delegated = int(delegation.get("delegated_nodes") or 0)
        return {"delegated": delegated, "cpu": cpu, "total": delegated + cpu, "source": "export"}
    delegated, total = int(delegation.get("delegated_nodes") or 0), int(delegation["total_nodes"])
    return {"delegated": delegated, "cpu": total - delegated, "total": total, "source": "export"}


def _kinds(rows: list[dict], delegated: bool) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in rows:
        if row["delegated"] == delegated and row["kind"]:
            out[row["kind"]] = out.get(row["kind"], 0) + row["count"]
    return dict(sorted(out.items()))


@dataclasses.dataclass
class _Sources:
    """What a record holds that says where its operators ran."""

    runtime: str
    backend: str
    profile: dict | None
    delegation: dict | None
    replaced: list[dict]
    delegate_lines: list[dict]  # benchmark_model's "applied ... completely / partially" lines
    aihub: dict | None
    coreml_plan: dict | None
    no_profile: str  # why the profiling trial gave no operators, "" when none was asked for
    imported: str  # the tool whose file the record was imported from, "" for a measured one

    @classmethod
    def of(cls, record) -> _Sources:
        artifact = record.artifact or {}
        res = record.result
        context = res.context if res is not None else {}
        details = artifact.get("details") or {}
        imported = context.get("imported") or {}
        tool = context.get("benchmark_model") or imported.get("benchmark_model") or {}
        profile = context.get("operator_profile")
        delegation = details.get("delegation")
        if imported and (imported.get("aihub") or tool):
            delegation = None  # the importer's copy of the same counts, not an export's
        return cls(runtime=(artifact.get("runtime") or (res.runtime if res else "") or "").lower(),
                   backend=((res.backend if res else "") or artifact.get("backend") or "").lower(),
                   profile=profile if profile and profile.get("ops") else None,
                   delegation=delegation, replaced=list(tool.get("replaced") or ()),
                   delegate_lines=list(tool.get("delegates") or ()),
                   aihub=imported.get("aihub"), coreml_plan=context.get("coreml_compute_plan"),
                   no_profile=(profile or {}).get("unavailable") or "",
                   imported=imported.get("tool") or "")


def build_placement(record) -> dict | None:
    """The placement map of a record (module docstring), or None for a record that holds
    nothing about where its operators ran (a failed export, a format without a graph)."""
    src = _Sources.of(record)
    sources: list[str] = []
    rows: list[dict] = []
    counts = None
    unknown: list[str] = []
    profile = src.profile
    if profile:
        sources.append(profile.get("source") or "profile")
        rows = _profile_rows(profile)
    if src.replaced:
        entry = next((e for e in src.replaced if e.get("total_nodes")), None)
        if entry:
            sources.append("benchmark_model delegate lines")
            counts = {"delegated": int(entry["nodes"]), "cpu": int(entry["total_nodes"]) - int(entry["nodes"]),
                      "total": int(entry["total_nodes"]), "source": "benchmark_model"}
    if src.delegate_lines:
        sources.append("benchmark_model delegate lines")
    if src.aihub:
        built = _aihub(src.aihub)
        if built is not None:
            sources.append("AI Hub")
            counts = counts or built["ops"]
            rows = rows or built["rows"]
            unknown.append("time shares: AI Hub gives layers per compute unit, not their times")
    if src.coreml_plan:
        if src.coreml_plan.get("rows"):
            sources.append("Core ML compute plan")
            rows = rows or [{k: v for k, v in r.items() if k != "estimated_share"}
                            for r in src.coreml_plan["rows"]]
            unknown.append("time shares: Core ML's compute plan estimates each operation's "
                           "share of the work; it measures nothing")
        else:
            unknown.append(f"compute units: {src.coreml_plan.get('unavailable') or COREML_UNITS}")
    elif src.runtime == "coreml" or "core ml" in ((src.delegation or {}).get("backend") or "").lower():
        unknown.append(f"compute units: {COREML_UNITS}")
    exported = src.delegation if src.delegation and src.delegation.get("total_nodes") is not None else None
    if exported and (src.runtime != "litert" or src.backend in _CPU_BACKENDS):
        sources.append("export")
        counts = counts or _counts_from_export(exported)
        if not rows:
            rows = _export_rows(exported)
    elif exported:
        unknown.append(f"the export's coverage is XNNPACK's on the host, not the {src.backend} "
                       "delegate's: only the runtime can say what that delegate took")
    if not sources and not (src.runtime == "coreml" and unknown):
        return None  # a Core ML cell still says what cannot be known about it
    timed = [r for r in rows if r["ms"] is not None]
    total_ms = round(sum(r["ms"] for r in timed), 6) if timed else None
    for row in rows:
        row["share"] = (round(row["ms"] / total_ms, 6) if total_ms and row["ms"] is not None else None)
        if row["ms"] is not None:
            row["ms"] = round(row["ms"], 6)
    rows.sort(key=lambda r: (-(r["ms"] or 0.0), -r["count"], r["operator"]))
    if total_ms is None and not any("time shares" in u for u in unknown):
        unknown.append(f"time shares: {src.no_profile}" if src.no_profile
                       else f"time shares: the imported {src.imported} holds no per-operator times"
                       if src.imported else NO_PROFILE)
    if counts is None and rows and all(r["ms"] is not None for r in rows):
        # Only the profile: calls per inference stand in for operators (a delegate's own
        # bookkeeping is no operator of the model).
        ops = [r for r in rows if r["kind"]]
        delegated = sum(r["count"] for r in ops if r["delegated"])
        cpu = sum(r["count"] for r in ops if not r["delegated"])
        counts = {"delegated": delegated, "cpu": cpu, "total": delegated + cpu,
                  "source": rows and sources[0]}
    if counts is None:
        unknown.append("operator counts: no source gives them")
    placement = {
        "version": VERSION, "sources": sources, "rows": rows, "units": _units(rows, total_ms),
        "ops": counts, "cpu_fallback": _kinds([r for r in rows if r["unit"] == CPU], False),
        "total_ms": total_ms, "time_source": sources[0] if total_ms is not None else None,
        "unknown": unknown,
    }
    if profile and profile.get("reference_ms") is not None:
        placement["reference_ms"] = profile["reference_ms"]
    if src.delegate_lines:  # what the runtime said it applied: "partial" means a CPU remainder
        placement["delegate_lines"] = [{k: e.get(k) for k in ("delegate", "graph", "kernels")}
                                       for e in src.delegate_lines]
    return placement


def _units(rows: list[dict], total_ms: float | None) -> dict[str, dict]:
    units: dict[str, dict] = {}
    for row in rows:
        unit = units.setdefault(row["unit"], {"ms": None, "share": None, "count": 0,
                                              "delegated": row["delegated"]})
        unit["count"] += row["count"]
        if row["ms"] is not None:
            unit["ms"] = round((unit["ms"] or 0.0) + row["ms"], 6)
    for unit in units.values():
        if total_ms and unit["ms"] is not None:
            unit["share"] = round(unit["ms"] / total_ms, 6)
    return dict(sorted(units.items(), key=lambda kv: (-(kv[1]["ms"] or 0.0), -kv[1]["count"])))


def _aihub(perf: dict) -> dict | None:
    """AI Hub's `layer_counts` ({total, npu, gpu, cpu}) as untimed rows, one per compute unit."""
    layers = perf.get("layer_counts") or {}
    if not layers.get("total"):
        return None
    rows = [{"operator": f"{unit.upper()} layers", "kind": "", "unit": unit,
             "delegated": unit != CPU, "count": int(layers.get(unit) or 0), "ms": None}
            for unit in ("npu", "gpu", "cpu") if layers.get(unit)]
    accelerated = int(layers.get("npu") or 0) + int(layers.get("gpu") or 0)
    cpu = int(layers.get("cpu") or 0)
    return {"rows": rows, "ops": {"delegated": accelerated, "cpu": cpu,
                                  "total": int(layers["total"]), "source": "AI Hub"}}


def with_placement(record):
    """The record with its placement map stored in its combined result's context (unchanged
    when it has no result or nothing says where its operators ran). A Core ML cell asks Core
    ML's compute plan first (harness.placement.coreml_plan; on macOS only)."""
    if record.result is None:
        return record
    artifact = record.artifact or {}
    if artifact.get("runtime") == "coreml" and artifact.get("path") and record.status == "ok" \
            and "coreml_compute_plan" not in record.result.context:
        from harness.placement.coreml_plan import compute_plan

        backend = (record.result.backend or "").lower()
        units = backend.partition(":")[2] or (backend if backend in COREML_COMPUTE_UNITS else "all")
        plan = compute_plan(artifact["path"], units)
        result = dataclasses.replace(record.result, context={**record.result.context,
                                                             "coreml_compute_plan": plan})
        record = dataclasses.replace(record, result=result)
    placement = build_placement(record)
    if placement is None:
        return record
    result = dataclasses.replace(record.result, context={**record.result.context, KEY: placement})
    return dataclasses.replace(record, result=result)


def placement_of(record) -> dict | None:
    """The placement map stored with a record, or one built now from what it holds (a record
    stored before maps were: it says so in its `sources`)."""
    res = record.result
    stored = res.context.get(KEY) if res is not None else None
    if stored:
        return stored
    built = build_placement(record)
    if built is not None:
        built["built_when_read"] = True
    return built
