"""Runtimes on this machine, one loader per artifact kind, chosen by the artifact's file suffix.

Each loader returns a `LoadedModel` whose `bind(inputs)` gives a zero-argument callable that
runs exactly one inference on inputs already converted to the runtime's own types, so the timed
loop measures the runtime call and nothing of ours. `infer(inputs)` returns numpy outputs for
numerics checks.

Imports of the runtimes are local to each loader: a machine needs only the runtimes it uses.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np


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
            interpreter.set_tensor(detail["index"], x.astype(detail["dtype"], copy=False))
        return interpreter.invoke

    def infer(inputs):
        bind(inputs)()
        return [np.array(interpreter.get_tensor(d["index"])) for d in output_details]

    return LoadedModel("litert", {"ai-edge-litert": _version("ai-edge-litert")}, bind, infer)


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


def _load_coreml(path: Path, threads: int, compute_units: str = "all") -> LoadedModel:
    if platform.system() != "Darwin":
        raise UnsupportedArtifact("Core ML packages run on macOS/iOS only.")
    import coremltools as ct

    model = ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, compute_units.upper()))
    spec = model.get_spec()
    input_names = [i.name for i in spec.description.input]
    output_names = [o.name for o in spec.description.output]

    def bind(inputs):
        feed = dict(zip(input_names, inputs))
        return functools.partial(model.predict, feed)

    def infer(inputs):
        out = bind(inputs)()
        return [np.asarray(out[name]) for name in output_names]

    return LoadedModel("coreml", {"coremltools": ct.__version__}, bind, infer)


_LOADERS: dict[str, Callable[[Path, int], LoadedModel]] = {
    ".pte": _load_executorch,
    ".tflite": _load_litert,
    ".onnx": _load_onnx,
    ".pt2": _load_torch_export,
    ".mlpackage": _load_coreml,
}


def runtime_for(path: str | Path) -> str:
    suffix = Path(path).suffix
    names = {".pte": "executorch", ".tflite": "litert", ".onnx": "onnxruntime", ".pt2": "torch",
             ".mlpackage": "coreml"}
    if suffix not in names:
        raise UnsupportedArtifact(f"No host runtime for {suffix!r} files.")
    return names[suffix]


def load_artifact(path: str | Path, threads: int = 1) -> LoadedModel:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"artifact not found: {path}")
    loader = _LOADERS.get(path.suffix)
    if loader is None:
        raise UnsupportedArtifact(f"No host runtime for {path.suffix!r} files.")
    return loader(path, threads)
