"""Export one model to one format: cache lookup, export, numerics check, cache commit.

A converter error never escapes: it becomes an `Artifact` with status `export_failed` and a
one-line reason (`reasons.one_line_reason`), and the full traceback goes to the `harness`
logger (the run's log file). `export_matrix` does this for every model and format.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
import traceback
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from harness.export.base import (
    ARTIFACT_EXPORT_FAILED,
    ARTIFACT_NUMERICS_FAILED,
    ARTIFACT_OK,
    Artifact,
    FormatSpec,
)
from harness.export.cache import ArtifactCache, key_inputs, key_of, sha256_of, size_of
from harness.export.calibration import calibration_set
from harness.export.numerics import compare_outputs, eager_outputs, numerics_miss, seeded_inputs
from harness.export.reasons import one_line_reason
from harness.zoo.registry import ModelSpec, create_model

log = logging.getLogger("harness.export")


def _run_on_host(path: str, backend: str, inputs) -> list:
    from device_runners.host_runtimes import load_artifact

    loaded = load_artifact(path, threads=1, backend=backend)
    return [loaded.infer([x])[0] for x in inputs]


def check_numerics(artifact: Artifact, fmt: FormatSpec, model: nn.Module, input_shape) -> Artifact:
    """Run the artifact on seeded inputs beside eager; on each runtime variant when it has several.

    The artifact's `numerics` is the first failing variant's, else the worst one's (lowest
    cosine); with several variants, each one's figures are kept in `details["numerics_by_variant"]`.
    """
    inputs = seeded_inputs(input_shape)
    expected = eager_outputs(model, inputs)
    by_variant = {}
    for variant in fmt.runtime_variants or ("",):
        try:
            actual = _run_on_host(artifact.path, variant, inputs)
        except Exception as exc:
            log.error("numerics check of %s/%s%s failed to run:\n%s", artifact.model, artifact.format,
                      f" ({variant})" if variant else "", traceback.format_exc())
            where = f" on {variant}" if variant else ""
            return artifact.with_(
                status=ARTIFACT_NUMERICS_FAILED,
                reason=f"exported, but could not run{where} for the numerics check: {one_line_reason(exc)}",
            )
        by_variant[variant] = compare_outputs(expected, actual, fmt.threshold)
    if len(by_variant) > 1:
        details = dict(artifact.details)
        details["numerics_by_variant"] = {v: dataclasses.asdict(n) for v, n in by_variant.items()}
        artifact = artifact.with_(details=details)
    failing = [v for v, n in by_variant.items() if not n.passed]
    if not failing:
        return artifact.with_(numerics=min(by_variant.values(), key=lambda n: n.cosine))
    variant = failing[0]
    where = f" on {variant}" if variant else ""
    return artifact.with_(
        status=ARTIFACT_NUMERICS_FAILED,
        numerics=by_variant[variant],
        reason=f"outputs disagree with eager{where}: {numerics_miss(by_variant[variant])}",
    )


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
    calibrated on seeded random inputs, and the artifact's details say which it was.
    """
    calibration = calibration_set(calibration_dir, spec.input_shape) if fmt.needs_calibration else None
    extra = {"calibration": calibration.digest} if calibration else None
    inputs = key_inputs(spec, fmt, seed, extra)
    key = key_of(inputs)
    hit = cache.lookup(key)
    if hit is not None:
        return hit
    staging = cache.staging_dir(key)
    path = staging / f"{spec.name}{fmt.suffix}"
    base = Artifact(
        model=spec.name,
        format=fmt.name,
        status=ARTIFACT_OK,
        cache_key=key,
        backend=fmt.backend,
        precision=fmt.precision,
        host_runnable=fmt.host_runnable,
        exporter_versions=fmt.versions(),
    )
    t0 = time.perf_counter()
    try:
        model = build_model()
        example = torch.from_numpy(seeded_inputs(spec.input_shape, count=1, seed=seed)[0])
        options = {"calibration": calibration} if calibration else {}
        details = dict(fmt.export(model, (example,), path, **options) or {})
    except Exception as exc:
        log.error("export of %s to %s failed:\n%s", spec.name, fmt.name, traceback.format_exc())
        failed = base.with_(status=ARTIFACT_EXPORT_FAILED, reason=one_line_reason(exc),
                            export_s=time.perf_counter() - t0)
        return cache.commit(key, staging, failed, inputs)
    if calibration:
        details["calibration"] = calibration.record()
    artifact = base.with_(
        path=str(path),
        sha256=sha256_of(path),
        size_bytes=size_of(path),
        export_s=time.perf_counter() - t0,
        details=details,
    )
    if fmt.host_runnable:
        artifact = check_numerics(artifact, fmt, model, spec.input_shape)
    else:
        artifact = artifact.with_(reason=fmt.not_runnable_reason)
    log.info("exported %s to %s: %s in %.1f s", spec.name, fmt.name, artifact.status, artifact.export_s)
    return cache.commit(key, staging, artifact, inputs)


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
        build = functools.cache(lambda spec=spec: create_model(spec, seed=seed))
        for fmt in formats:
            artifact = export_artifact(spec, fmt, cache, build, seed=seed, calibration_dir=calibration_dir)
            artifacts.append(artifact)
            if on_cell is not None:
                on_cell(artifact)
    return artifacts
