"""`harness farm`: the nightly matrix, on this host (`run`) or across hosts (`submit`, `worker`,
`status`). Thin commands over harness.farm; docs/farm.md has the whole story.

Exit codes of `farm run`: 0 nothing slower or broken; 3 some cell slower or broken (the JUnit
XML and the digest say which); 1 an error stopped it; 2 a bad farm.yaml or option; 130
interrupted (run it again to continue).
"""

from __future__ import annotations

import logging
import shlex
import signal
import sys
from pathlib import Path

import click

from harness import exit_codes
from harness.cli.options import BadOption, Number, err_console, translate_errors
from harness.cli.output import echo, echo_prose
from harness.errors import HarnessError
from harness.logs import log_to


def _load(path: str):
    from harness.farm.config import FarmConfigError, load_farm

    try:
        return load_farm(path)
    except FarmConfigError as exc:
        raise BadOption(str(exc)) from None


def _matrix(config):
    """The farm's models and formats, or a usage error naming the file."""
    from harness.export.base import resolve_formats
    from harness.zoo import resolve_models

    try:
        return resolve_models(config.models), resolve_formats(config.formats)
    except HarnessError as exc:
        raise BadOption(f"{config.source}: {exc}") from None


def _run_name(config, farm_run: str | None) -> str:
    """--run, or NAME-YYYYMMDD; a name that is not a plain name is a usage error (it becomes
    directories and run ids)."""
    from harness.farm.config import check_run_name
    from harness.farm.local import farm_run_name

    return check_run_name(farm_run or farm_run_name(config))


# The farm's settings come from the command line, then farm.yaml, then the environment
# ($HARNESS_DB, $HARNESS_CACHE, $HARNESS_BROKER), then the defaults: a farm.yaml is a checked-in
# statement about that farm, more specific than what a shell happens to export (docs/farm.md).
farm_cache_option = click.option(
    "--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Artifact cache [farm.yaml's results.cache, else $HARNESS_CACHE, else results/cache].")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@click.group("farm", short_help="Nightly matrices: one host (run) or many (submit, worker).")
def farm_group():
    """A farm measures the matrix of a farm.yaml every night, compares each cell with its
    baseline and reports regressions as JUnit XML, a JSON summary and a Markdown digest."""


