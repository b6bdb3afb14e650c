"""LiteRT (TFLite) `.tflite` exports through litert-torch (no TensorFlow needed).

- `tflite`: fp32, as `litert_torch.convert` writes it.
- `tflite-fp16`: fp16 weights (float casting), fp32 activations; LiteRT dequantizes the weights
  at load time on CPUs and runs fp16 where a GPU delegate can.
- `tflite-int8`: static int8 weights and activations (int8 input and output tensors).

Both quantized variants take the fp32 flatbuffer through AI Edge Quantizer, the post-training
quantizer the LiteRT documentation points to for converted LiteRT models, vision models
included (`ai-edge-quantizer` 0.10.0, the newest release; it has since been renamed
`litert-quantizer`, same API). litert-torch's own PT2E path (`litert_torch.quantize`,
`QuantConfig(pt2e_quantizer=...)`) is documented only with dynamic-range quantization of
the activations, which leaves activations float and is not what an int8 vision model ships as.
The recipe is `static_wi8_ai8` (min/max calibration), calibrated on `--calibration-images` or on
seeded random inputs; the artifact's details say which.

The interpreter applies the XNNPACK delegate by default at run time; each artifact stores its
operators by type and how many of them XNNPACK takes (`xnnpack_coverage`).
"""

from __future__ import annotations

import collections
import contextlib
import importlib.metadata
import io
import warnings
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


def _versions_quantized() -> dict[str, str]:
    return {**_versions(), "ai-edge-quantizer": importlib.metadata.version("ai-edge-quantizer")}


def operator_counts(path: Path) -> dict[str, int]:
    """Operators in the flatbuffer by type, as the interpreter reports them."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), experimental_preserve_all_tensors=False)
    counts = collections.Counter(op["op_name"] for op in interpreter._get_ops_details())
    return dict(sorted(counts.items()))


def xnnpack_coverage(path: Path) -> dict:
    """How many of the model's operators the XNNPACK delegate takes, and which it leaves.

    Applying a delegate (at `allocate_tensors`) appends one `DELEGATE` node per partition after
    the original nodes, which stay listed. A partition computes the delegate node's outputs from
    its inputs, so walking back from those outputs through the original nodes, and stopping at
    the delegate's inputs, visits exactly the nodes it replaced (harness.placement.graph_nodes,
    which the Model Explorer overlays read node by node).
    """
    from harness.placement.graph_nodes import tflite_coverage

    return tflite_coverage(path)


def litert_details(path: Path) -> dict:
    return {"operators": operator_counts(path), "delegation": xnnpack_coverage(path)}


def convert_fp32(model: nn.Module, example_inputs, path: Path) -> None:
    import litert_torch

    # The converter prints progress lines to stdout; keep the harness's own output clean.
    with contextlib.redirect_stdout(io.StringIO()):
        litert_torch.convert(model, tuple(example_inputs)).export(str(path))


def export_tflite_fp32(model: nn.Module, example_inputs, path: Path) -> dict:
    convert_fp32(model, example_inputs, path)
    return litert_details(path)


def fp16_weights_recipe():
    """Float-cast every supported op's weights to fp16; compute stays fp32 on CPUs."""
    from ai_edge_quantizer import qtyping, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    manager = recipe_manager.RecipeManager()
    manager.add_quantization_config(
        regex=".*",
        operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        op_config=qtyping.OpQuantizationConfig(
            weight_tensor_config=qtyping.TensorQuantizationConfig(
                num_bits=16, dtype=qtyping.TensorDataType.FLOAT),
            compute_precision=qtyping.ComputePrecision.FLOAT,
            explicit_dequantize=True,
        ),
        algorithm_key=AlgorithmName.FLOAT_CASTING,
    )
    return manager.get_quantization_recipe()


def _signature_of(path: Path) -> tuple[str, list[str]]:
    """The flatbuffer's (only) signature and its input names, to key calibration samples."""
    from ai_edge_litert.interpreter import Interpreter

    name, signature = next(iter(Interpreter(model_path=str(path)).get_signature_list().items()))
    return name, signature["inputs"]


def quantize_flatbuffer(model: nn.Module, example_inputs, path: Path, recipe, calibration=None) -> None:
    """Convert to fp32, then write the AI Edge Quantizer's result for `recipe` to `path`."""
    from ai_edge_quantizer import quantizer

    fp32 = path.with_name(path.stem + ".fp32.tflite")
    try:
        convert_fp32(model, example_inputs, fp32)
        qt = quantizer.Quantizer(str(fp32), recipe)
        result = None
        # The quantizer draws progress bars on stderr whatever it is told.
        with contextlib.redirect_stderr(io.StringIO()):
            if calibration is not None:
                signature, input_names = _signature_of(fp32)
                samples = [dict(zip(input_names, [x])) for x in calibration.inputs]
                with warnings.catch_warnings():
                    # Calibration keeps every intermediate tensor on purpose; the interpreter warns.
                    warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
                    result = qt.calibrate({signature: samples}, num_threads=1)
            quantized = qt.quantize(result, enable_progress_bar=False, enable_progress_report=False)
        quantized.export_model(str(path), overwrite=True)
    finally:
        fp32.unlink(missing_ok=True)


def export_tflite_fp16(model: nn.Module, example_inputs, path: Path) -> dict:
    quantize_flatbuffer(model, example_inputs, path, fp16_weights_recipe())
    return litert_details(path)


def export_tflite_int8(model: nn.Module, example_inputs, path: Path, calibration) -> dict:
    from ai_edge_quantizer import recipe

    quantize_flatbuffer(model, example_inputs, path, recipe.static_wi8_ai8(), calibration)
    return {**litert_details(path), "quantizer": "ai-edge-quantizer static_wi8_ai8"}


register_format(
    FormatSpec(
        name="tflite",
        suffix=".tflite",
        runtime="litert",
        backend="xnnpack",
        precision="fp32",
        export=export_tflite_fp32,
        versions=_versions,
        extra="tflite",
        description="LiteRT, fp32 (XNNPACK delegate at run time)",
        order=20,
        export_estimate_s=45.0,
        paper_names=('tflite', 'litert', 'tensorflow lite'),
        paper_rank=1,
    )
)

register_format(
    FormatSpec(
        name="tflite-fp16",
        layer_pass="harness.placement.litert_layers",
        suffix=".tflite",
        runtime="litert",
        backend="xnnpack",
        precision="fp16",
        export=export_tflite_fp16,
        versions=_versions_quantized,
        extra="tflite",
        description="LiteRT, fp16 weights (AI Edge Quantizer float casting)",
        order=21,
        export_estimate_s=45.0,
        paper_names=('tflite', 'litert', 'tensorflow lite'),
        paper_rank=7,
    )
)

register_format(
    FormatSpec(
        name="tflite-int8",
        layer_pass="harness.placement.litert_layers",
        suffix=".tflite",
        runtime="litert",
        backend="xnnpack",
        precision="int8",
        export=export_tflite_int8,
        versions=_versions_quantized,
        extra="tflite",
        needs_calibration=True,
        description="LiteRT, static int8 (AI Edge Quantizer static_wi8_ai8)",
        order=22,
        export_estimate_s=120.0,
        paper_names=('tflite', 'litert', 'tensorflow lite'),
        paper_rank=10,
    )
)
