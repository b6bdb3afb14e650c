"""A benchmark run: every model in every format on one device, in independent trials.

spec -> export, in a child process per model (cached) -> runner, once per trial -> RunResults ->
combined result and statistics -> stored record. Each record is stored the moment its cell
finishes; the run row is closed as `complete`, or as `interrupted` when anything (Ctrl-C
included) stops it early, and carries a heartbeat meanwhile. A cell that fails to build, export
or run is a record with its status and reason, and the run goes on. A result that a runner got
wrong (NaN samples, another model's name) is refused where it enters, as a failed trial.

`resume` continues a stored run under its own id: cells stored `ok` are kept, the others are
measured again and their new records replace the old ones.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import harness
from device_runners.contract import (
    STATUS_OK,
    STATUS_RUN_FAILED,
    STATUS_UNSUPPORTED,
    RunRequest,
    RunResult,
    answer_mismatch,
    result_problems,
)
from device_runners.runner import ArtifactFile, GateReport, Runner, RuntimeSupport, attach_gate
from harness.bench.protocol import trial_order
from harness.bench.sustained import sustained_context
from harness.bench.settings import MeasurementSettings
from harness.bench.stats import measurement_warnings, narrow_enough, summarize_trials
from harness.bench.trials import combine_trials, trials_that_belong
from harness.export.base import ARTIFACT_NUMERICS_FAILED, Artifact, FormatSpec
from harness.export.cache import ArtifactCache
from harness.export.given import formats_for
from harness.export.isolated import ChildLimits, ModelExport, export_all
from harness.placement.build import with_placement
from harness.profiles import missing_reason, profile_from_trial, profile_request
from harness.export.numerics import (
    Numerics,
    check_inputs_file,
    compare_with_reference,
    numerics_miss,
)
from harness.store import RUN_COMPLETE, RUN_INTERRUPTED, BenchmarkRecord, Store, format_label
from harness.store.records import pooled as pooled_trials
from harness.errors import StoreError
from harness.zoo.registry import ModelSpec

# A record's status for a cell not measured on purpose (a quarantined device); a runner never
# returns it, so it is not one of the contract's STATUSES.
STATUS_SKIPPED = "skipped"

log = logging.getLogger("harness.run")

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


def model_info(spec: ModelSpec, counts: dict) -> dict:
    """Params, MACs (counted in the export child, cached) and the published facts of a model."""
    published = dataclasses.asdict(spec.published) if spec.published else None
    return {"family": spec.family, "input_size": spec.input_size, **counts, "published": published}


def admit(result: RunResult, request: RunRequest) -> RunResult:
    """The result as it enters the harness: a result with impossible numbers, or one answering
    another cell than asked, becomes a failed trial saying what was wrong (its context kept)."""
    problems = result_problems(result)
    mismatch = answer_mismatch(result, request)
    if mismatch:
        problems.insert(0, mismatch)
    if not problems:
        return result
    refused = RunResult.failed(request, result.device, STATUS_RUN_FAILED,
                               "the runner's result was refused: " + "; ".join(problems))
    return dataclasses.replace(refused, context=result.context)


def check_on_device(result: RunResult, cell: "Cell") -> RunResult:
    """Compare the outputs the runner computed for the check inputs with eager PyTorch's, keep
    the comparison (context["device_numerics"]) and drop the values: a record stores figures,
    not three copies of a model's output per trial."""
    if not result.check_outputs:
        return result
    context = dict(result.context)
    try:
        numerics = compare_with_reference(cell.reference, result.check_outputs, cell.fmt.threshold)
        context["device_numerics"] = dataclasses.asdict(numerics)
    except (TypeError, ValueError, KeyError) as exc:
        context["device_numerics"] = {"error": f"the check outputs cannot be compared: {exc}"}
    return dataclasses.replace(result, context=context, check_outputs=())


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
    reference: dict | None = None  # eager outputs of the check inputs, for the device check
    retried: list[str] = field(default_factory=list)  # the errors of trials tried again
    # What the profiling trial (harness.profiles) gave, None when none ran; never a trial.
    profile: dict | None = None
    # The device's spread between sessions when first asked (False: none stored), cached.
    prior: object = None

    @property
    def label(self) -> str:
        """The format as records and reports name it: `coreml@cpu_and_ne` for a variant."""
        return format_label(self.fmt.name, self.variant)

    @property
    def prepared(self) -> bool:
        return self.artifact is not None

    @property
    def failed(self) -> bool:
        return any(not t.ok for t in self.trials)


