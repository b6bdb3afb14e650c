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
from pathlib import Path

import click
from click.core import ParameterSource
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness import exit_codes
from harness.cli_options import (
    DeviceOptionsCommand,
    cache_option,
    calibration_option,
    child_limits,
    console,
    db_option,
    err_console,
    export_timeout_option,
    jobs_option,
    resolve_jobs,
    input_shape_option,
    memory_limit_option,
    parse_affinity,
    timeout_option,
    translate_errors,
    weights_option,
)
from harness.errors import HarnessError

# Options that may differ when a run is resumed: where things are, not what is measured.
FREE_ON_RESUME = ("resume", "db", "cache_dir", "leaderboard", "jobs")


class ProgressObserver:
    """Shows one bar over the run's cells and what each cell is doing."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.task = None
        self.run_id = None

    def run_started(self, run_id, cells):
        self.run_id = run_id
        self.task = self.progress.add_task(f"run {run_id}", total=cells)

    def cell_started(self, model, format, step):
        self.progress.update(self.task, description=f"{step} {model} / {format}")

    def cell_finished(self, record):
        from harness.report.format import fmt_latency

        self.progress.advance(self.task)
        self.progress.console.print(f"  {record.model:<24} {record.format:<20} {fmt_latency(record)}"
                                    + (f"  {record.reason}" if record.reason else ""), markup=False)
        for note in record.artifact.get("notes", ()):
            self.progress.console.print(f"  {'':<24} {'':<20} note: {note}", markup=False)


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
            raise HarnessError(f"{flag} {_jsonable(value)} differs from the resumed run's "
                               f"{stored.get(name)}; --resume continues a run as it was started: "
                               "leave the option out.")
    merged = {**stored, **{name: ctx.params[name] for name in FREE_ON_RESUME}}
    if merged.get("input_shape") is not None:
        merged["input_shape"] = tuple(merged["input_shape"])
    if merged.get("calibration_images") is not None:
        merged["calibration_images"] = Path(merged["calibration_images"])
    return merged


@click.command(cls=DeviceOptionsCommand)
@click.option("--device", default="host", show_default=True,
              help="host, a device id (adb serial, ...) or a catalog name; see `harness devices`.")
@click.option("--models", "model_selector", default="all", show_default=True,
              help="all, a family name, or a comma list of model names.")
@click.option("--formats", "format_selector", default="executorch,tflite", show_default=True,
              help="Comma list of formats, or all.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1), help="Runtime threads.")
@click.option("--affinity", default=None, help="Pin to these CPUs, e.g. 0,1.")
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
@db_option
@cache_option
@click.pass_context
@translate_errors
def run(ctx, **params):
    """Export, run, measure and store every model in every format on one device."""
    from harness.store import Store

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
    from harness.report.leaderboard import write_leaderboard
    from harness.run import RunOptions, run_benchmarks
    from harness.zoo import resolve_models

    p = params
    jobs = resolve_jobs(p["jobs"])
    specs = resolve_models(p["model_selector"], p["input_shape"], weights=p["weights"])
    formats = resolve_formats(p["format_selector"])
    device_options = {o: p[o] for o in _device_option_names() if o in p}
    config = BenchConfig(warmup_iterations=p["warmup"], warmup_until_settled=p["warmup_until_settled"],
                         min_iterations=p["iterations"], min_duration_s=p["min_time"],
                         trials=p["trials"], interleave=p["interleave"], threads=p["threads"],
                         cpu_affinity=parse_affinity(p["affinity"]), seed=p["seed"],
                         timeout_s=p["timeout"])
    from harness.store import new_run_id

    run_id = p["resume"] or new_run_id()
    log_path = store.path.parent / "logs" / f"run-{run_id}.log"  # a resumed run appends to its own
    options = RunOptions(
        calibration_dir=p["calibration_images"],
        limits=child_limits(p["timeout"], p["export_timeout"], p["memory_limit"], jobs),
        jobs=jobs,
        log_path=log_path,
        resume=p["resume"],
        run_id=run_id,
        extra_config={"cli": {k: _jsonable(v) for k, v in p.items() if k not in FREE_ON_RESUME}},
    )
    cache = ArtifactCache(p["cache_dir"] or default_cache_dir())
    # Trials run one at a time: each may map what the machine allows one process.
    trial_memory = child_limits(p["timeout"], p["export_timeout"], p["memory_limit"]).memory_limit_bytes
    runner = open_runner(p["device"], RunnerSettings(p["cooldown"], trial_memory), device_options)
    # A device farm stops jobs with SIGTERM: treat it like Ctrl-C, so finished cells stay stored
    # and the run is marked interrupted.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    handler = _log_to(log_path)
    interrupted = False
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console) as progress:
        observer = ProgressObserver(progress)
        try:
            run_benchmarks(specs, formats, runner, store, cache, config,
                           argv=shlex.join(sys.argv), observer=observer, options=options)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            logging.getLogger("harness").removeHandler(handler)
            handler.close()
            runner.close()  # a phone's runner removes its trial files
    run_id = observer.run_id
    if run_id is None:
        raise Interrupted("Interrupted before the run started; nothing was stored.")
    records = store.records(run_id)
    _print_run_table(run_id, records)
    write_leaderboard(store.latest_records(), p["leaderboard"])
    measured = sum(r.status == "ok" for r in records)
    console.print(f"Run {run_id}: {len(records)} records ({measured} measured) in {store.path}; "
                  f"leaderboard {p['leaderboard']}; log {log_path}")
    if interrupted:
        raise Interrupted(f"Interrupted: run {run_id} keeps its {len(records)} finished records "
                          f"and is marked interrupted; `harness run --resume {run_id}` continues it.")
    return exit_codes.outcome_code(measured, len(records))


def _device_option_names() -> list[str]:
    from harness.devices import device_options

    return [o.dest for o in device_options()]


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def _log_to(path: Path) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("harness")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return handler


def _print_run_table(run_id, records):
    from harness.report.leaderboard import (
        COLUMNS,
        group_by_device_format,
        leaderboard_rows,
        side_by_side_tables,
    )

    def print_table(title, columns, rows):
        table = Table(title=title)
        for col in columns:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)

    for device, fmt, group in group_by_device_format(records):
        print_table(f"{device} / {fmt}  (run {run_id})", COLUMNS, leaderboard_rows(group))
    for device, columns, rows in side_by_side_tables(records):
        print_table(f"{device}: median ms, and the ratio to eager  (run {run_id})", columns, rows)
