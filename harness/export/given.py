"""Artifacts the user already has: `--models path/to/model.tflite` (or .pte, .onnx, .mlpackage).

A mobile engineer usually has the file their app ships, not the PyTorch code that made it. Such a
file is measured as it is: no export, one row per file, the model named after the file (so
`net.tflite,net.pte` are one model in two formats, side by side).

- **Format.** From the suffix and what the file holds: a `.tflite` with integer inputs is
  `tflite-int8`, one with float16 tensors `tflite-fp16`, else `tflite`; a `.pte` is
  `executorch` with an XNNPACK delegate, `executorch-coreml` / `executorch-vulkan` with those,
  `executorch-portable` with none (the delegate ids are read from the program's bytes); `.onnx`
  is `onnx`; `.mlpackage` is `coreml`.
- **Input.** From the file's own signature (its first input's shape), or `--input-shape` where
  the signature has none (a dynamic dimension) or to override it.
- **Cache.** The file is hashed and copied into the artifact cache under a key of its sha256,
  so a run measures the bytes it hashed even if the file changes meanwhile, and a second run
  copies nothing.
- **Numerics.** Against another file of the same model given with `--numerics-reference` (say
  the `.onnx` it was converted from): both run on the same seeded inputs on this machine and the
  outputs are compared with the file's format's thresholds; those reference outputs are also
  what a device's outputs are checked against. Without one, the check is skipped and the cell
  says so.

Reading a file's signature runs its runtime's native parser, which a damaged file can crash:
the harness reads it in a child process (`python -m harness.export.given FILE`) with a timeout,
and the import itself runs in the export child like any export (harness.export.isolated).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from harness.errors import HarnessError, UsageError

# File suffix -> the runtime that reads it.
GIVEN_SUFFIXES = {".tflite": "litert", ".pte": "executorch", ".onnx": "onnxruntime",
                  ".mlpackage": "coreml"}
SIGNATURE_TIMEOUT_S = 180.0  # importing ExecuTorch alone takes 5 s; a loaded machine, much more
# The delegate ids of a .pte, as the partitioners name them, and the format each makes.
PTE_DELEGATES = {b"CoreMLBackend": "executorch-coreml", b"VulkanBackend": "executorch-vulkan",
                 b"XnnpackBackend": "executorch"}
NO_REFERENCE = ("numerics not checked: no --numerics-reference given (another file of the same "
                "model, such as the .onnx it was converted from)")


def formats_for(spec, formats: list) -> list:
    """The formats a model is measured in: a given file's own, else those asked for."""
    if not spec.is_given:
        return list(formats)
    from harness.export.base import get_format

    return [get_format(name) for name, _ in spec.given]


def is_given_file(part: str) -> bool:
    """Whether a `--models` entry names an artifact file rather than a model."""
    return Path(part).suffix.lower() in GIVEN_SUFFIXES


