"""The ExecuTorch side of the per-layer numerics (harness.placement.layer_numerics).

ExecuTorch's Inspector sees intermediate outputs only outside delegates: the XNNPACK delegate
is one call to it, so the int8 program's layers cannot be told apart inside it (ExecuTorch's own
debugging tutorial says as much). The per-layer pass therefore quantizes the model exactly as
the `executorch-int8` export did (the same XNNPACKQuantizer configuration, the same calibration
inputs, so the same scales and int8 weights), lowers it with no delegate, and runs it in
ExecuTorch's portable and quantized kernels with an ETDump that keeps every intermediate output
(`enable_etdump`, a debug buffer). The Inspector reads the ETDump with the program's ETRecord
(kept in memory), so each event carries its debug handles; a handle's graph nodes say which
module produced it. A module's output is its last event's: for a quantized layer, the
dequantize after its quantize, so the error of quantizing its output is the layer's own.

`Inspector.calculate_numeric_gap`, ExecuTorch 1.5.1's own per-operator comparison, compares the
runtime with the exported graph, which for an int8 program is the quantized graph itself: it
measures the kernels against their reference, not int8 against float. The reference here is
eager PyTorch's float model, as the whole-model check's is.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from harness.placement.layer_numerics import module_path

METHOD = ("ExecuTorch's Inspector on an ETDump with every intermediate output: the int8 program "
          "quantized as exported (same quantizer, calibration and scales), run without a "
          "delegate in ExecuTorch's portable and quantized kernels, on check input 1")


def _node_module(node) -> tuple[str, str]:
    """(module path, module type) of an edge node: the deepest module of its nn_module_stack
    other than the model itself; ("", "") for nodes the export added (quantize, dequantize)."""
    stack = node.meta.get("nn_module_stack") or {}
    for path, kind in reversed(list(stack.values())):
        if path and "Wrapper" not in str(kind):
            return module_path(path), str(kind).rsplit(".", 1)[-1]
    return "", ""


def _handles(value) -> tuple[int, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, int) else tuple(value)


def aten_nodes_by_handle(etrecord) -> dict[int, list[str]]:
    """The ATen graph's node names (those of the `.pt2` the export keeps) by debug handle."""
    from executorch.devtools.inspector._inspector_utils import (
        propagate_back_debug_handle,
    )

    program = etrecord.exported_program
    if program is None or not propagate_back_debug_handle(
            program, etrecord.export_graph_id, etrecord.edge_dialect_program):
        return {}
    out: dict[int, list[str]] = {}
    for node in program.graph.nodes:
        for handle in _handles(node.meta.get("debug_handle")):
            out.setdefault(handle, []).append(node.name)
    return out


def _debug_buffer_bytes(edge_program) -> int:
    """Room for every intermediate output the program can log, with a margin."""
    import torch

    total = 0
    for node in edge_program.graph.nodes:
        value = node.meta.get("val")
        for tensor in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(tensor, torch.Tensor):
                total += tensor.numel() * tensor.element_size()
    return 2 * total + (16 << 20)


def layer_outputs(model, fmt, artifact_path: str, calibration, x):
    """[(module path, module type, ATen node, output)] in execution order, and the method."""
    import executorch.kernels.quantized  # noqa: F401  (the quantized kernels' out variants)
    import torch
    from executorch.devtools import Inspector
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime, Verification

    from harness.export.executorch import quantize_pt2e_xnnpack

    quantized = quantize_pt2e_xnnpack(model, (x,), calibration)
    program = torch.export.export(quantized, (x,))
    edge = to_edge_transform_and_lower(program, partitioner=[], generate_etrecord=True)
    buffer = _debug_buffer_bytes(edge.exported_program())
    executorch_program = edge.to_executorch()
    etrecord = executorch_program.get_etrecord()
    etrecord.update_representative_inputs((x,))
    modules: dict[int, tuple[str, str]] = {}
    for node in etrecord.edge_dialect_program.graph.nodes:
        where = _node_module(node)
        for handle in _handles(node.meta.get("debug_handle")):
            if where[0] and not modules.get(handle):
                modules[handle] = where
    aten = aten_nodes_by_handle(etrecord)
    with tempfile.TemporaryDirectory(prefix="harness-layers-") as tmp:
        pte, etdump, debug, record = (Path(tmp) / n for n in (
            "program.pte", "run.etdump", "debug.bin", "etrecord.bin"))
        executorch_program.save(str(pte))
        etrecord.save(str(record))  # read back from the file, the Inspector has its handles
        loaded = Runtime.get().load_program(pte, verification=Verification.Minimal,
                                            enable_etdump=True, debug_buffer_size=buffer)
        loaded.load_method("forward").execute((x,))
        loaded.write_etdump_result_to_file(str(etdump), str(debug))
        inspector = Inspector(etdump_path=str(etdump), etrecord=str(record),
                              debug_buffer_path=str(debug))
        last: dict[str, tuple[int, str, str, np.ndarray]] = {}
        order = 0
        for block in inspector.event_blocks:
            for event in block.events:
                if not event.debug_data or event.name == "OPERATOR_CALL":
                    continue
                handles = _handles(event.debug_handles)
                where = next((modules[h] for h in handles if h in modules), None)
                tensor = event.debug_data[0]
                if where is None or not isinstance(tensor, torch.Tensor):
                    continue
                order += 1
                node = next((n for h in handles for n in aten.get(h, ()) if not n.startswith(
                    ("quantize_per", "dequantize_per"))), "")
                previous = last.get(where[0])
                last[where[0]] = (previous[0] if previous else order, where[1], node or
                                  (previous[2] if previous else ""),
                                  tensor.detach().float().numpy().copy())
    ordered = sorted(last.items(), key=lambda kv: kv[1][0])
    return [(path, kind, node, output) for path, (_, kind, node, output) in ordered], METHOD
