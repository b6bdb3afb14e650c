"""Runtimes on this machine, one loader per runtime, chosen by the runtime's name.

A format names its runtime (`executorch`, `litert`, `onnxruntime`, `torch`, `coreml`); the
request carries it, and this module loads the artifact with that runtime. Whether a runtime runs
here is decided when asked (`support()`): its Python package is installed, and the platform is
one it runs on (Core ML, and ExecuTorch's Core ML and MPS delegates, only on macOS).

Each loader returns a `LoadedModel` whose `bind(inputs)` gives a zero-argument callable that
runs exactly one inference on inputs already converted to the runtime's own types, so the timed
loop measures the runtime call and nothing of ours. `infer(inputs)` returns numpy outputs for
numerics checks. Imports of the runtimes are local to each loader: a machine needs only the
runtimes it uses.

`backend` (the request's backend field) picks a variant where a runtime has several: for Core ML
packages, `coreml:<compute units>` with the units one of `COREML_COMPUTE_UNITS`; the other
runtimes have one way to run and ignore it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from device_runners.errors import DeviceError
from device_runners.runner import RuntimeSupport

# Core ML compute units, as coremltools spells them (lower case), in the order a sweep times them.
COREML_COMPUTE_UNITS = ("cpu_only", "cpu_and_gpu", "cpu_and_ne", "all")
APPLE_ONLY = "runs on macOS/iOS only, not on this host"


class UnsupportedArtifact(DeviceError):
    """This machine cannot run this artifact (wrong platform or runtime missing)."""


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _on_macos() -> bool:
    return platform.system() == "Darwin"


@dataclass
class LoadedModel:
    runtime: str
    versions: dict[str, str]
    bind: Callable[[list[np.ndarray]], Callable[[], object]]
    infer: Callable[[list[np.ndarray]], list[np.ndarray]]
    details: dict = field(default_factory=dict)


def _load_executorch(path: Path, threads: int, backend: str) -> LoadedModel:
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


def _load_litert(path: Path, threads: int, backend: str) -> LoadedModel:
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


def _load_onnxruntime(path: Path, threads: int, backend: str) -> LoadedModel:
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


def _load_torch(path: Path, threads: int, backend: str) -> LoadedModel:
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
        raise ValueError(f"unknown Core ML compute units {units!r}; use one of "
                                  f"{', '.join(COREML_COMPUTE_UNITS)}")
    return units


def _load_coreml(path: Path, threads: int, backend: str) -> LoadedModel:
    """Core ML package on macOS, on the compute units the backend names.

    Core ML schedules its own threads; `threads` cannot be honoured and is not recorded as such.
    Outputs may be fp16 (ML programs targeting iOS 16 keep fp16 outputs); they are widened to
    fp32 for comparisons.
    """
    if not _on_macos():
        raise UnsupportedArtifact(f"Core ML {APPLE_ONLY}.")
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


@dataclass(frozen=True)
class HostRuntime:
    """How this machine runs one runtime: the loader, and what must be installed for it."""

    load: Callable[[Path, int, str], LoadedModel]
    # The Python modules the loader imports. Importing them is a cost of Python, not of loading
    # a model (an app links the runtime), so the worker imports them before the load clock.
    modules: tuple[str, ...]
    package: str  # what to pip install when the runtime is missing
    macos_only: bool = False
    # Delegates the runtime has only on macOS (ExecuTorch's Core ML and MPS backends).
    macos_only_backends: tuple[str, ...] = ()
    # Delegates the installed package lacks on every host, and why (ExecuTorch's Vulkan).
    absent_backends: Mapping[str, str] = field(default_factory=dict)


RUNTIMES: dict[str, HostRuntime] = {
    "executorch": HostRuntime(
        _load_executorch,
        ("torch", "executorch.extension.pybindings.portable_lib", "executorch.runtime"),
        "executorch", macos_only_backends=("coreml", "mps"),
        absent_backends={"vulkan": "ExecuTorch's pip wheel has no Vulkan backend: the vulkan "
                                   "delegate runs on Android GPUs, in a native runner built with "
                                   "EXECUTORCH_BUILD_VULKAN=ON (docs/android.md)"},
    ),
    "litert": HostRuntime(_load_litert, ("ai_edge_litert.interpreter",), "ai-edge-litert"),
    "onnxruntime": HostRuntime(_load_onnxruntime, ("onnxruntime",), "onnxruntime"),
    "torch": HostRuntime(_load_torch, ("torch",), "torch"),
    "coreml": HostRuntime(_load_coreml, ("coremltools",), "coremltools", macos_only=True),
}


def _installed(runtime: HostRuntime) -> bool:
    # Only the top-level package is looked up: find_spec of a submodule would import its parent.
    return all(importlib.util.find_spec(m.partition(".")[0]) is not None for m in runtime.modules)


def support() -> RuntimeSupport:
    """What this machine can run now: installed runtimes on a platform they run on."""
    available, missing, missing_backends = set(), {}, {}
    macos = _on_macos()
    for name, runtime in RUNTIMES.items():
        if runtime.macos_only and not macos:
            missing[name] = f"{name} {APPLE_ONLY}"
        elif not _installed(runtime):
            missing[name] = (f"the {name} runtime is not installed here: "
                             f"pip install {runtime.package}")
        else:
            available.add(name)
            if not macos:
                for backend in runtime.macos_only_backends:
                    missing_backends[(name, backend)] = f"{name}'s {backend} delegate {APPLE_ONLY}"
            for backend, why in runtime.absent_backends.items():
                missing_backends[(name, backend)] = why
    return RuntimeSupport(frozenset(available), missing, missing_backends, device_label="this host")


def variants(runtime: str) -> tuple[str, ...]:
    """Backends of `runtime` this machine measures one by one: Core ML's compute units on macOS."""
    if runtime == "coreml" and _on_macos():
        return tuple(f"coreml:{units}" for units in COREML_COMPUTE_UNITS)
    return ()


def _runtime(name: str) -> HostRuntime:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise UnsupportedArtifact(f"no host runtime named {name!r}; known: "
                                  f"{', '.join(RUNTIMES)}") from None


def import_runtime(runtime: str) -> float:
    """Import a runtime's Python modules; returns the milliseconds it took."""
    t0 = time.perf_counter_ns()
    for module in _runtime(runtime).modules:
        try:
            importlib.import_module(module)
        except ImportError:
            break  # load_artifact raises the error the user should see
    return (time.perf_counter_ns() - t0) / 1e6


def load_artifact(path: str | Path, runtime: str, threads: int = 1, backend: str = "") -> LoadedModel:
    """Load `path` with `runtime`, after checking that the runtime runs here."""
    path = Path(path)
    why = support().why_not(runtime, backend.partition(":")[0])
    if why:
        raise UnsupportedArtifact(why)
    if not path.exists():
        raise FileNotFoundError(f"artifact not found: {path}")
    return _runtime(runtime).load(path, threads, backend)
