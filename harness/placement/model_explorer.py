"""Overlays for Google's Model Explorer: `harness show RUN --model-explorer OUT [--against RUN]`.

For each cell whose graph is known (harness.placement.graph_nodes), OUT gets the graph file
Model Explorer opens (the `.tflite` itself, or the `.pt2` of the ExecuTorch export's ATen
program) and node data files over it, in Model Explorer's node data format
(`{graph id: {"results": {node id: {"value": ...}}, "thresholds" | "gradient": ...}}`):

- `<cell>.latency.json`: ms per inference of each node, from the cell's operator profile
  (`--profile`; harness.placement.node_times);
- `<cell>.placement.json`: 1 for a node a delegate ran, 0 for one the runtime's own kernels ran
  on the CPU;
- `<cell>.numerics.json`: the per-layer SNR in dB of a failed int8 / fp16 check
  (harness.placement.layer_numerics), the layers below the floor in red;
- `<cell>.diff.json` (with `--against`): each node's ms in this run minus its ms in the other,
  a per-node diff of two runs, which Model Explorer itself does not offer
  (google-ai-edge/model-explorer#46).

`overlays.txt` lists, per cell, the `model-explorer` command that opens the graph with its node
data, what was left off the graph (XNNPACK's layout transposes, a delegate's overhead), and why a
cell has no overlay. Writing reads only the store and the artifact cache: no torch. Each file is
then read back into Model Explorer's own node data classes (`node_data_builder`), when the
`ai-edge-model-explorer` package is installed, and refused if they do not take it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from harness.placement.graph_nodes import read_table
from harness.placement.node_times import node_placement, node_times

DELEGATED, ON_CPU = 1, 0
GREEN, RED, AMBER, WHITE = "#b7e1cd", "#f4c7c3", "#fce8b2", "#ffffff"


@dataclass
class CellOverlay:
    """The overlay of one cell: its graph, node data by name, and lines about it."""

    stem: str
    graph_path: str = ""
    graph_id: str = ""
    data: dict[str, dict] = field(default_factory=dict)  # kind -> GraphNodeData as JSON
    lines: list[str] = field(default_factory=list)
    missing: str = ""  # why there is no overlay at all


def stem_of(record) -> str:
    label = "".join(c if c.isalnum() or c in "-_." else "-" for c in record.format)
    return f"{record.model}.{label}"


def _graph_data(name: str, results: dict[str, float | int], **style) -> dict:
    return {"name": name, "results": {k: {"value": round(v, 6) if isinstance(v, float) else v}
                                      for k, v in sorted(results.items())}, **style}


def _profile(record) -> dict | None:
    res = record.result
    profile = res.context.get("operator_profile") if res is not None else None
    return profile if profile and profile.get("ops") else None


def cell_overlay(record, other=None) -> CellOverlay:
    """The overlay of `record` (and its per-node diff against `other`, the same cell of
    another run)."""
    overlay = CellOverlay(stem_of(record))
    table, why = read_table(record.artifact or {})
    if table is None:
        overlay.missing = why
        return overlay
    overlay.graph_path, overlay.graph_id = table["graph_path"], table["graph_id"]
    label = f"{record.model} {record.format}"
    profile = _profile(record)
    times, unplaced = node_times(table, profile)
    if times:
        overlay.data["latency"] = _graph_data(
            f"{label}: ms per inference (run {record.run_id}, {profile['source']})", times,
            gradient=[{"stop": 0, "bgColor": WHITE}, {"stop": 1, "bgColor": "#e06666"}])
        off = ", ".join(f"{name} {ms:.4f} ms" for name, ms in sorted(unplaced.items(), key=lambda kv: -kv[1]))
        overlay.lines.append(f"latency: {len(times)} nodes timed, {sum(times.values()):.4f} ms"
                             + (f"; not on any node: {off}" if off else ""))
    else:
        overlay.lines.append("latency: no operator profile of this cell (`harness run --profile`)"
                             if profile is None else "latency: the profile names no graph node")
    placement = node_placement(table, profile)
    if placement:
        backends = sorted({b for b in placement.values() if b})
        overlay.data["placement"] = _graph_data(
            f"{label}: {DELEGATED} = delegated ({', '.join(backends) or 'none'}), {ON_CPU} = "
            "the runtime's own kernels on the CPU",
            {k: DELEGATED if b else ON_CPU for k, b in placement.items()},
            thresholds=[{"value": ON_CPU, "bgColor": RED}, {"value": DELEGATED, "bgColor": GREEN}])
        ops = {n["id"]: n["op"] for n in table["nodes"]}
        cpu = [f"{k} ({ops[k]})" if ops.get(k) and ops[k] != k else k
               for k, b in placement.items() if not b]
        overlay.lines.append(f"placement: {len(placement) - len(cpu)} of {len(placement)} nodes "
                             f"delegated; on the CPU: {', '.join(cpu) or 'none'}")
    layers = ((record.artifact or {}).get("details") or {}).get("layer_numerics") or {}
    nodes = {layer["node"]: layer["snr_db"] for layer in layers.get("layers") or () if layer.get("node")}
    if nodes:
        overlay.data["numerics"] = _graph_data(
            f"{label}: SNR dB per layer against eager ({layers['metric']}); below "
            f"{layers['floor_db']:g} dB in red", nodes,
            thresholds=[{"value": layers["floor_db"], "bgColor": RED},
                        {"value": 1000, "bgColor": GREEN}])
        overlay.lines.append(f"numerics: {layers['summary']}")
    if other is not None:
        _diff(overlay, record, times, other)
    return overlay


def _diff(overlay: CellOverlay, record, times: dict[str, float], other) -> None:
    other_table, why = read_table(other.artifact or {})
    theirs, _ = node_times(other_table, _profile(other)) if other_table else ({}, {})
    common = sorted(set(times) & set(theirs))
    if not common:
        overlay.lines.append(f"diff: nothing to compare with run {other.run_id}: "
                             + (why or "no node timed in both runs"))
        return
    delta = {k: times[k] - theirs[k] for k in common}
    overlay.data["diff"] = _graph_data(
        f"{other.model} {other.format}: ms in this run minus ms in run {other.run_id}", delta,
        thresholds=[{"value": -1e-4, "bgColor": GREEN}, {"value": 1e-4, "bgColor": WHITE},
                    {"value": 1e9, "bgColor": RED}])
    slower, faster = max(common, key=lambda k: delta[k]), min(common, key=lambda k: delta[k])
    same = (other.artifact or {}).get("sha256") == (record.artifact or {}).get("sha256")
    overlay.lines.append(f"diff against run {other.run_id}: {len(common)} nodes in both; most "
                         f"slower: {slower} {delta[slower]:+.4f} ms; most faster: {faster} "
                         f"{delta[faster]:+.4f} ms"
                         + ("" if same else "; the two artifacts differ: nodes matched by id"))


def check_node_data(path: Path) -> str | None:
    """None when Model Explorer's own node data classes (node_data_builder) take the file,
    else what they refuse; "not checked" when the package is not installed."""
    try:
        import dacite
        from model_explorer import node_data_builder as ndb
    except ImportError:
        return "not checked: the ai-edge-model-explorer package is not installed"
    try:
        data = json.loads(path.read_text())
        graphs = {gid: dacite.from_dict(ndb.GraphNodeData, value, config=dacite.Config(strict=True))
                  for gid, value in data.items()}
        ndb.ModelNodeData(graphsData=graphs).to_json_string()
    except Exception as exc:  # noqa: BLE001 (dacite's errors, bad JSON: not node data)
        return f"Model Explorer's node data classes refuse {path.name}: {exc}"
    return None


def write_overlays(records, out: Path, against: dict | None = None) -> list[str]:
    """Every cell's overlay into `out`; the lines `overlays.txt` holds (also returned)."""
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for record in records:
        overlay = cell_overlay(record, (against or {}).get((record.model, record.format)))
        head = f"{record.model} {record.format}"
        if overlay.missing:
            lines.append(f"{head}: no overlay: {overlay.missing}")
            continue
        graph = out / (overlay.stem + Path(overlay.graph_path).suffix)
        shutil.copyfile(overlay.graph_path, graph)
        paths = []
        for kind, data in overlay.data.items():
            path = out / f"{overlay.stem}.{kind}.json"
            path.write_text(json.dumps({overlay.graph_id: data}, indent=1, allow_nan=False))
            problem = check_node_data(path)
            if problem and not problem.startswith("not checked"):
                raise ValueError(problem)
            paths.append(path.name)
        lines.append(f"{head}: model-explorer {graph.name} --node_data_paths={','.join(paths)} "
                     "--host 127.0.0.1")
        lines.extend(f"  {line}" for line in overlay.lines)
    (out / "overlays.txt").write_text("\n".join(lines) + "\n")
    return lines


