"""`harness run`: parse the options, call harness.run, print the tables, exit with what happened.

Exit codes: harness.exit_codes. `--resume RUN_ID|latest` continues a stored run with the
options it was started with (stored with the run as `config["cli"]`); an option given again with
another value is refused, since one run must be one configuration.
"""

from __future__ import annotations

import logging
import shlex
import signal
import sys
import time
from pathlib import Path

import click
from click.core import ParameterSource
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from harness import exit_codes
from harness.cli.options import (
    DeviceOptionsCommand,
    cache_option,
    calibration_option,
    check_affinity,
    check_formats,
    child_limits,
    db_option,
    err_console,
    export_timeout_option,
    input_shape_option,
    jobs_option,
    memory_limit_option,
    models_option,
    parse_affinity,
    require_models,
    resolve_jobs,
    timeout_option,
    translate_errors,
    numerics_reference_option,
    weights_option,
)
from harness.cli.output import echo, echo_json, echo_prose, json_option, wide_option
from harness.errors import HarnessError, UsageError

# Options that may differ when a run is resumed: where things are and how they are shown, not
# what is measured.
FREE_ON_RESUME = ("resume", "db", "cache_dir", "leaderboard", "jobs", "wide", "as_json")


class EtaColumn(ProgressColumn):
    """The time left: the estimated seconds of work not done yet, scaled by how the work done
    so far compared with its estimate."""

    def render(self, task) -> Text:
        from harness.report.estimate import fmt_duration

        if task.finished or not task.total:
            return Text("")
        done, elapsed = task.completed, task.elapsed or 0.0
        pace = elapsed / done if done >= 0.05 * task.total and elapsed > 0 else 1.0
        return Text(f"about {fmt_duration(max(0.0, task.total - done) * pace)} left")


class ProgressObserver:
    """One bar over the whole run, exports and measurements, in estimated seconds of work
    (harness.report.estimate) with the time left; the cells done beside it; and one line per
    cell as it is stored."""

    def __init__(self, progress: Progress, estimate):
        self.progress = progress
        self.estimate = estimate
        self.task = None
        self.run_id = None
        self.cells = 0
        self.total = 1.0
        self.done = 0
        self.credited: set = set()  # work already counted: ("export", model, fmt), ("trial", ...)
        self.exporting: dict[str, str] = {}  # model -> the format its export child is at

    def run_started(self, run_id, cells):
        self.run_id, self.cells = run_id, cells
        self.total = max(self.estimate.total_units, 1.0)
        self.task = self.progress.add_task(f"run {run_id}", total=self.total, cells=f"0/{cells} cells")

    def _credit(self, work: tuple, units: float) -> None:
        if work not in self.credited:
            self.credited.add(work)
            self.progress.advance(self.task, units)

    def _credit_export(self, model: str, fmt: str) -> None:
        self._credit(("export", model, fmt), self.estimate.export_units.get((model, fmt), 0.0))

    def _credit_exports(self) -> None:
        for model, fmt in self.estimate.export_units:
            self._credit_export(model, fmt)

    def _credit_trial(self, model: str, label: str, trial: int) -> None:
        units = self.estimate.trial_units.get((model, label.partition("@")[0]), 0.0)
        self._credit(("trial", model, label, trial), units)

    def cell_started(self, model, format, step):
        self.progress.update(self.task, description=f"{step} {model} / {format}")
        if step == "cooldown" or step.startswith("trial "):
            self._credit_exports()  # measuring starts once every export is done
            if step.startswith("trial "):
                trial = int(step.split()[1].split("/")[0])
                for earlier in range(1, trial):
                    self._credit_trial(model, format, earlier)
        elif format and format != "-":
            previous = self.exporting.get(model)
            if previous and previous != format:
                self._credit_export(model, previous)
            self.exporting[model] = format

    def finished(self):
        """The run is over: whatever the estimate still counted is done."""
        if self.task is not None:
            self.progress.update(self.task, completed=self.total)

    def cell_finished(self, record):
        from harness.report.format import fmt_latency

        self.done += 1
        base = record.format.partition("@")[0]
        self._credit_export(record.model, base)
        for trial in range(1, self.estimate.trials + 1):
            self._credit_trial(record.model, record.format, trial)
        self.progress.update(self.task, cells=f"{self.done}/{self.cells} cells")
        line = f"  {record.model}  {record.format}  {fmt_latency(record)}"
        self.progress.console.print(line + (f"  {record.reason}" if record.reason else ""),
                                    markup=False, soft_wrap=True, highlight=False)
        for note in record.artifact.get("notes", ()):
            self.progress.console.print(f"    note: {note}", markup=False, soft_wrap=True,
                                        highlight=False)


class Interrupted(click.ClickException):
    exit_code = exit_codes.INTERRUPTED


