"""Export one model to one format: cache lookup, export, numerics check, cache commit.

A converter error never escapes: it becomes an `Artifact` with status `export_failed` and a
one-line reason (`reasons.one_line_reason`), and the full traceback goes to the `harness`
logger (the run's log file). So does a format whose exporter is not installed (the reason names
the extra to install). `export_matrix` does this for every model and format.

The numerics check runs the artifact on this machine, in the runtime its format names, wherever
this machine's runner says that runtime runs (asked now, not frozen into the artifact). Where it
does not (Core ML on Linux), the artifact is cached unchecked with the reason; a later lookup on
a machine where it runs (the cache copied to a Mac) checks it there and updates the entry.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import logging
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from device_runners.host import runtimes as host_runtimes
from harness.export.on_host import NOT_CHECKED, run_on_host, unchecked_here
from harness.export.base import (
    ARTIFACT_EXPORT_FAILED,
    ARTIFACT_NUMERICS_FAILED,
    ARTIFACT_OK,
    Artifact,
    FormatSpec,
    MissingExporter,
)
from harness.export.cache import ArtifactCache, Lookup, key_inputs, key_of, sha256_of, size_of
from harness.export.calibration import calibration_set
from harness.export.numerics import compare_outputs, eager_outputs, numerics_miss, seeded_inputs
from harness.export.reasons import one_line_reason
from harness.zoo.registry import ModelSpec, create_model

log = logging.getLogger("harness.export")


def needs_check(artifact: Artifact) -> bool:
    """An artifact built where its runtime does not run, and so never checked."""
    return artifact.status == ARTIFACT_OK and artifact.numerics is None and artifact.path is not None


def check_numerics(artifact: Artifact, fmt: FormatSpec, model: nn.Module, input_shape) -> Artifact:
    """Run the artifact on seeded inputs beside eager; on each runtime variant when it has several.

    The artifact's `numerics` is the first failing variant's, else the worst one's (lowest
    cosine); with several variants, each one's figures are kept in `details["numerics_by_variant"]`.
    `details["numerics_checked_with"]` says which runtime, at which versions, on which platform.
    """
    inputs = seeded_inputs(input_shape)
    expected = eager_outputs(model, inputs)
    by_variant = {}
    for variant in host_runtimes.variants(fmt.runtime) or ("",):
        try:
            actual, versions = run_on_host(artifact.path, fmt.runtime, variant or fmt.backend, inputs)
        except Exception as exc:
            log.error("numerics check of %s/%s%s failed to run:\n%s", artifact.model, artifact.format,
                      f" ({variant})" if variant else "", traceback.format_exc())
            where = f" on {variant}" if variant else ""
            return artifact.with_(
                status=ARTIFACT_NUMERICS_FAILED,
                reason=f"exported, but could not run{where} for the numerics check: {one_line_reason(exc)}",
            )
        by_variant[variant] = compare_outputs(expected, actual, fmt.threshold)
    details = dict(artifact.details)
    details["numerics_checked_with"] = {"runtime": fmt.runtime, "versions": versions,
                                        "platform": sys.platform}
    if len(by_variant) > 1:
        details["numerics_by_variant"] = {v: dataclasses.asdict(n) for v, n in by_variant.items()}
    artifact = artifact.with_(details=details)
    failing = [v for v, n in by_variant.items() if not n.passed]
    if not failing:
        return artifact.with_(numerics=min(by_variant.values(), key=lambda n: n.cosine), reason="")
    variant = failing[0]
    where = f" on {variant}" if variant else ""
    return artifact.with_(
        status=ARTIFACT_NUMERICS_FAILED,
        numerics=by_variant[variant],
        reason=f"outputs disagree with eager{where}: {numerics_miss(by_variant[variant])}",
    )


def explain_numerics(artifact: Artifact, fmt: FormatSpec, model: nn.Module, spec: ModelSpec,
                     calibration) -> Artifact:
    """A failed check of an int8 or fp16 export, with the layer where the error appears
    (harness.placement.layer_numerics) in its details and its reason."""
    from harness.placement.layer_numerics import explain

    x = torch.from_numpy(seeded_inputs(spec.input_shape)[0])  # check input 1
    layers = explain(fmt, model, artifact.path, calibration, x)
    if layers is None:
        return artifact
    log.info("per-layer numerics of %s/%s: %s", artifact.model, artifact.format,
             layers.get("summary") or layers.get("unavailable"))
    reason = artifact.reason
    if layers.get("first_below"):
        reason = f"{reason}; {layers['summary']}"
    return artifact.with_(details={**artifact.details, "layer_numerics": layers}, reason=reason)


@dataclass(frozen=True)
class ExportPlan:
    """What exporting `spec` to `fmt` needs: its cache key and what the cache holds there.

    `ready` is the artifact to use as it is; None when the export (or a deferred numerics
    check) has to run, which needs the model built.
    """

    key: str
    inputs: dict
    versions: dict[str, str]
    calibration: object | None  # harness.export.calibration.CalibrationSet
    lookup: Lookup
    ready: Artifact | None


def uncached_failure(spec: ModelSpec, fmt: FormatSpec, why: str) -> Artifact:
    """A failed export that is not cached, because it says nothing about the model: a missing
    exporter (installing the extra changes the key), a full disk, a killed export process."""
    return Artifact(model=spec.name, format=fmt.name, status=ARTIFACT_EXPORT_FAILED, cache_key="",
                    backend=fmt.backend, precision=fmt.precision, runtime=fmt.runtime, reason=why)


def plan_export(spec: ModelSpec, fmt: FormatSpec, cache: ArtifactCache, seed: int = 0,
                calibration_dir: Path | None = None) -> ExportPlan | Artifact:
    """The plan of one export, or the failed artifact of a format whose exporter is missing.

    Runs no model code: it hashes sources, reads calibration images and looks in the cache.
    An artifact file given as it is (harness.export.given) is keyed by its own sha256.
    """
    if spec.is_given:
        from harness.export.given import given_key_inputs

        inputs = given_key_inputs(spec, fmt)
        key = key_of(inputs)
        lookup = cache.inspect(key)
        return ExportPlan(key, inputs, {}, None, lookup, lookup.artifact)
    try:
        versions = fmt.exporter_versions()
    except MissingExporter as exc:
        return uncached_failure(spec, fmt, str(exc))
    calibration = calibration_set(calibration_dir, spec.input_shape) if fmt.needs_calibration else None
    extra = {"calibration": calibration.digest} if calibration else None
    inputs = key_inputs(spec, fmt, seed, extra, versions)
    key = key_of(inputs)
    lookup = cache.inspect(key)
    hit = lookup.artifact
    ready = hit if hit is not None and not (needs_check(hit) and not unchecked_here(fmt)) else None
    return ExportPlan(key, inputs, versions, calibration, lookup, ready)


def _disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def export_artifact(
    spec: ModelSpec,
    fmt: FormatSpec,
    cache: ArtifactCache,
    build_model: Callable[[], nn.Module],
    seed: int = 0,
    calibration_dir: Path | None = None,
) -> Artifact:
    """The cached artifact of `spec` in `fmt`, exported and checked first when not cached.

    `calibration_dir` only matters to formats with `needs_calibration`; without it they are
    calibrated on seeded random inputs, and the artifact's details say which it was. A cached
    entry that fails verification is exported again, and the artifact's `notes` say why.
    `build_model` runs the user's model code: an error there is raised, not stored (the
    harness runs this in a child process, harness.export.isolated, and reports it per model).
    """
    plan = plan_export(spec, fmt, cache, seed, calibration_dir)
    if isinstance(plan, Artifact):
        return plan
    if plan.ready is not None:
        return plan.ready
    hit = plan.lookup.artifact
    if hit is not None:  # built where its runtime does not run: check it here, once
        checked = check_numerics(hit, fmt, build_model(), spec.input_shape)
        log.info("checked the numerics of cached %s/%s here: %s", spec.name, fmt.name, checked.status)
        return cache.update(plan.key, checked)
    notes = ()
    if plan.lookup.problem:
        notes = (f"exported again: the cached entry could not be trusted ({plan.lookup.problem})",)
        log.warning("%s/%s: %s", spec.name, fmt.name, notes[0])
    model = build_model()
    staging = cache.staging_dir(plan.key)
    try:
        artifact = _export_into(staging, spec, fmt, model, plan, seed).with_(notes=notes)
        return cache.commit(plan.key, staging, artifact, plan.inputs)
    except BaseException as exc:
        cache.discard(staging)
        if not _disk_full(exc):
            raise
        log.error("export of %s to %s ran out of disk:\n%s", spec.name, fmt.name, traceback.format_exc())
        return uncached_failure(spec, fmt, f"the disk holding {cache.root} is full ({exc.strerror}): "
                                           "free space and run again").with_(notes=notes)


def _export_into(staging: Path, spec: ModelSpec, fmt: FormatSpec, model: nn.Module,
                 plan: ExportPlan, seed: int) -> Artifact:
    """Export into the staging directory and check the numerics; a converter error becomes a
    failed artifact (cached: it would fail the same way again), a full disk is raised."""
    path = staging / f"{spec.name}{fmt.suffix}"
    base = Artifact(
        model=spec.name,
        format=fmt.name,
        status=ARTIFACT_OK,
        cache_key=plan.key,
        backend=fmt.backend,
        precision=fmt.precision,
        runtime=fmt.runtime,
        exporter_versions=plan.versions,
    )
    t0 = time.perf_counter()
    try:
        example = torch.from_numpy(seeded_inputs(spec.input_shape, count=1, seed=seed)[0])
        options = {"calibration": plan.calibration} if plan.calibration else {}
        details = dict(fmt.export(model, (example,), path, **options) or {})
    except Exception as exc:
        if _disk_full(exc):
            raise
        log.error("export of %s to %s failed:\n%s", spec.name, fmt.name, traceback.format_exc())
        return base.with_(status=ARTIFACT_EXPORT_FAILED, reason=one_line_reason(exc),
                          export_s=time.perf_counter() - t0)
    if plan.calibration:
        details["calibration"] = plan.calibration.record()
    artifact = base.with_(
        path=str(path),
        sha256=sha256_of(path),
        size_bytes=size_of(path),
        export_s=time.perf_counter() - t0,
        details=details,
    )
    why_not = unchecked_here(fmt)
    if why_not:
        artifact = artifact.with_(reason=NOT_CHECKED + why_not)
    else:
        artifact = check_numerics(artifact, fmt, model, spec.input_shape)
        if artifact.status == ARTIFACT_NUMERICS_FAILED:
            artifact = explain_numerics(artifact, fmt, model, spec, plan.calibration)
    log.info("exported %s to %s: %s in %.1f s", spec.name, fmt.name, artifact.status, artifact.export_s)
    return artifact


def lazy_model(spec: ModelSpec, seed: int = 0) -> Callable[[], nn.Module]:
    """A builder that builds the model at most once, and only if an export needs it (a miss).

    In-process, for library callers and tests; `harness run` and `harness export` build in a
    child process instead (harness.export.isolated)."""
    return functools.cache(lambda: create_model(spec, seed=seed))


def export_matrix(
    specs: list[ModelSpec],
    formats: list[FormatSpec],
    cache: ArtifactCache,
    seed: int = 0,
    calibration_dir: Path | None = None,
    on_cell: Callable[[Artifact], None] | None = None,
) -> list[Artifact]:
    """Every model in every format, model by model; each model is built at most once."""
    artifacts = []
    for spec in specs:
        build = lazy_model(spec, seed)
        for fmt in formats:
            artifact = export_artifact(spec, fmt, cache, build, seed=seed, calibration_dir=calibration_dir)
            artifacts.append(artifact)
            if on_cell is not None:
                on_cell(artifact)
    return artifacts
