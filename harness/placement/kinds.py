"""What kind of operator a runtime's operator name is, so that one rule reaches it everywhere.

Every runtime names operators its own way: ExecuTorch's portable kernels `cumsum.out`, the
export's coverage `aten_cumsum_default`, XNNPACK `Convolution (NHWC, F32) IGEMM`, TFLite
`CONV_2D`, a farm.yaml rule `aten.gelu`. `kind_of` maps each to one lowercase name in ATen's
vocabulary (`cumsum`, `convolution`, `gelu`), which the placement map keeps beside the
runtime's own name and which `max_op_share` rules match on (harness.placement.contracts).
A name this module does not know keeps its own name, lowercased: a rule can always name an
operator exactly as its runtime does.

XNNPACK's `Transpose` operators are mostly the layout changes (NCHW <-> NHWC) the delegate adds
around its convolutions, not the model's permutes; they are kind `permute` all the same, since
XNNPACK's profile does not tell the two apart.
"""

from __future__ import annotations

import re

# XNNPACK's operator types (the text before " (" in "Convolution (NHWC, F32) IGEMM") -> kind.
XNNPACK_KINDS = {
    "convolution": "convolution", "deconvolution": "convolution",
    "fully connected": "linear", "batch matrix multiply": "bmm",
    "gelu": "gelu", "sigmoid": "sigmoid", "tanh": "tanh", "hardswish": "hardswish",
    "leaky relu": "leaky_relu", "elu": "elu", "clamp": "clamp", "softmax": "softmax",
    "mean": "mean", "sum": "sum", "global average pooling": "mean",
    "average pooling": "avg_pool2d", "max pooling": "max_pool2d", "argmax pooling": "max_pool2d",
    "add": "add", "multiply": "mul", "subtract": "sub", "divide": "div",
    "maximum": "maximum", "minimum": "minimum", "square": "square", "square root": "sqrt",
    "reciprocal square root": "rsqrt", "negate": "neg", "abs": "abs", "exp": "exp", "log": "log",
    "floor": "floor", "ceiling": "ceil", "copy": "copy", "convert": "to_copy",
    "static reshape": "view", "reshape": "view", "transpose": "permute",
    "concatenate": "cat", "constant pad": "constant_pad_nd", "slice": "slice",
    "resize bilinear": "upsample_bilinear2d", "even split": "split",
}

# TFLite's builtin operators (benchmark_model's node types, a .tflite's opcodes) -> kind.
TFLITE_KINDS = {
    "conv_2d": "convolution", "depthwise_conv_2d": "convolution", "transpose_conv": "convolution",
    "fully_connected": "linear", "batch_matmul": "bmm", "gelu": "gelu", "logistic": "sigmoid",
    "tanh": "tanh", "hard_swish": "hardswish", "relu": "relu", "relu6": "hardtanh",
    "leaky_relu": "leaky_relu", "softmax": "softmax", "mean": "mean", "sum": "sum",
    "average_pool_2d": "avg_pool2d", "max_pool_2d": "max_pool2d", "add": "add", "mul": "mul",
    "sub": "sub", "div": "div", "reshape": "view", "transpose": "permute",
    "concatenation": "cat", "pad": "constant_pad_nd", "padv2": "constant_pad_nd",
    "strided_slice": "slice", "slice": "slice", "cumsum": "cumsum", "quantize": "quantize",
    "dequantize": "dequantize", "resize_bilinear": "upsample_bilinear2d", "rsqrt": "rsqrt",
    "sqrt": "sqrt", "square": "square", "exp": "exp", "log": "log", "abs": "abs", "neg": "neg",
    "cast": "to_copy", "split": "split", "gather": "index_select", "reverse_v2": "flip",
}

# ATen names whose edge form differs only by a copy: the kind is the operator, not the copy.
_SAME = {"view_copy": "view", "permute_copy": "permute", "expand_copy": "expand",
         "squeeze_copy": "squeeze", "unsqueeze_copy": "unsqueeze", "slice_copy": "slice",
         "select_copy": "select", "split_copy": "split", "split_with_sizes_copy": "split",
         "conv2d": "convolution", "_to_dim_order_copy": "to_copy", "_to_copy": "to_copy",
         "addmm": "linear", "adaptive_avg_pool2d": "mean",
         "quantize_per_tensor": "quantize", "quantize_per_channel": "quantize",
         "dequantize_per_tensor": "dequantize", "dequantize_per_channel": "dequantize",
         "choose_qparams": "quantize"}
# Namespaces of edge operators as get_delegation_info spells them (`aten_cumsum_default`).
_NAMESPACES = ("aten", "quantized_decomposed", "dim_order_ops", "executorch_prim", "torchao")
# Overload names (the part after the operator in `aten.add.Tensor`), longest first.
_OVERLOADS = sorted({"default", "out", "tensor", "scalar", "int", "dim", "dims", "self", "input",
                     "other", "using_ints", "start_step", "start", "step", "intlist", "tensor_out",
                     "scalar_out", "dim_intlist", "correction", "memory_format", "vec"},
                    key=len, reverse=True)
_INSTANCE = re.compile(r"\s+#\d+$")
_PARENS = re.compile(r"\s*\(.*$")


def _strip_overload(name: str) -> str:
    for overload in _OVERLOADS:
        if name.endswith("_" + overload) and len(name) > len(overload) + 1:
            return name[: -len(overload) - 1]
    return name


def kind_of(name: str) -> str:
    """The kind of operator `name` is, in ATen's vocabulary; `name` lowercased when unknown."""
    text = _INSTANCE.sub("", name.strip())
    if text.startswith("Delegate/"):  # benchmark_model's row names of XNNPACK operators
        text = text.removeprefix("Delegate/")
    text = text.removeprefix("native_call_")
    lowered = text.lower()
    if "(" in text:  # XNNPACK: "Convolution (NHWC, F32) IGEMM", "Mean (ND) Reduce2"
        head = _PARENS.sub("", lowered).strip()
        return XNNPACK_KINDS.get(head, head.replace(" ", "_"))
    if lowered in XNNPACK_KINDS:
        return XNNPACK_KINDS[lowered]
    if lowered in TFLITE_KINDS:
        return TFLITE_KINDS[lowered]
    for separator in ("::", "."):  # aten::gelu, aten.gelu.default, cumsum.out
        parts = lowered.split(separator)
        if len(parts) > 1:
            if parts[0] in _NAMESPACES:
                parts = parts[1:]
            return _SAME.get(parts[0], parts[0])
    for namespace in _NAMESPACES:  # aten_cumsum_default, dim_order_ops__to_dim_order_copy_default
        if lowered.startswith(namespace + "_"):
            base = _strip_overload(lowered[len(namespace) + 1:])
            return _SAME.get(base, base)
    return _SAME.get(lowered, lowered)


def matches(rule_name: str, operator: str, kind: str) -> bool:
    """Whether a rule's operator name (`aten.gelu`, `GELU`, `Convolution (NHWC, F32) IGEMM`)
    names this row: the same kind, or the runtime's own name exactly (any case)."""
    return kind_of(rule_name) == kind or rule_name.strip().lower() == operator.strip().lower()
