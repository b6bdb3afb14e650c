"""ONNX `.onnx` export: `torch.onnx.export(..., dynamo=True)` (the torch.export-based exporter,
the one PyTorch documents now), fp32, run by ONNX Runtime's CPU provider on the host as a
reference point users know. Details: the graph's operators by type.
"""

from __future__ import annotations

import collections
import contextlib
import importlib.metadata
import io
import logging
from pathlib import Path

import torch
from torch import nn

from harness.export.base import FormatSpec, register_format


def _versions() -> dict[str, str]:
    # The exporter's packages only: ONNX Runtime runs the file, it does not make it (the numerics
    # check records the runtime's version it ran with).
    return {
        "torch": torch.__version__,
        "onnxscript": importlib.metadata.version("onnxscript"),
        "onnx": importlib.metadata.version("onnx"),
    }


def operator_counts(path: Path) -> dict[str, int]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return dict(sorted(collections.Counter(node.op_type for node in graph.node).items()))


def export_onnx(model: nn.Module, example_inputs, path: Path) -> dict:
    # The exporter prints its steps to stdout and logs each one; keep both out of the output.
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            # One self-contained file: weights inline (all zoo models are far below 2 GB).
            torch.onnx.export(model, tuple(example_inputs), str(path), dynamo=True,
                              external_data=False)
    finally:
        logger.setLevel(level)
    return {"operators": operator_counts(path), "opset": _opset(path)}


def _opset(path: Path) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


register_format(
    FormatSpec(
        name="onnx",
        suffix=".onnx",
        runtime="onnxruntime",
        backend="cpu",
        precision="fp32",
        export=export_onnx,
        versions=_versions,
        extra="onnx",
        description="ONNX (dynamo exporter), fp32, ONNX Runtime CPU provider",
        order=30,
        export_estimate_s=15.0,
        paper_names=('onnx',),
        paper_rank=2,
    )
)