@farm_group.command("run", short_help="Measure a farm.yaml's matrix on this host's devices.")
@click.argument("farm_yaml", type=click.Path(dir_okay=False))
@click.option("--run", "farm_run", default=None, help="The farm run's name [NAME-YYYYMMDD]; the same name continues it.")
@click.option("--db", default=None, help="Results database or postgresql:// URL [farm.yaml's results.db, else $HARNESS_DB, else results/harness.db].")
@farm_cache_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the JUnit XML, summary and digest go [farm.yaml's results.out]/RUN.")
@translate_errors
def farm_run(farm_yaml, farm_run, db, cache_dir, out):
    """Export every model, measure every cell device by device, compare each cell with its
    baseline, write the reports and POST the digest. Running the same farm run again continues
    it."""
    from harness.export.cache import ArtifactCache, default_cache_dir
    from harness.farm.local import run_farm
    from harness.store import Store

    config = _load(farm_yaml)
    farm_run = _run_name(config, farm_run)
    _matrix(config)  # a misspelt model is a usage error now, not after the exports
    cache = ArtifactCache(cache_dir or config.cache or default_cache_dir())
    out_dir = (out or Path(config.out)) / farm_run
    signal.signal(signal.SIGTERM, _interrupt)  # a scheduler's stop: finished cells stay stored
    log_dir = out_dir / "logs"
    with Store(db or config.db) as store, log_to(log_dir / f"farm-{farm_run}.log"):
        err_console.print(f"farm {config.name}, run {farm_run}: {len(config.devices)} device(s), "
                          f"models {config.models}, formats {config.formats}", markup=False, highlight=False,
                          soft_wrap=True)
        try:
            outcome = run_farm(config, store, cache, farm_run=farm_run, argv=shlex.join(sys.argv),
                               log_dir=log_dir, on_device=lambda d: err_console.print(
                                   f"  {d.device}: {len(d.verdicts)} cells"
                                   + (f", QUARANTINED: {d.quarantined}" if d.quarantined else ""),
                                   markup=False, highlight=False))
        except KeyboardInterrupt:
            raise click.exceptions.Exit(exit_codes.INTERRUPTED) from None
    raise click.exceptions.Exit(_write_and_print(config, outcome, out))


@farm_group.command("check", short_help="Validate a farm.yaml without running anything.")
@click.argument("farm_yaml", type=click.Path(dir_okay=False))
@translate_errors
def farm_check(farm_yaml):
    """Read a farm.yaml and say what it would run, or the first problem with its key path."""
    from harness.farm.cell import Matrix
    from harness.farm.queue import check_matrix

    config = _load(farm_yaml)
    specs, formats = _matrix(config)
    check_matrix(Matrix(config, specs, formats), _run_name(config, None))
    cells = len(specs) * len(formats) * len(config.devices)
    echo_prose(f"farm {config.name}: {len(config.devices)} device(s) x {len(specs)} model(s) x "
               f"{len(formats)} format(s) = {cells} cells; baseline "
               + (f"run {config.baseline_run}" if config.baseline_run else f"the last {config.rolling} runs")
               + f", threshold {config.threshold:.0%}.")


# ----------------------------------------------------------------------------------------------
# Across hosts: Celery workers, a Redis broker, one results database


broker_option = click.option("--broker", default=None,
                             help="Redis URL of the farm's broker [farm.yaml's broker, else $HARNESS_BROKER].")
db_url_option = click.option("--db", default=None,
                             help="Results database: a postgresql:// URL for many hosts [farm.yaml's results.db, else $HARNESS_DB].")


def _write_and_print(config, outcome, out: Path | None) -> int:
    from harness.farm.reports import digest, post_webhook, write_reports

    code = exit_codes.SOME_FAILED if outcome.failed else exit_codes.OK
    paths = write_reports(outcome, (out or Path(config.out)) / outcome.run, code)
    echo(digest(outcome))
    echo_prose(f"JUnit {paths['junit']}; summary {paths['summary']}; digest {paths['digest']}")
    if config.webhook:
        problem = post_webhook(config.webhook, outcome, code, config.webhook_timeout_s)
        if problem:
            err_console.print(f"warning: {problem}; the reports are written all the same",
                              markup=False, highlight=False, soft_wrap=True)
    return code


@farm_group.command("submit", short_help="Queue a farm.yaml's cells for the devices' workers.")
@click.argument("farm_yaml", type=click.Path(dir_okay=False))
@click.option("--run", "farm_run", default=None, help="The farm run's name [NAME-YYYYMMDD].")
@broker_option
@farm_cache_option
@click.option("--wait", is_flag=True, help="Wait until every cell is stored, then write the reports.")
@click.option("--timeout", "wait_timeout", type=Number(float, 0, min_open=True), default=None,
              help="With --wait: give up after this many seconds.")
@db_url_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --wait: where the reports go [farm.yaml's results.out]/RUN.")
@translate_errors
def farm_submit(farm_yaml, farm_run, broker, cache_dir, wait, wait_timeout, db, out):
    """Export every model into the shared cache (in parallel), then put one task per cell on its
    device's queue. Each device's `harness farm worker` measures them."""
    from harness.export.cache import ArtifactCache, default_cache_dir
    from harness.export.isolated import default_jobs, export_all
    from harness.farm.cell import Matrix
    from harness.farm.queue import broker_url, check_broker, check_matrix, submit
    from harness.redact import redact_url

    config = _load(farm_yaml)
    farm_run = _run_name(config, farm_run)
    specs, formats = _matrix(config)
    url = broker_url(config, broker)
    tasks = check_matrix(Matrix(config, specs, formats), farm_run)
    check_broker(url)  # a wrong password is one line now, not after the exports
    cache = ArtifactCache(cache_dir or config.cache or default_cache_dir())
    jobs = config.jobs or default_jobs()
    export_all(specs, lambda spec: formats, cache, jobs=jobs, seed=config.settings.seed,
               limits=config.settings.child_limits(jobs))
    count = submit(config, farm_run, tasks, url)
    err_console.print(f"farm {config.name}, run {farm_run}: {count} cells queued for "
                      f"{len(config.devices)} device(s) on {redact_url(url)}", markup=False,
                      highlight=False, soft_wrap=True)
    if not wait:
        return
    from harness.farm.status import wait_for_cells
    from harness.farm.local import report_farm
    from harness.store import Store

    with Store(db or config.db) as store:
        wait_for_cells(store, config, farm_run, specs, formats, timeout_s=wait_timeout)
        outcome = report_farm(config, store, farm_run)
    raise click.exceptions.Exit(_write_and_print(config, outcome, out))


@farm_group.command("worker", short_help="Measure one device's cells from the farm's queue.")
@click.argument("farm_yaml", type=click.Path(dir_okay=False))
@click.option("--device", "device_name", required=True, help="The device this host serves (a name in farm.yaml).")
@broker_option
@farm_cache_option
@db_url_option
@translate_errors
def farm_worker(farm_yaml, device_name, broker, cache_dir, db):
    """A Celery worker for one device: one cell at a time, acknowledged only once stored; a cell
    lost with its worker is delivered again. Stop it with Ctrl-C or SIGTERM."""
    from harness.farm.cell import Matrix
    from harness.farm.queue import broker_url, run_worker

    config = _load(farm_yaml)
    device = next((d for d in config.devices if device_name in (d.name, d.slug)), None)
    if device is None:
        raise BadOption(f"{config.source} lists no device {device_name!r}; its devices: "
                         + ", ".join(d.name for d in config.devices) + ".")
    matrix = Matrix(config, *_matrix(config))  # the only cells this worker measures
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_worker(config, device, matrix, broker_url(config, broker), db or config.db,
               str(cache_dir) if cache_dir else None, log_dir=Path(config.out) / "logs")


@farm_group.command("status", short_help="Queued, running, done and failed cells per device.")
@click.argument("farm_yaml", type=click.Path(dir_okay=False))
@click.option("--run", "farm_run", default=None, help="The farm run [NAME-YYYYMMDD].")
@broker_option
@db_url_option
@translate_errors
def farm_status(farm_yaml, farm_run, broker, db):
    """Per device: cells queued on the broker, the one running (and on which host), and those
    stored done or failed."""
    from harness.farm.queue import broker_url
    from harness.farm.status import farm_status_rows, status_table
    from harness.store import Store

    config = _load(farm_yaml)
    farm_run = _run_name(config, farm_run)
    with Store(db or config.db, readonly=True) as store:
        rows = farm_status_rows(config, farm_run, store, broker_url(config, broker))
    echo(status_table(farm_run, rows))


@farm_group.command("report", short_help="Write a farm run's reports from what is stored.")
@click.argument("farm_yaml", type=click.Path(dir_okay=False))
@click.option("--run", "farm_run", default=None, help="The farm run [NAME-YYYYMMDD].")
@db_url_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the reports go [farm.yaml's results.out]/RUN.")
@translate_errors
def farm_report(farm_yaml, farm_run, db, out):
    """The JUnit XML, summary and digest of a stored farm run (a farm across hosts writes them
    with `submit --wait`, or with this once its workers are done)."""
    from harness.farm.local import report_farm
    from harness.store import Store

    config = _load(farm_yaml)
    farm_run = _run_name(config, farm_run)
    with Store(db or config.db, readonly=True) as store:
        outcome = report_farm(config, store, farm_run)
    raise click.exceptions.Exit(_write_and_print(config, outcome, out))
