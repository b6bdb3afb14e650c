"""What an export produces (`Artifact`), what a format is (`FormatSpec`), and the format registry.

A format module (executorch.py, tflite.py, ...) registers one `FormatSpec` per CLI name with
`register_format`; every module in `harness.export` is imported on first use, so a new format is
one new file (or one more `register_format` call for a variant of an existing runtime).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from harness.errors import UnknownFormatError

ARTIFACT_OK = "ok"
ARTIFACT_EXPORT_FAILED = "export_failed"
ARTIFACT_UNSUPPORTED = "unsupported"
ARTIFACT_NUMERICS_FAILED = "numerics_failed"  # exported and measurable, but outputs disagree

# Modules of this package that are infrastructure, not formats.
_NOT_FORMATS = {"base", "cache", "calibration", "known_limits", "numerics", "pipeline", "reasons"}


@dataclass(frozen=True)
class Numerics:
    """How far the artifact's outputs are from eager PyTorch on the same seeded inputs."""

    max_abs_error: float
    cosine: float
    top5_agreement: float | None
    inputs: int
    passed: bool
    min_cosine: float
    min_top5: float | None = None  # None: top-5 agreement reported, not gated

    @classmethod
    def from_dict(cls, data: dict) -> "Numerics":
        return cls(**data)


@dataclass(frozen=True)
class Artifact:
    """One model exported to one format, or the reason it could not be."""

    model: str
    format: str
    status: str
    cache_key: str
    path: str | None = None
    sha256: str = ""
    size_bytes: int = 0
    export_s: float = 0.0
    backend: str = ""
    precision: str = "fp32"
    host_runnable: bool = False
    exporter_versions: dict[str, str] = field(default_factory=dict)
    numerics: Numerics | None = None
    details: dict = field(default_factory=dict)
    reason: str = ""
    cached: bool = False

    @property
    def measurable(self) -> bool:
        return self.status in (ARTIFACT_OK, ARTIFACT_NUMERICS_FAILED) and self.path is not None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Artifact":
        data = dict(data)
        if data.get("numerics"):
            data["numerics"] = Numerics.from_dict(data["numerics"])
        return cls(**data)

    def with_(self, **changes) -> "Artifact":
        return replace(self, **changes)


ExportFn = Callable[..., dict]


@dataclass(frozen=True)
class FormatSpec:
    """A CLI format name and how to build it.

    `export(model, example_inputs, path)` writes the artifact to `path` and returns details
    (delegation coverage, operator counts) to store beside it; it raises on failure. A format
    with `needs_calibration` is called as `export(model, example_inputs, path, calibration=...)`
    with a `harness.export.calibration.CalibrationSet`.
    """

    name: str
    suffix: str
    backend: str
    precision: str
    export: ExportFn = field(compare=False, repr=False)
    versions: Callable[[], dict[str, str]] = field(compare=False, repr=False)
    host_runnable: bool = True
    # Minimum cosine against eager; None takes the precision's threshold from numerics.THRESHOLDS.
    min_cosine: float | None = None
    description: str = ""
    needs_calibration: bool = False
    # Why an artifact that is not host-runnable cannot run here, for the matrix and reports.
    not_runnable_reason: str = ""
    # Backends the host runtime can run this artifact on, each checked for numerics on its
    # own (Core ML on macOS: one per compute unit); empty means the runtime's default only.
    runtime_variants: tuple[str, ...] = ()

    @property
    def threshold(self):
        """The `numerics.Threshold` this format's outputs must reach."""
        from harness.export.numerics import Threshold, threshold_for

        base = threshold_for(self.precision)
        if self.min_cosine is None:
            return base
        return Threshold(min_cosine=self.min_cosine, min_top5=base.min_top5)


_FORMATS: dict[str, FormatSpec] = {}
_LOADED = False


def register_format(spec: FormatSpec) -> FormatSpec:
    if spec.name in _FORMATS:
        raise ValueError(f"Format {spec.name!r} is registered twice.")
    _FORMATS[spec.name] = spec
    return spec


def _load_formats() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    package = importlib.import_module("harness.export")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in _NOT_FORMATS and not info.name.startswith("_"):
            importlib.import_module(f"harness.export.{info.name}")


def all_formats() -> list[FormatSpec]:
    _load_formats()
    return list(_FORMATS.values())


def get_format(name: str) -> FormatSpec:
    _load_formats()
    try:
        return _FORMATS[name]
    except KeyError:
        raise UnknownFormatError(name, sorted(_FORMATS)) from None


def resolve_formats(selector: str) -> list[FormatSpec]:
    """`all`, or a comma list of format names."""
    names = [p.strip() for p in selector.split(",") if p.strip()]
    if names == ["all"]:
        return all_formats()
    if not names:
        raise UnknownFormatError(selector, sorted(f.name for f in all_formats()))
    return [get_format(n) for n in dict.fromkeys(names)]