def model_name(path: Path) -> str:
    """The model a file stands for: its stem, in the characters model names use."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", path.stem).strip("_").lower() or "model"


# ----------------------------------------------------------------------------------------------
# The file's signature (run in a child process: see the module docstring)


def _dtype_name(dtype) -> str:
    import numpy as np

    return np.dtype(dtype).name


def _tflite_signature(path: Path) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    inputs = interpreter.get_input_details()
    tensors = interpreter.get_tensor_details()
    kinds = {_dtype_name(t["dtype"]) for t in tensors}
    if any(_dtype_name(i["dtype"]) in ("int8", "uint8") for i in inputs):
        fmt = "tflite-int8"
    elif "float16" in kinds:
        fmt = "tflite-fp16"
    else:
        fmt = "tflite"
    return {"format": fmt, "inputs": [{"shape": [int(v) for v in i["shape_signature"]],
                                       "dtype": _dtype_name(i["dtype"])} for i in inputs]}


def _onnx_signature(path: Path) -> dict:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    weights = {i.name for i in model.graph.initializer}
    inputs = []
    for value in model.graph.input:
        if value.name in weights:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]
        inputs.append({"shape": dims, "dtype": onnx.helper.tensor_dtype_to_np_dtype(
            value.type.tensor_type.elem_type).name})
    return {"format": "onnx", "inputs": inputs}


def _pte_signature(path: Path) -> dict:
    from executorch.runtime import Runtime

    meta = Runtime.get().load_program(str(path)).metadata("forward")
    inputs = [{"shape": [int(v) for v in meta.input_tensor_meta(i).sizes()], "dtype": "float32"}
              for i in range(meta.num_inputs())]
    data = path.read_bytes()
    fmt = next((name for marker, name in PTE_DELEGATES.items() if marker in data), "executorch-portable")
    return {"format": fmt, "inputs": inputs}


def _mlpackage_signature(path: Path) -> dict:
    from coremltools.utils import load_spec

    spec = load_spec(str(path))
    inputs = [{"shape": [int(v) for v in i.type.multiArrayType.shape], "dtype": "float32"}
              for i in spec.description.input]
    return {"format": "coreml", "inputs": inputs}


READERS = {".tflite": _tflite_signature, ".onnx": _onnx_signature, ".pte": _pte_signature,
           ".mlpackage": _mlpackage_signature}


def read_signature(path: Path) -> dict:
    """{"format": name, "inputs": [{"shape": [...], "dtype": ...}]}, in this process."""
    return READERS[path.suffix.lower()](path)


def signature_in_child(path: Path, timeout_s: float = SIGNATURE_TIMEOUT_S) -> dict:
    """`read_signature` in a child process: a file that crashes its parser is one line."""
    try:
        done = subprocess.run([sys.executable, "-m", "harness.export.given", str(path)],
                              capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"{path}: reading its signature took longer than {timeout_s:.0f} s; "
                           "is it a valid file?") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        last = next((line for line in reversed(done.stderr.splitlines()) if line.strip()), "")
        raise HarnessError(f"{path} cannot be read as a {path.suffix} file ({last[:200] or 'no output'}); "
                           "is it damaged?")
    return json.loads(lines[-1])


def given_shape(path: Path, signature: dict, input_shape: tuple[int, ...] | None) -> tuple[int, ...]:
    """The input shape to measure with: --input-shape, else the signature's first input."""
    if input_shape:
        return tuple(input_shape)
    inputs = signature.get("inputs") or []
    if len(inputs) != 1:
        raise UsageError(f"{path} takes {len(inputs)} inputs; the harness measures models of one "
                         "image input.")
    shape = inputs[0]["shape"]
    if not shape or any(v is None or v < 1 for v in shape):
        raise UsageError(f"{path}'s input has a dynamic shape ({shape}): give it with "
                         "--input-shape, e.g. --input-shape 1,3,224,224.")
    return tuple(int(v) for v in shape)


def given_specs(parts: list[str], input_shape: tuple[int, ...] | None,
                numerics_reference: str | None = None) -> list:
    """The ModelSpecs of the artifact files named on the command line: files of one stem and
    one input shape are one model in several formats."""
    from harness.zoo.registry import ModelSpec

    reference = _checked_reference(numerics_reference)
    grouped: dict[str, list] = {}
    for part in parts:
        path = Path(part)
        if not path.exists():
            raise UsageError(f"{path} does not exist; give the path of a .tflite, .pte, .onnx or "
                             ".mlpackage file.")
        signature = signature_in_child(path.resolve())
        grouped.setdefault(model_name(path), []).append(
            (signature["format"], str(path.resolve()), given_shape(path, signature, input_shape)))
    specs = []
    for name, files in grouped.items():
        shapes = {shape for _, _, shape in files}
        if len(shapes) > 1:
            raise UsageError(f"{' and '.join(p for _, p, _ in files)} are named as one model "
                             f"({name}) but take different inputs ({', '.join(map(str, shapes))}): "
                             "rename one of them.")
        formats = [f for f, _, _ in files]
        if len(set(formats)) < len(formats):
            raise UsageError(f"{' and '.join(p for _, p, _ in files)} are both {name} in the same "
                             "format: give one, or rename the other.")
        [shape] = shapes
        specs.append(ModelSpec(
            name=name, family="file", input_size=shape[-1], factory=_no_factory, origin="file",
            reference=",".join(p for _, p, _ in files), input_channels=shape[1] if len(shape) > 1 else 1,
            shape=shape, given=tuple((f, p) for f, p, _ in files),
            numerics_reference=str(reference) if reference else ""))
    return specs


def _checked_reference(numerics_reference: str | None) -> Path | None:
    if not numerics_reference:
        return None
    reference = Path(numerics_reference).resolve()
    if not reference.exists():
        raise UsageError(f"--numerics-reference {numerics_reference} does not exist.")
    if not is_given_file(str(reference)):
        raise UsageError(f"--numerics-reference {numerics_reference} is not a .tflite, .pte, "
                         ".onnx or .mlpackage file.")
    return reference


def to_job(spec) -> dict:
    """What the export child needs to rebuild a given spec without reading the files again."""
    return {"name": spec.name, "shape": list(spec.input_shape), "given": [list(g) for g in spec.given],
            "numerics_reference": spec.numerics_reference}


