"""A benchmark run: every model in every format on one device, one cell at a time.

spec -> zoo model -> export (cached) -> runner -> RunResult -> statistics -> stored record.
Each record is stored the moment its cell finishes; the run row is closed as `complete`, or as
`interrupted` when anything (Ctrl-C included) stops it early. A cell that fails to export or to
run is a record with its status and reason, and the run goes on.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path
from typing import Callable

from torch import nn

import harness
from device_runners.contract import STATUS_OK, STATUS_UNSUPPORTED, RunResult
from harness.bench.protocol import BenchConfig
from harness.bench.stats import stability_warnings, summarize
from harness.export.base import ARTIFACT_NUMERICS_FAILED, Artifact, FormatSpec
from harness.export.cache import ArtifactCache
from harness.export.pipeline import export_artifact
from harness.store import RUN_COMPLETE, RUN_INTERRUPTED, BenchmarkRecord, Store
from harness.zoo.counting import count_macs, count_params
from harness.zoo.registry import ModelSpec, create_model


class RunObserver:
    """Hooks the CLI uses to show progress; the library works without one."""

    def run_started(self, run_id: str, cells: int) -> None: ...
    def cell_started(self, model: str, format: str, step: str) -> None: ...
    def cell_finished(self, record: BenchmarkRecord) -> None: ...


def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(harness.__file__).parent,
            capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


class LazyModel:
    """Builds a model at most once, and only if some stage needs it (cache misses do)."""

    def __init__(self, spec: ModelSpec, seed: int):
        self.spec = spec
        self.seed = seed
        self._model: nn.Module | None = None

    def __call__(self) -> nn.Module:
        if self._model is None:
            self._model = create_model(self.spec, seed=self.seed)
        return self._model


def model_info(spec: ModelSpec, cache: ArtifactCache, build: Callable[[], nn.Module]) -> dict:
    """Params, MACs and published facts of a model; the counts are cached beside the artifacts."""
    from harness.export.cache import _file_digest

    digest = "-".join(_file_digest(f)[:12] for f in spec.source_digest_inputs())
    path = cache.root / "model-info" / f"{spec.name}-{digest or 'nosource'}.json"
    if path.exists():
        counts = json.loads(path.read_text())
    else:
        model = build()
        counts = {"params": count_params(model), "macs": count_macs(model, spec.input_shape)}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(counts))
    published = dataclasses.asdict(spec.published) if spec.published else None
    return {"family": spec.family, "input_size": spec.input_size, **counts, "published": published}


def interpret_sensors(result: RunResult) -> RunResult:
    """Fill `energy` and `thermal` from the raw readings the runner returned."""
    from harness.energy import energy_from_samples, thermal_info

    changes = {}
    if result.energy_samples:
        changes["energy"] = energy_from_samples(result.energy_samples)
    readings = result.context.get("thermal_readings")
    if readings:
        changes["thermal"] = thermal_info(readings["before"], readings["after"],
                                          waited_s=result.thermal.waited_s)
    return dataclasses.replace(result, **changes) if changes else result


def measure_cell(
    spec: ModelSpec,
    fmt: FormatSpec,
    artifact: Artifact,
    runner,
    config: BenchConfig,
) -> tuple[str, str, RunResult | None]:
    """(status, reason, result) of one cell whose artifact is already built."""
    if not artifact.measurable:
        return artifact.status, artifact.reason, None
    runtimes = getattr(runner, "runtimes", None)
    if runner.kind == "host" and not artifact.host_runnable:
        return STATUS_UNSUPPORTED, f"{fmt.name} runs on macOS/iOS only, not on this host", None
    if runtimes is not None and fmt.suffix not in runtimes:
        return STATUS_UNSUPPORTED, f"{runner.device.device_id} cannot run {fmt.suffix} artifacts", None
    request = config.request(
        model=spec.name,
        format=fmt.name,
        artifact_path=artifact.path,
        artifact_sha256=artifact.sha256,
        input_shape=spec.input_shape,
        backend=fmt.backend,
        precision=fmt.precision,
    )
    result = interpret_sensors(runner.run(request))
    reason = result.error
    if result.ok and artifact.status == ARTIFACT_NUMERICS_FAILED:
        reason = f"measured, but {artifact.reason}"
    return result.status, reason, result


def make_record(run_id, spec, fmt, artifact, info, device_id, status, reason, result) -> BenchmarkRecord:
    stats = None
    warnings: tuple[str, ...] = ()
    if result is not None and result.status == STATUS_OK and result.samples_ms:
        stats = summarize(result.samples_ms)
        warnings = tuple(stability_warnings(stats))
    return BenchmarkRecord(
        run_id=run_id,
        model=spec.name,
        format=fmt.name,
        device_id=device_id,
        status=status,
        reason=reason,
        artifact=artifact.to_dict(),
        model_info=info,
        result=result,
        stats=stats,
        warnings=warnings,
    )


def run_benchmarks(
    specs: list[ModelSpec],
    formats: list[FormatSpec],
    runner,
    store: Store,
    cache: ArtifactCache,
    config: BenchConfig,
    argv: str = "",
    observer: RunObserver | None = None,
) -> str:
    """Run the whole matrix; returns the run id. Re-raises KeyboardInterrupt after storing."""
    observer = observer or RunObserver()
    runner.prepare()
    run_config = {
        "bench": config.to_dict(),
        "models": [s.name for s in specs],
        "formats": [f.name for f in formats],
    }
    run_id = store.begin_run(
        device=dataclasses.asdict(runner.device),
        config=run_config,
        argv=argv,
        git_sha=git_sha(),
        harness_version=harness.__version__,
    )
    observer.run_started(run_id, len(specs) * len(formats))
    status = RUN_INTERRUPTED
    try:
        for i, spec in enumerate(specs):
            build = LazyModel(spec, config.seed)
            info = model_info(spec, cache, build)
            for fmt in formats:
                observer.cell_started(spec.name, fmt.name, "export")
                artifact = export_artifact(spec, fmt, cache, build, seed=config.seed)
                observer.cell_started(spec.name, fmt.name, "measure")
                cell_status, reason, result = measure_cell(spec, fmt, artifact, runner, config)
                record = make_record(run_id, spec, fmt, artifact, info, runner.device.device_id,
                                     cell_status, reason, result)
                record = dataclasses.replace(record, id=store.add_record(record))
                observer.cell_finished(record)
            if i + 1 < len(specs):
                runner.cooldown()
        status = RUN_COMPLETE
    finally:
        store.finish_run(run_id, status)
    return run_id
