"""`harness run`: parse the options, call harness.run, print the tables, exit with what happened.

Exit codes: harness.exit_codes. `--resume RUN_ID|latest` continues a stored run with the
options it was started with (stored with the run as `config["cli"]`); an option given again with
another value is refused, since one run must be one configuration.
"""

from __future__ import annotations

import shlex
import signal
import sys
import time
from pathlib import Path

import click
from click.core import ParameterSource
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from harness import exit_codes
from harness.cli.options import (
    DeviceOptionsCommand,
    cache_option,
    calibration_option,
    check_formats,
    db_option,
    err_console,
    input_shape_option,
    jobs_option,
    measurement_options,
    models_option,
    numerics_reference_option,
    require_models,
    resolve_jobs,
    settings_from,
    translate_errors,
    weights_option,
)
from harness.cli.progress import EtaColumn, ProgressObserver
from harness.cli.output import echo, echo_json, echo_prose, json_option, wide_option
from harness.errors import HarnessError, UsageError

# Options that may differ when a run is resumed: where things are and how they are shown, not
# what is measured.
FREE_ON_RESUME = ("resume", "db", "cache_dir", "leaderboard", "jobs", "wide", "as_json")


class Interrupted(click.ClickException):
    exit_code = exit_codes.INTERRUPTED


def _jsonable(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


# The names runs stored their options under before the measurement settings were declared once
# (harness.bench.settings), so that such a run can still be resumed.
LEGACY_NAMES = {"warmup": "warmup_iterations", "iterations": "min_iterations",
                "min_time": "min_duration_s", "timeout": "timeout_s",
                "export_timeout": "export_timeout_s", "memory_limit": "memory_limit_gib",
                "affinity": "cpu_affinity", "cooldown": "cooldown_s"}


def resumed_params(ctx: click.Context, stored: dict) -> dict:
    """The stored run's options, with the free ones as given now; a measuring option given
    again with another value is refused in one line."""
    stored = {LEGACY_NAMES.get(name, name): value for name, value in stored.items()}
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


@click.command(cls=DeviceOptionsCommand, short_help="Export, measure and store models on a device.")
@click.option("--device", default="host", show_default=True,
              help="host, a device id (adb serial, ...) or a catalog name; see `harness devices`.")
@models_option
@click.option("--formats", "format_selector", default="executorch,tflite", show_default=True,
              help="Comma list of formats (listed above), or all.")
@measurement_options()
@click.option("--profile", is_flag=True,
              help="After each cell's timed trials, one more trial that profiles operator by "
                   "operator (ExecuTorch: ETDump in the native runner; LiteRT: benchmark_model "
                   "on a phone); its times never enter the statistics. `harness show --ops`.")
@jobs_option
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
    # A misspelt format is said before torch and the exporters load (two seconds).
    format_selector = check_formats(params["format_selector"])
    from harness.export.base import resolve_formats
    from harness.export.cache import ArtifactCache, default_cache_dir
    from harness.report.estimate import fmt_duration, plural
    from harness.report.leaderboard import write_leaderboard
    from harness.session import CellsToRun, RunSession, run_log_path
    from harness.zoo import resolve_models

    p = params
    settings = settings_from(p)
    jobs = resolve_jobs(p["jobs"])
    specs = resolve_models(p["model_selector"], p["input_shape"], weights=p["weights"],
                           numerics_reference=p.get("numerics_reference"))
    formats = resolve_formats(format_selector)
    device_options = {o: p[o] for o in _device_option_names() if o in p}
    run_id = p["resume"] or store.unused_run_id()
    cells = CellsToRun(
        jobs=jobs, run_id=run_id, resume=p["resume"], profile=bool(p.get("profile")),
        calibration_dir=p["calibration_images"], argv=shlex.join(sys.argv),
        extra_config={"cli": {k: _jsonable(v) for k, v in p.items() if k not in FREE_ON_RESUME}})
    cache = ArtifactCache(p["cache_dir"] or default_cache_dir())
    log_path = run_log_path(store, run_id)
    session = RunSession(p["device"], settings, device_options)
    session.open()
    try:
        estimate = _estimate(store, session.runner, specs, formats, cache, settings, jobs, p)
        err_console.print(estimate.line(), markup=False, highlight=False, soft_wrap=True)
        # A device farm stops jobs with SIGTERM: treat it like Ctrl-C, so finished cells stay
        # stored and the run is marked interrupted.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        interrupted = False
        started = time.monotonic()
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[cells]}"),
                      TimeElapsedColumn(), EtaColumn(), console=err_console) as progress:
            observer = ProgressObserver(progress, estimate)
            try:
                session.run(specs, formats, store, cache, cells, observer=observer)
                observer.finished()
            except KeyboardInterrupt:
                interrupted = True
    finally:
        session.close()
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