def from_job(data: dict):
    from harness.zoo.registry import ModelSpec

    shape = tuple(data["shape"])
    return ModelSpec(name=data["name"], family="file", input_size=shape[-1], factory=_no_factory,
                     origin="file", reference=",".join(p for _, p in data["given"]),
                     input_channels=shape[1] if len(shape) > 1 else 1, shape=shape,
                     given=tuple((f, p) for f, p in data["given"]),
                     numerics_reference=data["numerics_reference"])


def counts_name(spec) -> str:
    """Where the cache keeps a given model's reference outputs: keyed by the reference file and
    the input shape (the files themselves have no params or MACs counted)."""
    from harness.export.cache import sha256_of

    reference = spec.numerics_reference
    digest = sha256_of(Path(reference))[:16] if reference else "noreference"
    shape = "x".join(map(str, spec.input_shape))
    return f"model-info/given-{spec.name}-{shape}-{digest}.json"


def _no_factory():
    raise HarnessError("a given artifact file has no PyTorch model to build")


# ----------------------------------------------------------------------------------------------
# Importing the file into the cache (in the export child)


def given_key_inputs(spec, fmt) -> dict:
    import inspect

    from harness.export import numerics
    from harness.export.cache import CACHE_FORMAT_VERSION, _file_digest, sha256_of

    reference = spec.numerics_reference
    payload = {
        "cache_format": CACHE_FORMAT_VERSION,
        "given": sha256_of(Path(spec.given_path(fmt.name))),
        "model": spec.name,
        "format": fmt.name,
        "input_shape": list(spec.input_shape),
        "numerics_reference": sha256_of(Path(reference)) if reference else None,
        # The thresholds decide the cached verdict.
        "sources": {"numerics.py": _file_digest(inspect.getsourcefile(numerics))},
    }
    return {"payload": payload, "source_paths": {"numerics.py": inspect.getsourcefile(numerics)}}


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copyfile(source, target)


def reference_outputs(spec) -> list | None:
    """The --numerics-reference file's outputs on the seeded check inputs, or None when there is
    none or it cannot run here (the reason is logged)."""
    from harness.export.numerics import seeded_inputs
    from harness.export.on_host import run_on_host

    if not spec.numerics_reference:
        return None
    path = Path(spec.numerics_reference)
    outputs, _ = run_on_host(str(path), GIVEN_SUFFIXES[path.suffix.lower()], "",
                              seeded_inputs(spec.input_shape))
    return outputs


def import_given(spec, fmt, cache, expected: list | None, why_no_reference: str = ""):
    """The file as a cached, checked Artifact (module docstring)."""
    from harness.export.base import ARTIFACT_NUMERICS_FAILED, ARTIFACT_OK, Artifact
    from harness.export.cache import key_of, sha256_of, size_of
    from harness.export.numerics import compare_outputs, numerics_miss, seeded_inputs
    from harness.export.on_host import NOT_CHECKED, run_on_host, unchecked_here

    inputs = given_key_inputs(spec, fmt)
    key = key_of(inputs)
    lookup = cache.inspect(key)
    if lookup.artifact is not None:
        return lookup.artifact
    source = Path(spec.given_path(fmt.name))
    staging = cache.staging_dir(key)
    target = staging / f"{spec.name}{fmt.suffix}"
    started = time.perf_counter()
    try:
        _copy(source, target)
        artifact = Artifact(
            model=spec.name, format=fmt.name, status=ARTIFACT_OK, cache_key=key, path=str(target),
            sha256=sha256_of(target), size_bytes=size_of(target), backend=fmt.backend,
            precision=fmt.precision, runtime=fmt.runtime,
            details={"given": str(source), "input_shape": list(spec.input_shape),
                     "numerics_reference": spec.numerics_reference or None},
            export_s=time.perf_counter() - started,
        )
        why_not = unchecked_here(fmt)
        if expected is None:
            artifact = artifact.with_(reason=why_no_reference or NO_REFERENCE)
        elif why_not:
            artifact = artifact.with_(reason=NOT_CHECKED + why_not)
        else:
            actual, _ = run_on_host(str(target), fmt.runtime, fmt.backend, seeded_inputs(spec.input_shape))
            numerics = compare_outputs(expected, actual, fmt.threshold)
            artifact = artifact.with_(numerics=numerics)
            if not numerics.passed:
                artifact = artifact.with_(
                    status=ARTIFACT_NUMERICS_FAILED,
                    reason=f"outputs disagree with {Path(spec.numerics_reference).name}: "
                           f"{numerics_miss(numerics)}")
        return cache.commit(key, staging, artifact, inputs)
    except BaseException:
        cache.discard(staging)
        raise


def main(argv: list[str] | None = None) -> int:
    """`python -m harness.export.given FILE`: the file's signature as one JSON line."""
    args = sys.argv[1:] if argv is None else argv
    print(json.dumps(read_signature(Path(args[0]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