def prepare_cell(cell: Cell, runner: Runner, support: RuntimeSupport, config: MeasurementSettings,
                 check_inputs: Path | None = None) -> None:
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
            check_inputs_path=str(check_inputs) if check_inputs else "",
        )
        runner.prepare(ArtifactFile(artifact.path, artifact.sha256, fmt.runtime, fmt.name,
                                    str(check_inputs) if check_inputs else ""))


def cell_record(run_id: str, cell: Cell, device_id: str, planned_trials: int,
                interrupted: bool = False, prior=None) -> BenchmarkRecord:
    """The record of a cell: its trials combined, with statistics when they all succeeded;
    `prior` is the device's spread between sessions its interval combines with its own."""
    stats = None
    result = None
    status, reason = cell.status, cell.reason
    if cell.trials:
        # Only trials alike in device, runtime versions, artifact and settings are pooled; every
        # trial is stored all the same, and the record says which were left out and why.
        pooled, excluded = trials_that_belong(cell.trials)
        result = combine_trials(pooled, planned_trials)
        if excluded:
            result = dataclasses.replace(result, context={**result.context, "trials_excluded": excluded})
        status, reason = result.status, result.error
        if result.ok and cell.artifact.status == ARTIFACT_NUMERICS_FAILED:
            reason = f"measured, but {cell.artifact.reason}"
        elif result.ok and cell.artifact.numerics is None and cell.artifact.reason:
            reason = cell.artifact.reason  # why its outputs were not checked (a given file)
        on_device = cell.trials[0].context.get("device_numerics") or {}
        if result.ok and on_device.get("passed") is False:
            miss = numerics_miss(Numerics.from_dict(on_device))
            reason = "; ".join(filter(None, [reason, f"measured, but on the device the outputs "
                                                     f"disagree with eager: {miss}"]))
        if result.ok and result.samples_ms:
            stats = summarize_trials([t.samples_ms for t in pooled], prior=prior)
        for left_out in excluded:
            note = (f"trial {left_out['trial']} not pooled with the others: "
                    + "; ".join(left_out["differs"]))
            reason = f"{reason}; {note}" if reason else note
        if cell.profile is not None:
            # With the combined result, whose context the store keeps as it is (result_json).
            result = dataclasses.replace(result, context={**result.context,
                                                          "operator_profile": cell.profile})
            missing = missing_reason(cell.profile)
            reason = "; ".join(filter(None, [reason, missing]))
        if cell.retried:
            note = (f"retried {len(cell.retried)} time{'s' if len(cell.retried) > 1 else ''} "
                    f"after: {cell.retried[0]}")
            reason = f"{reason}; {note}" if reason else note
        if interrupted and len(cell.trials) < planned_trials:
            note = f"interrupted after {len(cell.trials)} of {planned_trials} trials"
            reason = f"{reason}; {note}" if reason else note
    # Where every operator ran (harness.placement), from the export's coverage and the profile.
    return with_placement(BenchmarkRecord(
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
        warnings=tuple(measurement_warnings(stats, result, pooled_trials(result, cell.trials))) if stats else (),
        trials=tuple(cell.trials),
    ))


def measured_variants(fmt: FormatSpec, runner: Runner) -> tuple[str, ...]:
    """The runtime variants a format is measured in on this runner, "" for the format's own.

    Every variant the runner offers for the format's runtime (Core ML on a Mac: one cell per
    compute unit, cpu_only, cpu_and_gpu, cpu_and_ne, all, because which units a model lands on
    is the first question about Core ML latency); a runner without variants measures the format
    as built.
    """
    return runner.variants(fmt.runtime) or ("",)


@dataclass(frozen=True)
class RunOptions:
    """How a run builds its artifacts, beyond what `MeasurementSettings` say about measuring them."""

    calibration_dir: Path | None = None  # images the int8 formats calibrate on
    limits: ChildLimits = field(default_factory=ChildLimits)
    log_path: Path | None = None  # where export children write; None: a private file
    jobs: int = 1  # models exported at once (each in a child process of its own)
    resume: str | None = None  # a stored run to continue under its id
    run_id: str | None = None  # the id of a new run (default: a fresh one)
    extra_config: dict = field(default_factory=dict)  # stored with the run, for `--resume`
    # A trial that fails to run (run_failed: the device dropped, the runner crashed or hung
    # past the timeout) is tried again up to this many times, and the record says so; an
    # unsupported cell is never retried.
    retries: int = 0
    # Asked before a cell's first trial: a reason to store it as skipped instead of measuring
    # it (a farm quarantines a device that keeps failing), or None to measure it.
    skip_cell: Callable[[str, str], str | None] | None = None
    # After a cell's timed trials, one more trial with `profile: true` (harness.profiles).
    profile: bool = False


