"""Per-layer numerics: when an int8 or fp16 export fails its numerics check, which layer broke it.

The whole-model check (harness.export.numerics) says that the outputs disagree with eager; this
says where the error appears. The exported program runs once more on the first check input with
every intermediate output kept (ExecuTorch: an ETDump with its debug buffer, read by ExecuTorch's
Inspector, harness.placement.executorch_layers; LiteRT: the interpreter with every tensor kept,
harness.placement.litert_layers), and each layer's output is compared with what the same module
of the eager PyTorch model gave (forward hooks on the model the export was made from). A layer
is a module of the model: the runtime's operators are attributed to the module that produced
them (a convolution and the quantize / dequantize of its output are the convolution's layer).

The measure is the signal-to-noise ratio in dB of each output channel (axis 1), the median over
a layer's channels: int8 quantizes a tensor with one scale, so an outlier channel hides every
other channel's loss from a figure over the whole tensor (that is how int8 breaks), while the
median channel shows it. The layer where the error appears is the first, in execution order,
below the precision's floor (FLOOR_DB) or with an inf or NaN in its output: later layers
inherit its error and say nothing new.

Runs in the export's child process (it needs the model and the runtime); stored in the
artifact's `details["layer_numerics"]`, and the failed check's reason names the layer.
"""

from __future__ import annotations

import math
import re

import numpy as np

# A layer below this SNR (dB, median over its channels) has lost the signal: int8 layers of
# healthy networks stay around 25-40 dB, fp16 ones above 60.
FLOOR_DB = {"int8": 15.0, "fp16": 40.0}
CAP_DB = 120.0  # an exact copy: a figure, not infinity (JSON has none)
METRIC = "SNR in dB per output channel (axis 1), median over the layer's channels"


def snr_db(reference: np.ndarray, actual: np.ndarray) -> float:
    """10 log10(signal energy / error energy), capped at CAP_DB."""
    reference = reference.astype(np.float64).ravel()
    error = actual.astype(np.float64).ravel() - reference
    if not np.all(np.isfinite(error)):  # an inf or NaN out of the runtime: nothing of it is right
        return -CAP_DB
    noise, signal = float(error @ error), float(reference @ reference)
    if noise == 0.0:
        return CAP_DB
    if signal == 0.0:
        return -CAP_DB
    return max(-CAP_DB, min(CAP_DB, 10.0 * math.log10(signal / noise)))


def channel_snr_db(reference: np.ndarray, actual: np.ndarray) -> float | None:
    """The median over output channels of each channel's SNR (channels with no signal left
    out); the whole tensor's for tensors without channels. None when the shapes disagree."""
    actual = aligned(reference, actual)
    if actual is None:
        return None
    if reference.ndim < 2 or reference.shape[1] == 1:
        return round(snr_db(reference, actual), 3)
    per = [snr_db(reference[:, c], actual[:, c]) for c in range(reference.shape[1])
           if np.any(reference[:, c])]
    return round(float(np.median(per)), 3) if per else None


def aligned(reference: np.ndarray, actual: np.ndarray) -> np.ndarray | None:
    """`actual` in `reference`'s layout: as it is, or NHWC turned to NCHW (LiteRT's layout)."""
    if actual.shape == reference.shape:
        return actual
    if actual.size == reference.size and actual.ndim == 4 and reference.ndim == 4 \
            and actual.transpose(0, 3, 1, 2).shape == reference.shape:
        return actual.transpose(0, 3, 1, 2)
    return None


def cosine(reference: np.ndarray, actual: np.ndarray) -> float:
    """The whole tensor's cosine; 0 where the runtime gave an inf or NaN."""
    a, b = reference.astype(np.float64).ravel(), actual.astype(np.float64).ravel()
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return 0.0
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return round(float(a @ b) / denom, 6) if denom else (1.0 if np.array_equal(a, b) else 0.0)


def module_path(name: str) -> str:
    """A module's path as named_modules() spells it, from torch.export's nn_module_stack
    (`L['self'].features[0]`, `L__self___features_0` in older versions) or as it is."""
    text = name.replace("L['self'].", "").replace("L['self']", "")
    return re.sub(r"\[(\d+)\]", r".\1", text).strip(".")


