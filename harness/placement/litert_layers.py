"""The LiteRT side of the per-layer numerics (harness.placement.layer_numerics).

The exported `.tflite` itself runs once in LiteRT's interpreter with every tensor kept
(`experimental_preserve_all_tensors`) and TFLite's builtin kernels (no XNNPACK delegate, which
would keep its intermediate tensors to itself). litert-torch names each operator's output tensor
after the modules it came from (`<model class>/torch.nn.modules.conv.Conv2d_mix;2`; fused
operators list every module, outermost first: `..ReLU_act;;..Conv2d_stem;1`), which gives the
module; an int8 tensor is dequantized with its own scale and zero point, and an NHWC tensor
turned back to NCHW before it is compared with eager.
"""

from __future__ import annotations

import numpy as np

METHOD = ("LiteRT's interpreter with every tensor kept (experimental_preserve_all_tensors), "
          "TFLite's builtin kernels, the exported .tflite on check input 1")


def _class_name(module) -> str:
    kind = type(module)
    return f"{kind.__module__}.{kind.__qualname__}"


def module_locations(model) -> dict[str, tuple[str, str]]:
    """litert-torch's location string of every module -> (module path, module type)."""
    root = _class_name(model)
    out = {}
    for path, module in model.named_modules():
        if not path:
            continue
        parts, parent, segments = path.split("."), model, []
        for attr in parts:
            parent = getattr(parent, attr) if not attr.isdigit() else parent[int(attr)]
            segments.append(f"{_class_name(parent)}_{attr}")
        out["/".join([root, *segments])] = (path, type(module).__name__)
    return out


def module_of(tensor_name: str, locations: dict[str, tuple[str, str]]) -> tuple[str, str] | None:
    """The module whose output a tensor is: its first (outermost) location's, the deepest
    module that location lies in."""
    first = next((part for part in tensor_name.split(";") if part and not part.isdigit()), "")
    best = None
    for location, module in locations.items():
        if (first == location or first.startswith(location + "/")) and (
                best is None or len(location) > len(best[0])):
            best = (location, module)
    return best[1] if best else None


def _dequantized(interpreter, detail: dict) -> np.ndarray:
    value = interpreter.get_tensor(detail["index"])
    scale, zero = detail.get("quantization") or (0.0, 0)
    if scale and np.issubdtype(value.dtype, np.integer):
        return (value.astype(np.float32) - zero) * scale
    return value.astype(np.float32)


def layer_outputs(model, fmt, artifact_path: str, calibration, x):
    """[(module path, module type, tensor name, output)] in execution order, and the method."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_path=artifact_path, num_threads=1, experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    [entry] = interpreter.get_input_details()
    value = x.numpy()
    if tuple(entry["shape"]) != value.shape and value.ndim == 4:
        value = value.transpose(0, 2, 3, 1)  # a model converted to take NHWC
    scale, zero = entry.get("quantization") or (0.0, 0)
    if scale and np.issubdtype(entry["dtype"], np.integer):
        info = np.iinfo(entry["dtype"])
        value = np.clip(np.round(value / scale) + zero, info.min, info.max)
    interpreter.set_tensor(entry["index"], value.astype(entry["dtype"]))
    interpreter.invoke()
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    locations = module_locations(model)
    last: dict[str, tuple[int, str, str, np.ndarray]] = {}
    for op in interpreter._get_ops_details():  # the interpreter's execution order
        if op["op_name"] == "DELEGATE":
            continue
        for index in op["outputs"]:
            if index < 0 or index not in details:
                continue
            name = details[index]["name"]
            where = module_of(name, locations)
            if where is None:
                continue
            first = last.get(where[0], (op["index"],))[0]
            last[where[0]] = (first, where[1], name, _dequantized(interpreter, details[index]))
    ordered = sorted(last.items(), key=lambda kv: kv[1][0])
    return [(path, kind, name, output) for path, (_, kind, name, output) in ordered], METHOD
