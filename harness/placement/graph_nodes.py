"""The graph nodes a Model Explorer overlay keys its data by, and what ran each of them.

ExecuTorch (written at export, beside the `.pte`): the exported ATen program, saved as
`<name>.pt2` (the file Model Explorer's PyTorch adapter opens; its node ids are the graph's node
names), and `<name>.nodes.json`, which says for each node its operator, module, debug handles and
delegate, and for each instruction of the program the debug handles it executes (ExecuTorch's
`debug_handle_map`; delegate calls in its `delegate_map`). An ETDump event names its instruction,
so a profile's time reaches the nodes: a kernel's through its instruction's handles, a
delegate's operators by kind and order among the nodes of that delegate's partition
(harness.placement.node_times).

    {"version": 1, "graph_file": "m.pt2", "adapter": "pytorch", "graph_id": "graph",
     "nodes": [{"id": "cumsum", "op": "aten.cumsum.default", "kind": "cumsum",
                "module": "2", "handles": [3], "delegate": null}, ...],   # in graph order
     "instructions": {"0": [1, 2], "1": [3], "2": [4, 5, 6, 7, 8]},
     "delegates": [{"index": 0, "backend": "XnnpackBackend", "instruction": 0}, ...]}

LiteRT (read from the `.tflite` whenever needed, torch-free): the interpreter's operators in
execution order, each with its output tensors' names and the XNNPACK partition that took it;
Model Explorer's TFLite adapter names a node by its operator index.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.placement.kinds import kind_of

VERSION = 1
TFLITE_GRAPH_ID = "main"  # Model Explorer's TFLite flatbuffer adapter: the primary subgraph
PYTORCH_GRAPH_ID = "graph"  # Model Explorer's PyTorch adapter


def _handles(value) -> list[int]:
    if value is None:
        return []
    return [value] if isinstance(value, int) else list(value)


def _module(node) -> str:
    from harness.placement.layer_numerics import module_path

    stack = node.meta.get("nn_module_stack") or {}
    for path, kind in reversed(list(stack.values())):
        if path and "Wrapper" not in str(kind):
            return module_path(path)
    return ""


def executorch_table(exported_program, edge, executorch_program, graph_file: str) -> dict:
    """The node table of an ExecuTorch program (module docstring), from the export's objects:
    the ATen program it lowered, its edge manager (made with `generate_etrecord=True`) and its
    ExecuTorch program manager."""
    from executorch.devtools.inspector._inspector_utils import (
        propagate_back_debug_handle,
    )

    etrecord = executorch_program.get_etrecord()
    propagate_back_debug_handle(exported_program, etrecord.export_graph_id,
                                etrecord.edge_dialect_program, True)
    delegated: dict[int, int] = {}  # debug handle -> delegate index
    graph = edge.exported_program().graph_module
    index = 0
    for node in graph.graph.nodes:
        if node.op == "get_attr" and hasattr(getattr(graph, node.target, None), "original_module"):
            lowered = getattr(graph, node.target)
            for inner in lowered.original_module.graph.nodes:
                if inner.op != "call_function":  # a placeholder carries its producer's handle
                    continue
                for handle in _handles(inner.meta.get("debug_handle")):
                    delegated[handle] = index
            index += 1
    nodes = []
    for node in exported_program.graph.nodes:
        if node.op != "call_function":
            continue
        handles = _handles(node.meta.get("debug_handle"))
        delegate = next((delegated[h] for h in handles if h in delegated), None)
        nodes.append({"id": node.name, "op": str(node.target), "kind": kind_of(str(node.target)),
                      "module": _module(node), "handles": handles, "delegate": delegate})
    handle_map = executorch_program.debug_handle_map.get("forward", {})
    delegate_map = (executorch_program.delegate_map or {}).get("forward", {})
    delegates = [{"index": k, "backend": delegate_map[instruction]["name"], "instruction": instruction}
                 for k, instruction in enumerate(sorted(delegate_map))]
    return {"version": VERSION, "graph_file": graph_file, "adapter": "pytorch",
            "graph_id": PYTORCH_GRAPH_ID, "nodes": nodes,
            "instructions": {str(i): _handles(h) for i, h in sorted(handle_map.items())},
            "delegates": delegates}


def write_executorch_graph(exported_program, edge, executorch_program, pte_path: Path) -> dict:
    """Write `<name>.pt2` and `<name>.nodes.json` beside the `.pte`; what the artifact's
    details keep of them (or why there are none: the export itself never fails for this)."""
    import torch

    from harness.export.reasons import one_line_reason

    pt2 = pte_path.with_suffix(".pt2")
    table_path = pte_path.with_suffix(".nodes.json")
    try:
        table = executorch_table(exported_program, edge, executorch_program, pt2.name)
        torch.export.save(exported_program, str(pt2))
        table_path.write_text(json.dumps(table, allow_nan=False))
    except Exception as exc:  # noqa: BLE001 (the overlay's graph never fails the export)
        pt2.unlink(missing_ok=True)
        table_path.unlink(missing_ok=True)
        return {"unavailable": f"the graph for Model Explorer could not be written: {one_line_reason(exc)}"}
    return {"table": table_path.name, "graph": pt2.name, "nodes": len(table["nodes"]),
            "delegated": sum(n["delegate"] is not None for n in table["nodes"])}


def read_table(artifact: dict) -> tuple[dict | None, str]:
    """(the node table of a stored artifact, "") or (None, why there is none)."""
    path = artifact.get("path")
    if not path:
        return None, "the record has no artifact file"
    if (artifact.get("runtime") or "") == "litert" or str(path).endswith(".tflite"):
        if not Path(path).is_file():
            return None, f"{path} is no longer in the cache (export it again: `harness export`)"
        return tflite_table(Path(path)), ""
    info = (artifact.get("details") or {}).get("graph_nodes") or {}
    if not info.get("table"):
        return None, info.get("unavailable") or ("its export kept no graph for Model Explorer "
                                                 "(exported before overlays were; export again)")
    table_path = Path(path).with_name(info["table"])
    try:
        table = json.loads(table_path.read_text())
    except (OSError, ValueError):
        return None, f"{table_path} is no longer in the cache (export it again: `harness export`)"
    table["graph_path"] = str(table_path.with_name(table["graph_file"]))
    return table, ""


def tflite_table(path: Path) -> dict:
    """A `.tflite`'s operators as a node table: ids as Model Explorer's TFLite adapter gives
    them (the operator's index), each with its output tensors and the XNNPACK partition that
    takes it here (the walk of harness.export.tflite's coverage: a partition's outputs back to
    its inputs)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    names = {d["index"]: d["name"] for d in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    original = [n for n in ops if n["op_name"] != "DELEGATE"]
    delegates = [n for n in ops if n["op_name"] == "DELEGATE"]
    producer = {t: n["index"] for n in original for t in n["outputs"]}
    by_index = {n["index"]: n for n in original}
    taken: dict[int, int] = {}
    for number, delegate in enumerate(delegates):
        boundary, pending = set(delegate["inputs"]), list(delegate["outputs"])
        while pending:
            tensor = pending.pop()
            if tensor in boundary or tensor not in producer:
                continue
            index = producer[tensor]
            if index not in taken:
                taken[index] = number
                pending.extend(by_index[index]["inputs"])
    nodes = [{"id": str(n["index"]), "op": n["op_name"], "kind": kind_of(n["op_name"]),
              "outputs": [names.get(t, "") for t in n["outputs"] if t >= 0],
              "delegate": taken.get(n["index"])} for n in original]
    return {"version": VERSION, "graph_file": path.name, "graph_path": str(path),
            "adapter": "tflite", "graph_id": TFLITE_GRAPH_ID, "nodes": nodes,
            "delegates": [{"index": k, "backend": "XNNPACK", "node": d["index"]}
                          for k, d in enumerate(delegates)]}


def tflite_coverage(path: Path) -> dict:
    """XNNPACK's coverage of a `.tflite` on this host, from its node table."""
    table = tflite_table(path)
    left: dict[str, int] = {}
    for node in table["nodes"]:
        if node["delegate"] is None:
            left[node["op"]] = left.get(node["op"], 0) + 1
    return {"backend": "XNNPACK",
            "delegated_nodes": sum(n["delegate"] is not None for n in table["nodes"]),
            "total_nodes": len(table["nodes"]), "delegate_calls": len(table["delegates"]),
            "not_delegated_ops": dict(sorted(left.items()))}
