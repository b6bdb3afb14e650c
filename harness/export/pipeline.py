"""Export one model to one format: cache lookup, export, numerics check, cache commit.

A converter error never escapes: it becomes an `Artifact` with status `export_failed` and a
one-line reason, and the full traceback goes to the `harness` logger (the run's log file).
"""

from __future__ import annotations

import logging
import time
import traceback
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
from harness.export.cache import ArtifactCache, cache_key, sha256_of, size_of
from harness.export.numerics import compare_outputs, eager_outputs, seeded_inputs
from harness.zoo.registry import ModelSpec

log = logging.getLogger("harness.export")

MAX_REASON_CHARS = 300


def one_line_reason(exc: BaseException) -> str:
    """The exception type and the first meaningful line of its message."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


def check_numerics(artifact: Artifact, fmt: FormatSpec, model: nn.Module, input_shape) -> Artifact:
    from device_runners.host_runtimes import load_artifact

    inputs = seeded_inputs(input_shape)
    expected = eager_outputs(model, inputs)
    try:
        loaded = load_artifact(artifact.path, threads=1)
        actual = [loaded.infer([x])[0] for x in inputs]
    except Exception as exc:
        log.error("numerics check of %s/%s failed to run:\n%s", artifact.model, artifact.format,
                  traceback.format_exc())
        return artifact.with_(
            status=ARTIFACT_NUMERICS_FAILED,
            reason=f"exported, but could not run for the numerics check: {one_line_reason(exc)}",
        )
    numerics = compare_outputs(expected, actual, fmt.min_cosine)
    if numerics.passed:
        return artifact.with_(numerics=numerics)
    return artifact.with_(
        status=ARTIFACT_NUMERICS_FAILED,
        numerics=numerics,
        reason=f"outputs disagree with eager: cosine {numerics.cosine:.5f} < {fmt.min_cosine}",
    )


def export_artifact(
    spec: ModelSpec,
    fmt: FormatSpec,
    cache: ArtifactCache,
    build_model: Callable[[], nn.Module],
    seed: int = 0,
) -> Artifact:
    key = cache_key(spec, fmt, seed)
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
        details = fmt.export(model, (example,), path) or {}
    except Exception as exc:
        log.error("export of %s to %s failed:\n%s", spec.name, fmt.name, traceback.format_exc())
        failed = base.with_(status=ARTIFACT_EXPORT_FAILED, reason=one_line_reason(exc),
                            export_s=time.perf_counter() - t0)
        return cache.commit(key, staging, failed)
    artifact = base.with_(
        path=str(path),
        sha256=sha256_of(path),
        size_bytes=size_of(path),
        export_s=time.perf_counter() - t0,
        details=details,
    )
    if fmt.host_runnable:
        artifact = check_numerics(artifact, fmt, model, spec.input_shape)
    return cache.commit(key, staging, artifact)