def graph_keys(graph_path: str) -> set[str]:
    """Every node id and output tensor name of a graph as Model Explorer's own adapters read
    it (imports torch for a `.pt2`): what node data may key its results by."""
    if graph_path.endswith(".pt2"):
        from model_explorer.builtin_pytorch_exportedprogram_adapter import (
            BuiltinPytorchExportedProgramAdapter,
        )

        graphs = BuiltinPytorchExportedProgramAdapter().convert(
            graph_path, {"const_element_count_limit": 16})["graphs"]
    else:
        from model_explorer.builtin_tflite_flatbuffer_adapter import (
            BuiltinTfliteFlatbufferAdapter,
        )

        collections = BuiltinTfliteFlatbufferAdapter().convert(graph_path, {})["graphCollections"]
        graphs = [g for c in collections for g in c.graphs]
    def get(thing, name):  # the adapters give dataclasses, or the C++ converter's dicts
        return thing[name] if isinstance(thing, dict) else getattr(thing, name)

    keys = set()
    for graph in graphs:
        gid = get(graph, "id")
        for node in get(graph, "nodes"):
            keys.add(f"{gid}:{get(node, 'id')}")
            for meta in get(node, "outputsMetadata") or ():
                keys.update(f"{gid}:{get(a, 'value')}" for a in get(meta, "attrs")
                            if get(a, "key") == "tensor_name")
    return keys
