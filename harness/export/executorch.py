"""ExecuTorch `.pte` exports.

`executorch`: XNNPACK delegate, fp32, lowered with `to_edge_transform_and_lower` as the
ExecuTorch documentation recommends for mobile CPUs.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import torch
from torch import nn

from harness.export.base import FormatSpec, register_format


def _versions() -> dict[str, str]:
    return {"executorch": importlib.metadata.version("executorch"), "torch": torch.__version__}


def delegation_summary(graph_module) -> dict:
    """Nodes delegated versus total, and the operators left outside any delegate."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(graph_module)
    not_delegated = {
        op: counts.non_delegated
        for op, counts in info.delegation_by_operator.items()
        if counts.non_delegated
    }
    return {
        "delegated_nodes": info.num_delegated_nodes,
        "total_nodes": info.num_delegated_nodes + info.num_non_delegated_nodes,
        "delegate_calls": info.num_delegated_subgraphs,
        "not_delegated_ops": not_delegated,
    }


def lower_to_pte(exported_program, partitioners: list, path: Path) -> dict:
    from executorch.exir import to_edge_transform_and_lower

    edge = to_edge_transform_and_lower(exported_program, partitioner=partitioners)
    details = {"delegation": delegation_summary(edge.exported_program().graph_module)}
    program = edge.to_executorch()
    path.write_bytes(program.buffer)
    return details


def export_executorch_xnnpack(model: nn.Module, example_inputs, path: Path) -> dict:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    ep = torch.export.export(model, tuple(example_inputs))
    return lower_to_pte(ep, [XnnpackPartitioner()], path)


register_format(
    FormatSpec(
        name="executorch",
        suffix=".pte",
        backend="xnnpack",
        precision="fp32",
        export=export_executorch_xnnpack,
        versions=_versions,
        min_cosine=0.999,
        description="ExecuTorch, XNNPACK delegate, fp32",
    )
)