def run_benchmarks(
    specs: list[ModelSpec],
    formats: list[FormatSpec],
    runner: Runner,
    store: Store,
    cache: ArtifactCache,
    config: MeasurementSettings,
    argv: str = "",
    observer: RunObserver | None = None,
    options: RunOptions | None = None,
) -> str:
    """Run the whole matrix; returns the run id. Re-raises KeyboardInterrupt after storing.

    Cells are measured in the order `harness.bench.protocol.trial_order` gives: one cell's
    trials back to back, or (`config.interleave`) round-robin over all cells, every artifact
    exported first so the rounds are alike. A cell gets `config.first_trials` trials; with
    `--trials auto`, more, one at a time, until its interval between sessions is at most
    `config.target_ci` of its median or it has `config.trial_budget`. Every model is exported before any cell is measured, each in
    a child process of its own (harness.export.isolated), `options.jobs` at once, so that no
    measurement shares the machine with an export. Before a measurement
    of another model than the last one measured (and before the first), the runner's `gate()`
    runs (a pause between models and the thermal wait); its report travels with the next
    trial's result. A cell is stored as soon as its last trial is done, or its first failed;
    when the run is stopped, every cell with at least one finished trial is stored, its reason
    saying how many of its trials ran. With `options.profile`, a cell whose trials all succeeded
    gets one more trial with `profile: true` before it is stored (harness.profiles); only its
    operator profile is kept, never its samples.
    """
    observer = observer or RunObserver()
    options = options or RunOptions()
    support = runner.runtimes()
    cells = [Cell(spec, fmt, variant) for spec in specs for fmt in formats_for(spec, formats)
             for variant in measured_variants(fmt, runner)]
    # The formats measured: those asked for, and the formats of artifact files given as they are.
    formats = list({f.name: f for spec in specs for f in [*formats, *formats_for(spec, formats)]}.values())
    replaced: dict[tuple[str, str], list[int]] = {}  # cell -> stored records its new one replaces
    if options.resume:
        run_id = options.resume
        for record in store.records(run_id):
            if record.status == STATUS_OK:
                kept = next((c for c in cells if (c.spec.name, c.label) == (record.model, record.format)), None)
                if kept is not None:
                    kept.stored = True
            else:
                replaced.setdefault((record.model, record.format), []).append(record.id)
        store.reopen_run(run_id)
    else:
        run_id = store.begin_run(
            device=dataclasses.asdict(runner.device),
            config={
                "bench": config.to_dict(),
                # What the settings came to on this machine: the memory limit of one export
                # process and of one trial (None: none), the timeouts.
                "limits": {"export_memory_limit_bytes": options.limits.memory_limit_bytes,
                           "trial_memory_limit_bytes": config.memory_limit_bytes,
                           "timeout_s": options.limits.timeout_s,
                           "export_timeout_s": options.limits.export_timeout_s},
                "models": [s.name for s in specs],
                "formats": [f.name for f in formats],
                "calibration_images": str(options.calibration_dir) if options.calibration_dir else None,
                **options.extra_config,
            },
            argv=argv,
            git_sha=git_sha(),
            harness_version=harness.__version__,
            run_id=options.run_id,
        )
    heartbeat = store.start_heartbeat(run_id)
    observer.run_started(run_id, len(cells))

    def wanted(spec: ModelSpec) -> list[FormatSpec]:
        return list({c.fmt.name: c.fmt for c in cells if c.spec.name == spec.name and not c.stored}.values())

    def exported(spec: ModelSpec, export: ModelExport) -> None:
        """A model's artifacts are ready: prepare its cells."""
        info = model_info(spec, export.info)
        checks = None
        if export.reference:
            try:
                checks = check_inputs_file(cache.root / "model-info", spec.input_shape)
            except OSError as exc:  # a full disk: the cells still run, without the device's check
                log.warning("%s: could not write the check inputs (%s); the outputs on the device "
                            "are not checked", spec.name, exc)
        for c in cells:
            if c.spec.name == spec.name and not c.stored:
                c.info, c.reference = info, export.reference
                c.artifact = export.artifacts[c.fmt.name]
                prepare_cell(c, runner, support, config, checks)

    def prior_of(cell: Cell):
        """The device's spread between sessions, from its cells stored so far (this run's
        included): what the cell's own trials are combined with (harness.bench.sessions)."""
        if cell.prior is None:
            cell.prior = store.session_prior(runner.device.device_id, config.threads,
                                             config.cpu_affinity) or False
        return cell.prior or None

    def finish(cell: Cell, interrupted: bool = False) -> None:
        prior = prior_of(cell) if cell.trials else None
        record = cell_record(run_id, cell, runner.device.device_id, config.first_trials, interrupted,
                             prior=prior)
        for note in cell.artifact.notes:
            log.warning("%s/%s: %s", cell.spec.name, cell.label, note)
        record_id = store.add_record(record, replaces=replaced.pop((cell.spec.name, cell.label), ()))
        cell.stored = True
        observer.cell_finished(dataclasses.replace(record, id=record_id))

    def more_trials(cell: Cell) -> bool:
        """Whether the cell takes another trial: its first ones; with --trials auto, more until
        its interval between sessions is narrow enough or the budget is spent."""
        if cell.failed:
            return False
        done = len(cell.trials)
        if done < config.first_trials:
            return True
        if not config.adaptive or done >= config.trial_budget:
            return False
        return not narrow_enough([t.samples_ms for t in cell.trials], config.target_ci, prior_of(cell))

    status = RUN_INTERRUPTED
    try:
        # Every missing artifact first, `options.jobs` models at a time; then the measurements,
        # one cell at a time, with nothing else of the harness running.
        export_all([s for s in specs if wanted(s)], wanted, cache, jobs=options.jobs,
                   on_done=exported, seed=config.seed, calibration_dir=options.calibration_dir,
                   limits=options.limits, log_path=options.log_path,
                   on_step=lambda name, fmt, step: observer.cell_started(name, fmt or "-", step))
        last_model = None
        gate: GateReport | None = None  # reported with the next trial's result
        of = f"≤{config.trial_budget}" if config.adaptive else str(config.first_trials)
        for index in trial_order(len(cells), config.interleave, lambda i: not cells[i].stored):
            cell = cells[index]
            trial = len(cell.trials)
            if cell.request is None:
                finish(cell)
                continue
            why_skip = options.skip_cell(cell.spec.name, cell.label) if options.skip_cell and not cell.trials else None
            if why_skip:
                cell.request, cell.status, cell.reason = None, STATUS_SKIPPED, why_skip
                finish(cell)
                continue
            if last_model != cell.spec.name:
                observer.cell_started(cell.spec.name, cell.label, "cooldown")
                gate = runner.gate()
            observer.cell_started(cell.spec.name, cell.label, f"trial {trial + 1}/{of}")
            result = check_on_device(admit(attach_gate(runner.run(cell.request), gate), cell.request), cell)
            while result.status == STATUS_RUN_FAILED and len(cell.retried) < options.retries:
                cell.retried.append(result.error)
                log.warning("%s/%s trial %d: %s; trying again (%d of %d)", cell.spec.name, cell.label,
                            trial + 1, result.error, len(cell.retried), options.retries)
                result = check_on_device(admit(runner.run(cell.request), cell.request), cell)
            if not result.ok:
                log.warning("%s/%s trial %d: %s: %s\n%s", cell.spec.name, cell.label, trial + 1,
                            result.status, result.error, result.log)
            result = interpret_sensors(result)
            if config.sustained_s and result.ok:  # one long trial, read in windows
                result = dataclasses.replace(result, context={
                    **result.context, "sustained": sustained_context(result, config.sustained_s)})
            cell.trials.append(result)
            gate, last_model = None, cell.spec.name
            if not more_trials(cell):
                if options.profile and not cell.failed:
                    observer.cell_started(cell.spec.name, cell.label, "profile")
                    request = profile_request(cell.request)
                    cell.profile = profile_from_trial(admit(runner.run(request), request), request)
                finish(cell)
        status = RUN_COMPLETE
    except BaseException:
        for cell in cells:
            if cell.trials and not cell.stored:
                try:
                    finish(cell, interrupted=True)
                except StoreError:  # the store failing is likely what stopped the run: say that
                    log.exception("could not store %s/%s after the run stopped", cell.spec.name, cell.label)
        raise
    finally:
        heartbeat.stop()
        try:
            store.finish_run(run_id, status)
        except StoreError:
            if status == RUN_COMPLETE:
                raise
            log.exception("could not mark run %s %s", run_id, status)  # the first error stands
    return run_id
