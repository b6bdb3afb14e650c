"""A benchmark run: every model in every format on one device, in independent trials.

spec -> zoo model -> export (cached) -> runner, once per trial -> RunResults -> combined result
and statistics -> stored record. Each record is stored the moment its cell finishes; the run row
is closed as `complete`, or as `interrupted` when anything (Ctrl-C included) stops it early. A
cell that fails to export or to run is a record with its status and reason, and the run goes on.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from torch import nn

import harness
from device_runners.contract import STATUS_UNSUPPORTED, RunRequest, RunResult
from device_runners.runner import ArtifactFile, GateReport, Runner, RuntimeSupport, attach_gate
from harness.bench.protocol import BenchConfig, schedule
from harness.bench.stats import measurement_warnings, summarize_trials
from harness.bench.trials import combine_trials
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


@dataclass
class Cell:
    """One model in one format as it goes through a run: exported, then measured trial by trial."""

    spec: ModelSpec
    fmt: FormatSpec
    # The runtime variant measured (Core ML on a Mac: `coreml:cpu_and_ne`); "" is the format's own.
    variant: str = ""
    artifact: Artifact | None = None
    info: dict = field(default_factory=dict)
    request: RunRequest | None = None  # None once prepared: the cell cannot be measured
    status: str = ""  # why not, when it cannot be
    reason: str = ""
    trials: list[RunResult] = field(default_factory=list)
    stored: bool = False

    @property
    def label(self) -> str:
        """The format as records and reports name it: `coreml@cpu_and_ne` for a variant."""
        if not self.variant:
            return self.fmt.name
        return f"{self.fmt.name}@{self.variant.partition(':')[2] or self.variant}"

    @property
    def prepared(self) -> bool:
        return self.artifact is not None

    @property
    def failed(self) -> bool:
        return any(not t.ok for t in self.trials)


def prepare_cell(cell: Cell, runner: Runner, support: RuntimeSupport, config: BenchConfig) -> None:
    """Decide whether a cell whose artifact is built can be measured on this runner (the runner
    says which runtimes it runs), build its request, and let the runner stage the artifact."""
    artifact, fmt, spec = cell.artifact, cell.fmt, cell.spec
    why_not = support.why_not(fmt.runtime, fmt.backend)
    if not artifact.measurable:
        cell.status, cell.reason = artifact.status, artifact.reason
    elif why_not:
        cell.status, cell.reason = STATUS_UNSUPPORTED, why_not
    else:
        cell.request = config.request(
            model=spec.name,
            format=fmt.name,
            runtime=fmt.runtime,
            artifact_path=artifact.path,
            artifact_sha256=artifact.sha256,
            input_shape=spec.input_shape,
            backend=cell.variant or fmt.backend,
            precision=fmt.precision,
        )
        runner.prepare(ArtifactFile(artifact.path, artifact.sha256, fmt.runtime, fmt.name))


def cell_record(run_id: str, cell: Cell, device_id: str, planned_trials: int,
                interrupted: bool = False) -> BenchmarkRecord:
    """The record of a cell: its trials combined, with statistics when they all succeeded."""
    stats = None
    result = None
    status, reason = cell.status, cell.reason
    if cell.trials:
        result = combine_trials(cell.trials, planned_trials)
        status, reason = result.status, result.error
        if result.ok and cell.artifact.status == ARTIFACT_NUMERICS_FAILED:
            reason = f"measured, but {cell.artifact.reason}"
        if result.ok and result.samples_ms:
            stats = summarize_trials([t.samples_ms for t in cell.trials])
        if interrupted and len(cell.trials) < planned_trials:
            note = f"interrupted after {len(cell.trials)} of {planned_trials} trials"
            reason = f"{reason}; {note}" if reason else note
    return BenchmarkRecord(
        run_id=run_id,
        model=cell.spec.name,
        format=cell.label,
        device_id=device_id,
        status=status,
        reason=reason,
        artifact=cell.artifact.to_dict(),
        model_info=cell.info,
        result=result,
        stats=stats,
        warnings=tuple(measurement_warnings(stats, result, cell.trials)) if stats else (),
        trials=tuple(cell.trials),
    )


def measured_variants(fmt: FormatSpec, runner: Runner) -> tuple[str, ...]:
    """The runtime variants a format is measured in on this runner, "" for the format's own.

    Every variant the runner offers for the format's runtime (Core ML on a Mac: one cell per
    compute unit, cpu_only, cpu_and_gpu, cpu_and_ne, all, because which units a model lands on
    is the first question about Core ML latency); a runner without variants measures the format
    as built.
    """
    return runner.variants(fmt.runtime) or ("",)


def run_benchmarks(
    specs: list[ModelSpec],
    formats: list[FormatSpec],
    runner: Runner,
    store: Store,
    cache: ArtifactCache,
    config: BenchConfig,
    argv: str = "",
    observer: RunObserver | None = None,
    calibration_dir: Path | None = None,
) -> str:
    """Run the whole matrix; returns the run id. Re-raises KeyboardInterrupt after storing.

    Cells are measured in the order `harness.bench.protocol.schedule` gives: one cell's trials
    back to back, or (`config.interleave`) round-robin over all cells, every artifact exported
    first so the rounds are alike. Before a measurement of another model than the last one
    measured (and before the first), the runner's `gate()` runs (a pause between models and the
    thermal wait); its report travels with the next trial's result. A cell is stored as soon as
    its last trial is done, or its first failed; when the run is stopped, every cell with at
    least one finished trial is stored, its reason saying how many of its trials ran.
    `calibration_dir` holds the images int8 formats calibrate on (seeded random inputs without).
    """
    observer = observer or RunObserver()
    support = runner.runtimes()
    run_config = {
        "bench": config.to_dict(),
        "models": [s.name for s in specs],
        "formats": [f.name for f in formats],
        "calibration_images": str(calibration_dir) if calibration_dir else None,
    }
    run_id = store.begin_run(
        device=dataclasses.asdict(runner.device),
        config=run_config,
        argv=argv,
        git_sha=git_sha(),
        harness_version=harness.__version__,
    )
    cells = [Cell(spec, fmt, variant) for spec in specs for fmt in formats
             for variant in measured_variants(fmt, runner)]
    observer.run_started(run_id, len(cells))
    builds: dict[str, LazyModel] = {}
    infos: dict[str, dict] = {}

    def export(cell: Cell) -> None:
        name = cell.spec.name
        if name not in builds:
            builds[name] = LazyModel(cell.spec, config.seed)
            infos[name] = model_info(cell.spec, cache, builds[name])
        cell.info = infos[name]
        observer.cell_started(name, cell.label, "export")
        cell.artifact = export_artifact(cell.spec, cell.fmt, cache, builds[name], seed=config.seed,
                                        calibration_dir=calibration_dir)
        prepare_cell(cell, runner, support, config)

    def finish(cell: Cell, interrupted: bool = False) -> None:
        record = cell_record(run_id, cell, runner.device.device_id, config.trials, interrupted)
        record = dataclasses.replace(record, id=store.add_record(record))
        cell.stored = True
        observer.cell_finished(record)

    status = RUN_INTERRUPTED
    try:
        if config.interleave:
            for cell in cells:
                export(cell)
        last_model = None
        gate: GateReport | None = None  # reported with the next trial's result
        for index, trial in schedule(len(cells), config.trials, config.interleave):
            cell = cells[index]
            if not cell.prepared:
                export(cell)
            if cell.stored:
                continue
            if cell.request is None:
                finish(cell)
                continue
            if last_model != cell.spec.name:
                observer.cell_started(cell.spec.name, cell.label, "cooldown")
                gate = runner.gate()
            observer.cell_started(cell.spec.name, cell.label, f"trial {trial + 1}/{config.trials}")
            result = attach_gate(runner.run(cell.request), gate)
            cell.trials.append(interpret_sensors(result))
            gate, last_model = None, cell.spec.name
            if cell.failed or len(cell.trials) == config.trials:
                finish(cell)
        status = RUN_COMPLETE
    except BaseException:
        for cell in cells:
            if cell.trials and not cell.stored:
                finish(cell, interrupted=True)
        raise
    finally:
        store.finish_run(run_id, status)
    return run_id
