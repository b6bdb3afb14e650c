"""LiteRT (TFLite) `.tflite` exports through litert-torch (no TensorFlow needed).

`tflite`: fp32. The interpreter applies the XNNPACK delegate by default at run time.
"""

from __future__ import annotations

import collections
import contextlib
import importlib.metadata
import io
from pathlib import Path

import torch
from torch import nn

from harness.export.base import FormatSpec, register_format


def _versions() -> dict[str, str]:
    return {
        "litert-torch": importlib.metadata.version("litert-torch"),
        "ai-edge-litert": importlib.metadata.version("ai-edge-litert"),
        "torch": torch.__version__,
    }


def operator_counts(path: Path) -> dict[str, int]:
    """Operators in the flatbuffer by type, as the interpreter reports them."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), experimental_preserve_all_tensors=False)
    counts = collections.Counter(op["op_name"] for op in interpreter._get_ops_details())
    return dict(sorted(counts.items()))


def export_tflite_fp32(model: nn.Module, example_inputs, path: Path) -> dict:
    import litert_torch

    # The converter prints progress lines to stdout; keep the harness's own output clean.
    with contextlib.redirect_stdout(io.StringIO()):
        litert_torch.convert(model, tuple(example_inputs)).export(str(path))
    return {"operators": operator_counts(path)}


register_format(
    FormatSpec(
        name="tflite",
        suffix=".tflite",
        backend="xnnpack",
        precision="fp32",
        export=export_tflite_fp32,
        versions=_versions,
        min_cosine=0.999,
        description="LiteRT, fp32 (XNNPACK delegate at run time)",
    )
)
