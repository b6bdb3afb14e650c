"""What an export produces (`Artifact`), what a format is (`FormatSpec`), and the format registry.

A format module (executorch.py, tflite.py, ...) registers one `FormatSpec` per CLI name with
`register_format`, and is listed in `FORMAT_MODULES`: a new format is one new file and one entry
there (or one more `register_format` call for a variant of an existing runtime).

A format names the runtime that runs it (`runtime`); whether that runtime runs on a device is
the device runner's knowledge, decided at run time, never stored here.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Callable

from device_runners.install_hint import pip_install_extra
from harness.errors import HarnessError, UnknownFormatError
from harness.export.numerics import Numerics, Threshold, threshold_for

ARTIFACT_OK = "ok"
ARTIFACT_EXPORT_FAILED = "export_failed"
ARTIFACT_UNSUPPORTED = "unsupported"
ARTIFACT_NUMERICS_FAILED = "numerics_failed"  # exported and measurable, but outputs disagree
# The model itself could not be built (its factory or forward raised, its weights did not load,
# it ran out of time or memory): every format of it fails this way, and nothing is cached.
ARTIFACT_BUILD_FAILED = "build_failed"

# The format modules, each registering its formats on import (like timm's models/__init__.py).
FORMAT_MODULES = ("executorch", "tflite", "coreml", "onnx", "eager")


class MissingExporter(HarnessError):
    """A format's exporter packages are not installed; the message names the extra to install."""


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
    runtime: str = ""  # the runtime that runs it (FormatSpec.runtime)
    exporter_versions: dict[str, str] = field(default_factory=dict)
    numerics: Numerics | None = None
    details: dict = field(default_factory=dict)
    reason: str = ""
    cached: bool = False
    # What the user should know about how this artifact came to be ("exported again: the cached
    # file did not match its sha256"); shown with the cell, stored with the record.
    notes: tuple[str, ...] = ()

    @property
    def measurable(self) -> bool:
        return self.status in (ARTIFACT_OK, ARTIFACT_NUMERICS_FAILED) and self.path is not None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Artifact":
        """An artifact as stored; keys of other versions (`host_runnable`, once) are dropped."""
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        if data.get("numerics"):
            data["numerics"] = Numerics.from_dict(data["numerics"])
        data["notes"] = tuple(data.get("notes") or ())
        return cls(**data)

    def with_(self, **changes) -> "Artifact":
        return replace(self, **changes)


ExportFn = Callable[..., dict]


@dataclass(frozen=True)
class FormatSpec:
    """A CLI format name, the runtime that runs it, and how to build it.

    `export(model, example_inputs, path)` writes the artifact to `path` and returns details
    (delegation coverage, operator counts) to store beside it; it raises on failure. A format
    with `needs_calibration` is called as `export(model, example_inputs, path, calibration=...)`
    with a `harness.export.calibration.CalibrationSet`. `versions()` gives the exporter
    packages' versions; `extra` is the pip extra that installs them.
    """

    name: str
    suffix: str
    runtime: str  # executorch, litert, onnxruntime, torch, coreml: what a runner dispatches on
    backend: str
    precision: str
    export: ExportFn = field(compare=False, repr=False)
    versions: Callable[[], dict[str, str]] = field(compare=False, repr=False)
    extra: str = ""
    # Minimum cosine against eager; None takes the precision's threshold from numerics.THRESHOLDS.
    min_cosine: float | None = None
    description: str = ""
    needs_calibration: bool = False
    # Where the format stands in every table that lists formats (lower first: what a reader
    # compares first), and how long one export of a small model takes on 2 cores before the
    # cache knows better (harness.report.estimate).
    order: int = 100
    export_estimate_s: float = 60.0
    # The runtimes papers name that this format reproduces ("core ml", "tflite", ...), and how
    # well it does among the formats that do (lower first); the paper check reads both.
    paper_names: tuple[str, ...] = ()
    paper_rank: int = 100
    # The module of the per-layer numerics pass that names the layer where a failed check's
    # error appears (harness.placement.layer_numerics); "" for a format without one.
    layer_pass: str = ""

    @property
    def threshold(self) -> Threshold:
        """The `numerics.Threshold` this format's outputs must reach."""
        base = threshold_for(self.precision)
        if self.min_cosine is None:
            return base
        return Threshold(min_cosine=self.min_cosine, min_top5=base.min_top5)

    def exporter_versions(self) -> dict[str, str]:
        """`versions()`, or MissingExporter naming the extra when a package is not installed."""
        try:
            return self.versions()
        except importlib.metadata.PackageNotFoundError as exc:
            install = pip_install_extra(self.extra) if self.extra else f"pip install {exc.name}"
            raise MissingExporter(f"the {self.name} exporter needs {exc.name}, which is not "
                                  f"installed: {install}") from None


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
    for module in FORMAT_MODULES:
        importlib.import_module(f"harness.export.{module}")


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
