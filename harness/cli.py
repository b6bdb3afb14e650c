"""The `harness` command: parse options, call the library, print. No logic beyond that."""

from __future__ import annotations

import functools
import logging
import shlex
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.errors import HarnessError

# Rich wraps to 80 columns when output is not a terminal; tables of model names need more.
console = Console() if sys.stdout.isatty() else Console(width=200)
err_console = Console(stderr=True)


def translate_errors(fn):
    """Turn the library's own errors into one line on stderr and exit code 1, once, here."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HarnessError as exc:
            raise click.ClickException(str(exc)) from None
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


db_option = click.option(
    "--db", type=click.Path(dir_okay=False, path_type=Path), envvar="HARNESS_DB", default=None,
    help="Results database (default results/harness.db, or $HARNESS_DB).",
)


def cache_option(fn):
    return click.option(
        "--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="HARNESS_CACHE",
        default=None, help="Artifact cache (default results/cache, or $HARNESS_CACHE).",
    )(fn)


@click.group()
@click.version_option(package_name="harness")
def main():
    """Export efficient vision networks to phone runtimes and measure them honestly."""


# --- models ---------------------------------------------------------------------------------


@main.command()
@click.option("--family", default=None, help="Only this family (e.g. RepViT).")
@click.option("--check", is_flag=True, help="Count params and MACs and compare with published; exit 1 on a miss.")
@translate_errors
def models(family, check):
    """The zoo: every registered model with its published facts."""
    from harness.report.format import fmt_count
    from harness.zoo import list_models

    specs = list_models(family)
    if not specs:
        raise HarnessError(f"No family {family!r}; run `harness models` to see the families.")
    if check:
        from harness.zoo.check import check_models

        rows = check_models(specs)
        table = Table(title="Zoo check: ours vs published")
        for col in ("model", "params ours", "params published", "Δ params", "MACs ours",
                    "MACs published", "Δ MACs", "verdict"):
            table.add_column(col)
        for row in rows:
            table.add_row(row.model, fmt_count(row.params, "M"), row.params_ref_text,
                          row.params_delta_text, fmt_count(row.macs, "G"), row.macs_ref_text,
                          row.macs_delta_text, "ok" if row.ok else f"MISS: {row.why}")
        console.print(table)
        misses = [r for r in rows if not r.ok]
        if misses:
            raise HarnessError(f"{len(misses)} of {len(rows)} models miss their published counts: "
                               + ", ".join(r.model for r in misses) + ".")
        console.print(f"All {len(rows)} models match their published counts.")
        return
    table = Table(title="Model zoo")
    for col in ("model", "family", "input", "params (pub.)", "MACs (pub.)", "top-1", "latency (pub.)"):
        table.add_column(col)
    for s in specs:
        p = s.published
        table.add_row(
            s.name, s.family, str(s.input_size),
            f"{p.params_m}M" if p and p.params_m else "n/a",
            f"{p.macs_g}G" if p and p.macs_g else "n/a",
            f"{p.top1}" if p and p.top1 else "n/a",
            f"{p.latency_ms} ms ({p.latency_device})" if p and p.latency_ms else "n/a",
        )
    console.print(table)


# --- devices --------------------------------------------------------------------------------


@main.command()
@translate_errors
def devices():
    """What is attached: this host, Android phones over adb, iOS devices."""
    from harness.devices import attached_devices

    table = Table(title="Devices")
    for col in ("id", "kind", "model", "SoC / CPU", "OS", "cores"):
        table.add_column(col)
    for d in attached_devices():
        table.add_row(d.device_id, d.kind, d.product_model, d.soc + (f" / {d.cpu}" if d.cpu else ""),
                      d.os_version, str(d.cpu_count))
    console.print(table)


# --- run ------------------------------------------------------------------------------------


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
                                    + (f"  {record.reason}" if record.reason else ""))


def _parse_affinity(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(c) for c in text.split(","))
    except ValueError:
        raise click.BadParameter("give CPU numbers separated by commas, e.g. 0,1") from None


@main.command()
@click.option("--device", default="host", show_default=True, help="host, an adb serial or a catalog name.")
@click.option("--models", "model_selector", default="all", show_default=True,
              help="all, a family name, or a comma list of model names.")
@click.option("--formats", "format_selector", default="executorch,tflite", show_default=True,
              help="Comma list of formats, or all.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1), help="Runtime threads.")
@click.option("--affinity", default=None, help="Pin to these CPUs, e.g. 0,1.")
@click.option("--warmup", default=10, show_default=True, type=click.IntRange(0))
@click.option("--iterations", default=50, show_default=True, type=click.IntRange(1),
              help="Minimum timed iterations.")
@click.option("--min-time", default=2.0, show_default=True, type=click.FloatRange(0),
              help="Minimum seconds of timed iterations.")
@click.option("--timeout", default=600.0, show_default=True, type=click.FloatRange(1),
              help="Seconds before one measurement is killed.")
@click.option("--seed", default=0, show_default=True, help="Seed of the random weights and inputs.")
@click.option("--input-shape", default=None, help="Input shape for external models, e.g. 1,3,224,224.")
@click.option("--leaderboard", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("results") / "leaderboard.md", show_default=True)
@db_option
@cache_option
@translate_errors
def run(device, model_selector, format_selector, threads, affinity, warmup, iterations, min_time,
        timeout, seed, input_shape, leaderboard, db, cache_dir):
    """Export, run, measure and store every model in every format on one device."""
    from harness.bench.protocol import BenchConfig
    from harness.devices import open_runner
    from harness.export.base import resolve_formats
    from harness.export.cache import ArtifactCache, default_cache_dir
    from harness.report.leaderboard import write_leaderboard
    from harness.run import run_benchmarks
    from harness.store import Store
    from harness.zoo import resolve_models

    shape = tuple(int(v) for v in input_shape.split(",")) if input_shape else None
    specs = resolve_models(model_selector, shape)
    formats = resolve_formats(format_selector)
    runner = open_runner(device)
    config = BenchConfig(warmup_iterations=warmup, min_iterations=iterations, min_duration_s=min_time,
                         threads=threads, cpu_affinity=_parse_affinity(affinity), seed=seed,
                         timeout_s=timeout)
    cache = ArtifactCache(cache_dir or default_cache_dir())
    with Store(db) as store:
        log_path = store.path.parent / "logs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
        handler = _log_to(log_path)
        interrupted = False
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err_console) as progress:
            observer = ProgressObserver(progress)
            try:
                run_benchmarks(specs, formats, runner, store, cache, config,
                               argv=shlex.join(sys.argv), observer=observer)
            except KeyboardInterrupt:
                interrupted = True
            finally:
                logging.getLogger("harness").removeHandler(handler)
        run_id = observer.run_id
        if run_id is None:
            raise click.ClickException("Interrupted before the run started; nothing was stored.")
        records = store.records(run_id)
        _print_run_table(run_id, records)
        write_leaderboard(store.latest_records(), leaderboard)
        console.print(f"Run {run_id}: {len(records)} records in {store.path}; "
                      f"leaderboard {leaderboard}; log {log_path}")
        if interrupted:
            raise click.ClickException(f"Interrupted: run {run_id} keeps its {len(records)} finished "
                                       "records and is marked interrupted.")


def _log_to(path: Path) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("harness")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return handler


def _print_run_table(run_id, records):
    from harness.report.leaderboard import COLUMNS, group_by_device_format, leaderboard_rows

    for device, fmt, group in group_by_device_format(records):
        table = Table(title=f"{device} / {fmt}  (run {run_id})")
        for col in COLUMNS:
            table.add_column(col, overflow="fold")
        for row in leaderboard_rows(group):
            table.add_row(*row)
        console.print(table)


# --- report and show ------------------------------------------------------------------------


@main.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("results") / "leaderboard.md", show_default=True)
@db_option
@translate_errors
def report(out, db):
    """Write the leaderboard from the newest record of every cell in the database."""
    from harness.report.leaderboard import write_leaderboard
    from harness.store import Store

    with Store(db) as store:
        records = store.latest_records()
        if not records:
            raise HarnessError(f"No records in {store.path} yet; run `harness run` first.")
        write_leaderboard(records, out)
    console.print(f"Leaderboard of {len(records)} cells written to {out}")


@main.command()
@click.argument("run_id")
@click.option("--samples", is_flag=True, help="Print every raw timed sample too.")
@db_option
@translate_errors
def show(run_id, samples, db):
    """One stored run: its context and every cell, statistics recomputed from raw samples."""
    from harness.report.format import fmt_ms
    from harness.store import Store

    with Store(db) as store:
        info = store.get_run(run_id)
        records = store.records(info.id, recompute=True)
        console.print(f"Run {info.id}  status: {info.status}  device: {info.device_id} "
                      f"({info.device.get('cpu') or info.device.get('product_model')})")
        console.print(f"  started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(info.started_at))}"
                      f"  git {info.git_sha or 'n/a'}  harness {info.harness_version}")
        console.print(f"  command: {info.argv}")
        table = Table()
        for col in ("model", "format", "status", "n", "median", "95% CI", "p90", "p99", "CV",
                    "load ms", "first ms", "reason / warnings"):
            table.add_column(col, overflow="fold")
        for r in records:
            s = r.stats
            res = r.result
            note = r.reason or "; ".join(r.warnings)
            if s is None:
                table.add_row(r.model, r.format, r.status, *["n/a"] * 8, note)
                continue
            table.add_row(r.model, r.format, r.status + (" (unstable)" if r.unstable else ""),
                          str(s.n), fmt_ms(s.median), f"[{fmt_ms(s.ci_low)}, {fmt_ms(s.ci_high)}]",
                          fmt_ms(s.p90), fmt_ms(s.p99), f"{s.cv:.1%}", fmt_ms(res.load_ms),
                          fmt_ms(res.first_inference_ms), note)
        console.print(table)
        if samples:
            for r in records:
                if r.result is not None:
                    values = " ".join(f"{v:.3f}" for v in store.samples(r.id))
                    console.print(f"{r.model}/{r.format} samples (ms): {values}")


if __name__ == "__main__":
    main()
