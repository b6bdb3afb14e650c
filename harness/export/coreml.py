"""Core ML `.mlpackage` exports with coremltools, the way its documentation converts PyTorch:
`torch.export` with the core decompositions left to coremltools (`run_decompositions({})`), an
ML program, deployment target iOS 16 (so an iPhone 12 runs it).

- `coreml`: fp16 compute precision, coremltools' default for ML programs and what the Neural
  Engine executes.
- `coreml-fp32`: fp32 compute precision (CPU and GPU only; the Neural Engine has no fp32).

Linux can build a package but not run one, so after saving, the package's spec is loaded back
from disk and checked: the input and output shapes against the model's, the compute precision
against the format's (`check_spec`); a miss fails the export. The details store the ML program's
operators by type and how many run in fp16 and in fp32. Where Core ML runs (the host runner
decides: macOS), the numerics check runs once per compute unit (cpu_only, cpu_and_gpu,
cpu_and_ne, all), also on a package exported elsewhere and found in the cache.
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

# iOS 16 is Core ML specification version 7.
IOS16_SPECIFICATION_VERSION = 7
# Ops whose output type says nothing about the compute precision.
_NOT_COMPUTE = {"const", "cast"}


class SpecCheckError(ValueError):
    """The saved package does not match the model or the format."""


def _versions() -> dict[str, str]:
    return {"coremltools": importlib.metadata.version("coremltools"), "torch": torch.__version__}


@contextlib.contextmanager
def quiet_coremltools():
    """coremltools warns about untested versions on import and draws progress bars on every
    conversion; ExecuTorch's Core ML backend logs every partition. None of it is the harness's
    output: the matrix and the log file carry what matters."""
    loggers = [logging.getLogger(name) for name in ("coremltools", "executorch.backends.apple.coreml")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def program_summary(spec) -> dict:
    """Operators of the ML program's main function by type, and compute ops by output dtype."""
    from coremltools.proto import MIL_pb2

    function = spec.mlProgram.functions["main"]
    block = function.block_specializations[function.opset]
    operators = collections.Counter(op.type for op in block.operations)
    dtypes = collections.Counter()
    for op in block.operations:
        if op.type in _NOT_COMPUTE:
            continue
        for output in op.outputs:
            if output.type.HasField("tensorType"):
                dtypes[MIL_pb2.DataType.Name(output.type.tensorType.dataType)] += 1
    return {
        "opset": function.opset,
        "operators": dict(sorted(operators.items())),
        "compute_ops": sum(n for op, n in operators.items() if op not in _NOT_COMPUTE),
        "compute_dtypes": dict(sorted(dtypes.items())),
    }


def _shapes(features) -> list[list[int]]:
    return [list(f.type.multiArrayType.shape) for f in features]


def check_spec(spec, input_shapes: list[list[int]], output_shapes: list[list[int]], precision: str) -> dict:
    """The package's shapes, deployment target and compute precision, or SpecCheckError."""
    summary = program_summary(spec)
    found = {
        "specification_version": spec.specificationVersion,
        "inputs": _shapes(spec.description.input),
        "outputs": _shapes(spec.description.output),
    }
    if found["inputs"] != input_shapes:
        raise SpecCheckError(f"package inputs {found['inputs']} != model inputs {input_shapes}")
    if found["outputs"] != output_shapes:
        raise SpecCheckError(f"package outputs {found['outputs']} != model outputs {output_shapes}")
    if spec.specificationVersion < IOS16_SPECIFICATION_VERSION:
        raise SpecCheckError(f"specification version {spec.specificationVersion} is older than iOS 16's")
    dtypes = summary["compute_dtypes"]
    fp16, fp32 = dtypes.get("FLOAT16", 0), dtypes.get("FLOAT32", 0)
    if precision == "fp16" and fp32:
        raise SpecCheckError(f"{fp32} compute ops run in fp32 in an fp16 package")
    if precision == "fp32" and fp16:
        raise SpecCheckError(f"{fp16} compute ops run in fp16 in an fp32 package")
    return {**summary, "spec": found, "compute_precision": precision}


def _export_coreml(model: nn.Module, example_inputs, path: Path, precision: str) -> dict:
    ep = torch.export.export(model, tuple(example_inputs)).run_decompositions({})
    with quiet_coremltools():
        import coremltools as ct

        compute_precision = {"fp16": ct.precision.FLOAT16, "fp32": ct.precision.FLOAT32}[precision]
        package = ct.convert(
            ep,
            convert_to="mlprogram",
            minimum_deployment_target=ct.target.iOS16,
            compute_precision=compute_precision,
        )
    package.save(str(path))
    with torch.no_grad():
        outputs = model(*example_inputs)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return check_spec(
        ct.utils.load_spec(str(path)),
        [list(x.shape) for x in example_inputs],
        [list(y.shape) for y in outputs],
        precision,
    )


def export_coreml_fp16(model: nn.Module, example_inputs, path: Path) -> dict:
    return _export_coreml(model, example_inputs, path, "fp16")


def export_coreml_fp32(model: nn.Module, example_inputs, path: Path) -> dict:
    return _export_coreml(model, example_inputs, path, "fp32")


register_format(
    FormatSpec(
        name="coreml",
        suffix=".mlpackage",
        runtime="coreml",
        backend="coreml",
        precision="fp16",
        export=export_coreml_fp16,
        versions=_versions,
        description="Core ML ML program, fp16 compute, iOS 16",
        extra="coreml",
        order=40,
        export_estimate_s=40.0,
        paper_names=('core ml',),
        paper_rank=4,
    )
)

register_format(
    FormatSpec(
        name="coreml-fp32",
        suffix=".mlpackage",
        runtime="coreml",
        backend="coreml",
        precision="fp32",
        export=export_coreml_fp32,
        versions=_versions,
        description="Core ML ML program, fp32 compute, iOS 16",
        extra="coreml",
        order=41,
        export_estimate_s=40.0,
        paper_names=('core ml',),
        paper_rank=5,
    )
)
