"""Runtimes on this machine, one loader per artifact kind, chosen by the artifact's file suffix.

Each loader returns a `LoadedModel` whose `bind(inputs)` gives a zero-argument callable that
runs exactly one inference on inputs already converted to the runtime's own types, so the timed
loop measures the runtime call and nothing of ours. `infer(inputs)` returns numpy outputs for
numerics checks.

Imports of the runtimes are local to each loader: a machine needs only the runtimes it uses.

`backend` (the request's backend field) picks a variant where a runtime has several: for Core ML
packages, `coreml:<compute units>` with the units one of `COREML_COMPUTE_UNITS`.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np


# Core ML compute units, as coremltools spells them (lower case), in the order a sweep times them.
COREML_COMPUTE_UNITS = ("cpu_only", "cpu_and_gpu", "cpu_and_ne", "all")


class UnsupportedArtifact(RuntimeError):
    """This machine cannot run this artifact (wrong platform or runtime missing)."""


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class LoadedModel:
    runtime: str
    versions: dict[str, str]
    bind: Callable[[list[np.ndarray]], Callable[[], object]]
    infer: Callable[[list[np.ndarray]], list[np.ndarray]]
    details: dict = field(default_factory=dict)


def _load_executorch(path: Path, threads: int) -> LoadedModel:
    import torch
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    # XNNPACK's thread pool is process-wide; size it before the program is loaded.
    portable_lib._unsafe_reset_threadpool(threads)
    program = Runtime.get().load_program(str(path))
    method = program.load_method("forward")

    def bind(inputs):
        tensors = [torch.from_numpy(np.ascontiguousarray(x)) for x in inputs]
        return functools.partial(method.execute, tensors)

    def infer(inputs):
        return [np.asarray(o.detach().numpy()) for o in bind(inputs)()]

    return LoadedModel(
        "executorch",
        {"executorch": _version("executorch"), "torch": _version("torch")},
        bind,
        infer,
        {"threadpool_threads": portable_lib._threadpool_get_thread_count()},
    )


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float input to an integer input tensor with its scale and zero point (int8 models take
    quantized images, as an app would feed them); other inputs are only cast."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if dtype.kind not in "iu" or not scale:
        return x.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if y.dtype.kind not in "iu" or not scale:
        return y
    return ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)


def _load_litert(path: Path, threads: int) -> LoadedModel:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    input_details = interpreter.get_input_details()
    output_details = interpreter.get_output_details()

    def bind(inputs):
        if len(inputs) != len(input_details):
            raise ValueError(f"model takes {len(input_details)} inputs, got {len(inputs)}")
        for detail, x in zip(input_details, inputs):
            interpreter.set_tensor(detail["index"], _quantize(x, detail))
        return interpreter.invoke

    def infer(inputs):
        bind(inputs)()
        return [_dequantize(np.array(interpreter.get_tensor(d["index"])), d) for d in output_details]

    io_dtypes = {"input_dtypes": [np.dtype(d["dtype"]).name for d in input_details]}
    return LoadedModel("litert", {"ai-edge-litert": _version("ai-edge-litert")}, bind, infer, io_dtypes)


def _load_onnx(path: Path, threads: int) -> LoadedModel:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def bind(inputs):
        feed = dict(zip(names, inputs))
        return functools.partial(session.run, None, feed)

    def infer(inputs):
        return [np.asarray(o) for o in bind(inputs)()]

    return LoadedModel("onnxruntime", {"onnxruntime": ort.__version__}, bind, infer)


def _load_torch_export(path: Path, threads: int) -> LoadedModel:
    import torch

    torch.set_num_threads(threads)
    torch.set_grad_enabled(False)
    module = torch.export.load(str(path)).module()

    def bind(inputs):
        tensors = [torch.from_numpy(np.ascontiguousarray(x)) for x in inputs]
        return functools.partial(module, *tensors)

    def infer(inputs):
        out = bind(inputs)()
        outs = out if isinstance(out, (list, tuple)) else [out]
        return [o.detach().numpy() for o in outs]

    return LoadedModel("torch", {"torch": torch.__version__}, bind, infer)


def coreml_compute_units(backend: str) -> str:
    """The compute units named by a backend string (`coreml:cpu_and_ne`); `all` by default."""
    _, _, units = backend.partition(":")
    units = units or "all"
    if units not in COREML_COMPUTE_UNITS:
        raise ValueError(f"unknown Core ML compute units {units!r}; use one of {', '.join(COREML_COMPUTE_UNITS)}")
    return units


def _load_coreml(path: Path, threads: int, backend: str = "") -> LoadedModel:
    """Core ML package on macOS, on the compute units the backend names.

    Core ML schedules its own threads; `threads` cannot be honoured and is not recorded as such.
    Outputs may be fp16 (ML programs targeting iOS 16 keep fp16 outputs); they are widened to
    fp32 for comparisons.
    """
    if platform.system() != "Darwin":
        raise UnsupportedArtifact("Core ML packages run on macOS/iOS only.")
    import coremltools as ct

    units = coreml_compute_units(backend)
    model = ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, units.upper()))
    spec = model.get_spec()
    input_names = [i.name for i in spec.description.input]
    output_names = [o.name for o in spec.description.output]

    def bind(inputs):
        feed = {name: np.ascontiguousarray(x, dtype=np.float32) for name, x in zip(input_names, inputs)}
        return functools.partial(model.predict, feed)

    def infer(inputs):
        out = bind(inputs)()
        return [np.asarray(out[name], dtype=np.float32) for name in output_names]

    return LoadedModel("coreml", {"coremltools": ct.__version__, "macos": platform.mac_ver()[0]},
                       bind, infer, {"compute_units": units})


_LOADERS: dict[str, Callable[..., LoadedModel]] = {
    ".pte": _load_executorch,
    ".tflite": _load_litert,
    ".onnx": _load_onnx,
    ".pt2": _load_torch_export,
    ".mlpackage": _load_coreml,
}
# Loaders that take a backend variant; the others have one way to run.
_TAKES_BACKEND = {".mlpackage"}


def runtime_for(path: str | Path) -> str:
    suffix = Path(path).suffix
    names = {".pte": "executorch", ".tflite": "litert", ".onnx": "onnxruntime", ".pt2": "torch",
             ".mlpackage": "coreml"}
    if suffix not in names:
        raise UnsupportedArtifact(f"No host runtime for {suffix!r} files.")
    return names[suffix]


# The Python modules each loader imports. Importing them is a cost of Python, not of loading a
# model (an app links the runtime), so the worker imports them before it starts the load clock.
_RUNTIME_MODULES = {
    ".pte": ("torch", "executorch.extension.pybindings.portable_lib", "executorch.runtime"),
    ".tflite": ("ai_edge_litert.interpreter",),
    ".onnx": ("onnxruntime",),
    ".pt2": ("torch",),
    ".mlpackage": ("coremltools",),
}


def import_runtime(path: str | Path) -> float:
    """Import the runtime for this artifact; returns the milliseconds it took (0 if unknown)."""
    import importlib
    import time

    t0 = time.perf_counter_ns()
    for module in _RUNTIME_MODULES.get(Path(path).suffix, ()):
        try:
            importlib.import_module(module)
        except ImportError:
            break  # load_artifact raises the error the user should see
    return (time.perf_counter_ns() - t0) / 1e6


def load_artifact(path: str | Path, threads: int = 1, backend: str = "") -> LoadedModel:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"artifact not found: {path}")
    loader = _LOADERS.get(path.suffix)
    if loader is None:
        raise UnsupportedArtifact(f"No host runtime for {path.suffix!r} files.")
    if path.suffix in _TAKES_BACKEND:
        return loader(path, threads, backend)
    return loader(path, threads)
