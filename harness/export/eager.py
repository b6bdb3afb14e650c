"""`eager`: the deploy model itself, saved with `torch.export.save` as a `.pt2` program and run
on the host with `torch.export.load(...).module()`: PyTorch's own CPU kernels, the baseline every
ratio is read against. Details: the program's ATen operators by type.
"""

from __future__ import annotations

import collections
from pathlib import Path

import torch
from torch import nn

from harness.export.base import FormatSpec, register_format


def _versions() -> dict[str, str]:
    return {"torch": torch.__version__}


def export_eager(model: nn.Module, example_inputs, path: Path) -> dict:
    program = torch.export.export(model, tuple(example_inputs))
    torch.export.save(program, str(path))
    operators = collections.Counter(
        str(node.target) for node in program.graph.nodes if node.op == "call_function"
    )
    return {"operators": dict(sorted(operators.items()))}


register_format(
    FormatSpec(
        name="eager",
        suffix=".pt2",
        runtime="torch",
        backend="torch",
        precision="fp32",
        export=export_eager,
        versions=_versions,
        description="PyTorch eager kernels (torch.export program), fp32: the baseline",
        order=0,
        export_estimate_s=3.0,
        paper_names=('pytorch',),
        paper_rank=3,
    )
)