def _jsonable(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def resumed_params(ctx: click.Context, stored: dict) -> dict:
    """The stored run's options, with the free ones as given now; a measuring option given
    again with another value is refused in one line."""
    params = {p.name: p for p in ctx.command.get_params(ctx)}
    for name, value in ctx.params.items():
        if name in FREE_ON_RESUME or ctx.get_parameter_source(name) != ParameterSource.COMMANDLINE:
            continue
        if _jsonable(value) != stored.get(name):
            flag = params[name].opts[0] if name in params else name
            raise UsageError(f"{flag} {_jsonable(value)} differs from the resumed run's "
                               f"{stored.get(name)}; --resume continues a run as it was started: "
                               "leave the option out.")
    merged = {**stored, **{name: ctx.params[name] for name in FREE_ON_RESUME}}
    if merged.get("input_shape") is not None:
        merged["input_shape"] = tuple(merged["input_shape"])
    if merged.get("calibration_images") is not None:
        merged["calibration_images"] = Path(merged["calibration_images"])
    return merged


def _affinity_option(ctx, param, text):
    parse_affinity(text)  # a malformed list is a usage error before anything runs
    return text


@click.command(cls=DeviceOptionsCommand, short_help="Export, measure and store models on a device.")
@click.option("--device", default="host", show_default=True,
              help="host, a device id (adb serial, ...) or a catalog name; see `harness devices`.")
@models_option
@click.option("--formats", "format_selector", default="executorch,tflite", show_default=True,
              help="Comma list of formats (listed above), or all.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1), help="Runtime threads.")
@click.option("--affinity", default=None, callback=_affinity_option,
              help="Pin to these CPUs, e.g. 0,1 (checked against the device before any work).")
@click.option("--warmup", default=10, show_default=True, type=click.IntRange(0),
              help="Warm-up iterations (the minimum, with --warmup-until-settled).")
@click.option("--warmup-until-settled", is_flag=True,
              help="Warm up until the running median of 10 iterations moves less than 2%.")
@click.option("--iterations", default=50, show_default=True, type=click.IntRange(1),
              help="Minimum timed iterations per trial.")
@click.option("--min-time", default=1.0, show_default=True, type=click.FloatRange(0),
              help="Minimum seconds of timed iterations per trial.")
@click.option("--trials", default=3, show_default=True, type=click.IntRange(1),
              help="Independent trials per cell (fresh process on the host, fresh load on a device).")
@click.option("--interleave", is_flag=True,
              help="Alternate trials between cells (A, B, A, B...) so drift falls on all alike.")
@click.option("--cooldown", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Seconds to pause between models, before the device's thermal gate.")
@click.option("--profile", is_flag=True,
              help="After each cell's timed trials, one more trial that profiles operator by "
                   "operator (ExecuTorch: ETDump in the native runner; LiteRT: benchmark_model "
                   "on a phone); its times never enter the statistics. `harness show --ops`.")
@timeout_option
@export_timeout_option
@memory_limit_option
@jobs_option
@click.option("--seed", default=0, show_default=True, help="Seed of the random weights and inputs.")
@input_shape_option
@click.option("--leaderboard", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("results") / "leaderboard.md", show_default=True)
@click.option("--resume", default=None, metavar="RUN_ID|latest",
              help="Continue a stored run: keep its ok cells, measure the others, same options.")
@calibration_option
@weights_option
@numerics_reference_option
@db_option
@cache_option
@wide_option
@json_option
@click.pass_context
@translate_errors
def run(ctx, **params):
    """Export, run, measure and store every model in every format on one device, then print
    the run's table (and the formats side by side) and write the leaderboard.

    Formats: {formats}.

    Exit codes: 0 every cell measured, 3 some not, 4 none, 1 an error, 2 a bad option, 130
    interrupted (`--resume` continues)."""
    from harness.store import Store

    if not params["resume"]:
        require_models(params["model_selector"])
    with Store(params["db"]) as store:
        if params["resume"]:
            stored = store.get_run(params["resume"])
            if "cli" not in stored.config:
                raise HarnessError(f"Run {stored.id} was stored by an older harness without its "
                                   "options; it cannot be resumed, start a new run.")
            params = resumed_params(ctx, stored.config["cli"])
            params["resume"] = stored.id
        code = _run(store, params)
    ctx.exit(code)


def _run(store, params: dict) -> int:
    from device_runners.runner import RunnerSettings
    from harness.bench.protocol import BenchConfig
    from harness.devices import open_runner
    from harness.export.base import resolve_formats
    from harness.export.cache import ArtifactCache, default_cache_dir
    from harness.report.estimate import fmt_duration, plural
    from harness.report.leaderboard import write_leaderboard
    from harness.run import RunOptions, run_benchmarks
    from harness.store import new_run_id
    from harness.zoo import resolve_models

    p = params
    jobs = resolve_jobs(p["jobs"])
    specs = resolve_models(p["model_selector"], p["input_shape"], weights=p["weights"],
                           numerics_reference=p.get("numerics_reference"))
    formats = resolve_formats(check_formats(p["format_selector"]))
    device_options = {o: p[o] for o in _device_option_names() if o in p}
    config = BenchConfig(warmup_iterations=p["warmup"], warmup_until_settled=p["warmup_until_settled"],
                         min_iterations=p["iterations"], min_duration_s=p["min_time"],
                         trials=p["trials"], interleave=p["interleave"], threads=p["threads"],
                         cpu_affinity=parse_affinity(p["affinity"]), seed=p["seed"],
                         timeout_s=p["timeout"])
    run_id = p["resume"] or new_run_id()
    log_path = store.log_dir / f"run-{run_id}.log"  # a resumed run appends to its own
    options = RunOptions(
        calibration_dir=p["calibration_images"],
        limits=child_limits(p["timeout"], p["export_timeout"], p["memory_limit"], jobs),
        jobs=jobs,
        log_path=log_path,
        resume=p["resume"],
        run_id=run_id,
        profile=bool(p.get("profile")),
        extra_config={"cli": {k: _jsonable(v) for k, v in p.items() if k not in FREE_ON_RESUME}},
    )
    cache = ArtifactCache(p["cache_dir"] or default_cache_dir())
    # Trials run one at a time: each may map what the machine allows one process.
    trial_memory = child_limits(p["timeout"], p["export_timeout"], p["memory_limit"]).memory_limit_bytes
    runner = open_runner(p["device"], RunnerSettings(p["cooldown"], trial_memory), device_options)
    try:
        check_affinity(config.cpu_affinity, runner.device.device_id, runner.device.cpu_count)
        estimate = _estimate(store, runner, specs, formats, cache, config, jobs, p)
    except BaseException:
        runner.close()
        raise
    err_console.print(estimate.line(), markup=False, highlight=False, soft_wrap=True)
    # A device farm stops jobs with SIGTERM: treat it like Ctrl-C, so finished cells stay stored
    # and the run is marked interrupted.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    handler = _log_to(log_path)
    interrupted = False
    started = time.monotonic()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[cells]}"),
                  TimeElapsedColumn(), EtaColumn(), console=err_console) as progress:
        observer = ProgressObserver(progress, estimate)
        try:
            run_benchmarks(specs, formats, runner, store, cache, config,
                           argv=shlex.join(sys.argv), observer=observer, options=options)
            observer.finished()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            _stop_logging(handler)
            runner.close()  # a phone's runner removes its trial files
    run_id = observer.run_id
    if run_id is None:
        raise Interrupted("Interrupted before the run started; nothing was stored.")
    info = store.get_run(run_id)
    records = store.records(run_id)
    write_leaderboard(store.latest_records(), p["leaderboard"],
                      runs={run.id: run for run in store.runs()})
    measured = sum(r.status == "ok" for r in records)
    code = exit_codes.outcome_code(measured, len(records))
    took = time.monotonic() - started
    if p["as_json"]:
        from harness.report.jsonable import dumps, record_json, run_json

        echo_json(dumps({"run": run_json(info), "records": [record_json(r, info) for r in records],
                         "leaderboard": str(p["leaderboard"]), "log": str(log_path),
                         "exit_code": exit_codes.INTERRUPTED if interrupted else code}))
    else:
        from harness.cli.results import print_run, settings_line

        echo_prose(f"Run {run_id} on {info.device_id}: {settings_line(info.config)}")
        echo()
        print_run(info, records, wide=p["wide"])
        if p.get("profile"):
            from harness.cli.results import print_ops

            echo()
            print_ops(records, top=5, wide=p["wide"])
        echo()
        echo_prose(f"Run {run_id}: {plural(len(records), 'record')} ({measured} measured) in {store.location}, "
                   f"in {fmt_duration(took)} (estimated {fmt_duration(estimate.total_s)}); "
                   f"leaderboard {p['leaderboard']}; log {log_path}")
    if interrupted:
        raise Interrupted(f"Interrupted: run {run_id} keeps its {plural(len(records), 'finished record')} "
                          f"and is marked interrupted; `harness run --resume {run_id}` continues it.")
    return code


def _estimate(store, runner, specs, formats, cache, config, jobs, p):
    """The run's estimate, from the cache and this device's earlier medians."""
    from harness.report.estimate import estimate_run

    device = runner.device.device_id
    previous = {(r.model, r.format): r.stats.median for r in store.latest_records()
                if r.device_id == device and r.stats is not None}
    skip = set()
    if p["resume"]:
        skip = {(r.model, r.format) for r in store.records(p["resume"]) if r.status == "ok"}
    return estimate_run(specs, formats, cache, config, jobs=jobs,
                        calibration_dir=p["calibration_images"], previous_medians=previous, skip=skip)


def _device_option_names() -> list[str]:
    from harness.devices import device_options

    return [o.dest for o in device_options()]


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def _log_to(path: Path) -> logging.Handler:
    """The run's log takes the harness's log and every Python warning raised in this process
    (the converters' FutureWarnings and the like): none reaches the terminal. The export
    children and the workers write their own output there or into the records."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("harness")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    logging.getLogger("py.warnings").addHandler(handler)
    logging.getLogger("py.warnings").propagate = False
    logging.captureWarnings(True)
    return handler


def _stop_logging(handler: logging.Handler) -> None:
    logging.captureWarnings(False)
    logging.getLogger("py.warnings").removeHandler(handler)
    logging.getLogger("py.warnings").propagate = True
    logging.getLogger("harness").removeHandler(handler)
    handler.close()
