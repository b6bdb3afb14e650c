"""A profile's time and a run's placement, node by node of the model's graph
(harness.placement.graph_nodes): what the Model Explorer overlays show.

ETDump (ExecuTorch): a kernel's event ran in one instruction, whose debug handles name its graph
nodes (its time is split evenly among them, quantize / dequantize aside when there are others).
A delegate's operators ran in its DELEGATE_CALL's instruction; XNNPACK names them by kind
(`Convolution (NHWC, F32) IGEMM #2`), not by node, so each is given to the next node of the
same kind in that delegate's partition, in graph order. What no node takes (XNNPACK's layout
transposes, a delegate's own overhead, a fused activation's operator) stays off the graph and
is listed beside it.

benchmark_model (LiteRT): a node of its Run Order named by index is that graph node; XNNPACK's
own operators (`Delegate/...`) are matched by kind and order among the delegated nodes; a
delegate that runs a partition as one node (GPU, NNAPI) times only the partition.
"""

from __future__ import annotations

from harness.placement.kinds import kind_of

_QDQ = ("quantize", "dequantize")


def _by_kind(events: list[dict], candidates: list[dict], times: dict[str, float],
             unplaced: dict[str, float]) -> None:
    """Each event to the next candidate node of its kind, in order."""
    used: set[str] = set()
    for event in events:
        kind = kind_of(event["name"])
        node = next((n for n in candidates if n["kind"] == kind and n["id"] not in used), None)
        if node is None:
            label = event["name"].split(" #")[0]
            unplaced[label] = unplaced.get(label, 0.0) + event["ms"]
            continue
        used.add(node["id"])
        times[node["id"]] = times.get(node["id"], 0.0) + event["ms"]


def executorch_times(table: dict, profile: dict) -> tuple[dict[str, float], dict[str, float]]:
    """(ms per node id, ms not on any node by what it was) from an ETDump profile."""
    instructions = {int(k): v for k, v in table.get("instructions", {}).items()}
    delegate_of = {d["instruction"]: d["index"] for d in table.get("delegates", ())}
    times: dict[str, float] = {}
    unplaced: dict[str, float] = {}
    inner: dict[int, list[dict]] = {}
    for event in profile.get("events") or ():
        instruction = event.get("instruction")
        if instruction is None:
            unplaced[event["name"]] = unplaced.get(event["name"], 0.0) + event["ms"]
        elif event["delegated"]:
            inner.setdefault(instruction, []).append(event)
        elif event["name"] == "DELEGATE_CALL":
            index = delegate_of.get(instruction)
            ops = inner.pop(instruction, [])
            partition = [n for n in table["nodes"] if n["delegate"] == index]
            _by_kind(ops, partition, times, unplaced)
            rest = event["ms"] - sum(e["ms"] for e in ops)
            if rest > 0:
                unplaced["delegate call overhead"] = unplaced.get("delegate call overhead", 0.0) + rest
        else:
            handles = set(instructions.get(instruction, ()))
            nodes = [n for n in table["nodes"] if handles & set(n["handles"]) and n["delegate"] is None]
            primary = [n for n in nodes if n["kind"] not in _QDQ] or nodes
            if not primary:
                unplaced[event["name"]] = unplaced.get(event["name"], 0.0) + event["ms"]
            for node in primary:
                times[node["id"]] = times.get(node["id"], 0.0) + event["ms"] / len(primary)
    return times, unplaced


def tflite_times(table: dict, profile: dict) -> tuple[dict[str, float], dict[str, float]]:
    """(ms per node id, ms not on any node) from benchmark_model's Run Order."""
    ids = {n["id"] for n in table["nodes"]}
    times: dict[str, float] = {}
    unplaced: dict[str, float] = {}
    xnnpack = []
    for event in profile.get("events") or ():
        node = event.get("node")
        if node is not None and str(node) in ids and not event["delegated"]:
            times[str(node)] = times.get(str(node), 0.0) + event["ms"]
        elif event["name"].startswith("Delegate/"):
            xnnpack.append({**event, "name": event["name"].removeprefix("Delegate/").rsplit(":", 1)[0]})
        else:
            label = f"{event['type']} partition" if event["delegated"] else event["type"]
            unplaced[label] = unplaced.get(label, 0.0) + event["ms"]
    delegated = [n for n in table["nodes"] if n["delegate"] is not None]
    _by_kind(xnnpack, delegated, times, unplaced)
    return times, unplaced


def node_times(table: dict, profile: dict | None) -> tuple[dict[str, float], dict[str, float]]:
    if not profile or not profile.get("events"):
        return {}, {}
    if table["adapter"] == "tflite":
        return tflite_times(table, profile)
    return executorch_times(table, profile)


def node_placement(table: dict, profile: dict | None) -> dict[str, str]:
    """Node id -> the delegate backend that ran it, or "" for the runtime's own kernels.

    ExecuTorch decides delegation ahead of time: the table says. LiteRT decides it when the
    interpreter loads: a node benchmark_model timed on its own ran outside any delegate and
    every other node inside one; without that profile, the table's is XNNPACK's on this host.
    """
    backends = {d["index"]: d["backend"] for d in table.get("delegates", ())}
    if table["adapter"] == "tflite" and profile and profile.get("events"):
        own = {str(e["node"]) for e in profile["events"] if e.get("node") is not None
               and not e["delegated"]}
        partitions = {e["delegate"] for e in profile["events"] if e["delegated"]} or {"delegate"}
        backend = "/".join(sorted(partitions))
        return {n["id"]: ("" if n["id"] in own else backend) for n in table["nodes"]}
    return {n["id"]: ("" if n["delegate"] is None else backends.get(n["delegate"], "delegate"))
            for n in table["nodes"]}