def eager_outputs(model, x) -> dict[str, np.ndarray]:
    """Every module's output (its last call's first tensor) on input `x`, by module path, in
    the order the modules finished (a container after its children)."""
    import torch

    outputs: dict[str, np.ndarray] = {}
    hooks = []
    for path, module in model.named_modules():
        if not path:
            continue

        def keep(_module, _inputs, output, path=path):
            tensor = output[0] if isinstance(output, (tuple, list)) else output
            if isinstance(tensor, torch.Tensor):
                outputs[path] = tensor.detach().float().numpy().copy()

        hooks.append(module.register_forward_hook(keep))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return outputs


def compare_layers(runtime: list[tuple[str, str, str, np.ndarray]], eager: dict[str, np.ndarray],
                   precision: str) -> dict:
    """The per-layer table from the runtime's layer outputs in execution order, (module path,
    module type, graph node, output), against eager's; which layer the error appears at."""
    floor = FLOOR_DB.get(precision, FLOOR_DB["int8"])
    order = list(eager)
    seen = {path for path, *_ in runtime}
    layers = []
    for path, kind, node, output in runtime:
        best = None
        for candidate in _absorbed(path, order, seen):
            snr = channel_snr_db(eager[candidate], output)
            if snr is not None and (best is None or snr > best[1]):
                best = (candidate, snr)
        if best is None:
            continue
        reference = eager[best[0]]
        layer = {"layer": path, "type": kind, "node": node, "snr_db": best[1],
                 "cosine": cosine(reference, aligned(reference, output))}
        nonfinite = int(np.size(output) - np.count_nonzero(np.isfinite(output)))
        if nonfinite:
            layer["nonfinite"] = nonfinite  # values that are inf or NaN
        if best[0] != path:
            layer["compared_with"] = best[0]
        layers.append(layer)
    # A layer whose output has an inf or NaN (its eager one has none) is where that appears,
    # however well its other channels did.
    first = next((i for i, layer in enumerate(layers)
                  if layer["snr_db"] < floor or layer.get("nonfinite")), None)
    result = {"metric": METRIC, "floor_db": floor, "layers": layers,
              "first_below": layers[first]["layer"] if first is not None else None}
    if first is None:
        result["summary"] = (f"no layer falls below {floor:g} dB ({len(layers)} layers compared)"
                             if layers else "no layer of the model could be compared")
    else:
        bad = layers[first]
        before = (f", after {layers[first - 1]['snr_db']:.1f} dB at `{layers[first - 1]['layer']}`"
                  if first else ", its first layer")
        what = (f"{bad['nonfinite']} values are inf or NaN" if bad.get("nonfinite")
                else f"{bad['snr_db']:.1f} dB per channel")
        result["summary"] = f"the error appears at layer `{bad['layer']}` ({bad['type']}): {what}{before}"
    return result


def _absorbed(path: str, order: list[str], seen: set[str]) -> list[str]:
    """The eager modules a runtime layer's output may stand for: its own, and those after it
    that the export folded into it (a BatchNorm into the convolution before it: modules with no
    runtime layer of their own, up to the next module that has one)."""
    if path not in order:
        return []
    parent = path.rsplit(".", 1)[0] if "." in path else ""
    out = [path]
    for later in order[order.index(path) + 1:]:
        if later in seen or path.startswith(later + ".") or (parent and not later.startswith(parent + ".")):
            break  # the next layer of its own, a container ending, or another container's
        out.append(later)
    return out


def explain(fmt, model, artifact_path: str, calibration, x) -> dict | None:
    """The per-layer numerics of an export whose check failed, for the formats that have a
    pass (their FormatSpec's `layer_pass`, the module of its runtime side, imported when used:
    each imports torch and its runtime); None for the others. Never raises: a pass that fails
    says why."""
    import importlib

    name = fmt.layer_pass
    if not name:
        return None
    try:
        runtime, method = importlib.import_module(name).layer_outputs(model, fmt, artifact_path,
                                                                      calibration, x)
        result = compare_layers(runtime, eager_outputs(model, x), fmt.precision)
    except Exception as exc:  # noqa: BLE001 (a diagnosis never fails the export it explains)
        from harness.export.reasons import one_line_reason

        return {"unavailable": f"the per-layer pass failed: {one_line_reason(exc)}"}
    return {"method": method, **result}
