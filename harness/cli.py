"""The `harness` command: parse options, call the library, print. No logic beyond that."""

from __future__ import annotations

import contextlib
import logging
import shlex
import signal
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.cli_options import (
    DeviceOptionsCommand,
    cache_option,
    calibration_option,
    db_option,
    input_shape_option,
    parse_affinity,
    translate_errors,
    weights_option,
)
from harness.errors import HarnessError

# Rich wraps to 80 columns when output is not a terminal; tables of model names need more.
console = Console() if sys.stdout.isatty() else Console(width=200)
err_console = Console(stderr=True)


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
    for col in ("id", "kind", "model", "SoC / CPU", "OS", "cores", "state"):
        table.add_column(col)
    for attached in attached_devices():
        d = attached.info
        table.add_row(d.device_id, d.kind, d.product_model, d.soc + (f" / {d.cpu}" if d.cpu else ""),
                      d.os_version, str(d.cpu_count), attached.state)
    console.print(table)


@main.command("build-runner")
@click.option("--target", type=click.Choice(["host", "android-arm64"]), default="host",
              show_default=True, help="Where the native runner will run.")
@click.option("--ndk", type=click.Path(file_okay=False, path_type=Path), envvar="ANDROID_NDK",
              default=None, help="Android NDK directory (android-arm64; default $ANDROID_NDK).")
@click.option("--executorch-android", type=click.Path(file_okay=False, path_type=Path),
              envvar="EXECUTORCH_ANDROID_DIR", default=None,
              help="Install prefix of an ExecuTorch arm64-v8a build (android-arm64; default "
                   "$EXECUTORCH_ANDROID_DIR).")
@translate_errors
def build_runner(target, ndk, executorch_android):
    """Build the native ExecuTorch runner (device_runners/native) with CMake."""
    from device_runners.native.build import build_native_runner

    binary = build_native_runner(target, android_ndk=ndk, executorch_android_dir=executorch_android)
    console.print(f"Native runner for {target}: {binary}")


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


@main.command(cls=DeviceOptionsCommand)
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
@click.option("--timeout", default=600.0, show_default=True, type=click.FloatRange(1),
              help="Seconds before one measurement is killed.")
@click.option("--seed", default=0, show_default=True, help="Seed of the random weights and inputs.")
@input_shape_option
@click.option("--leaderboard", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("results") / "leaderboard.md", show_default=True)
@calibration_option
@weights_option
@db_option
@cache_option
@translate_errors
def run(device, model_selector, format_selector, threads, affinity, warmup, warmup_until_settled,
        iterations, min_time, trials, interleave, cooldown, timeout, seed, input_shape, leaderboard,
        db, cache_dir, weights, calibration_images, **device_options):
    """Export, run, measure and store every model in every format on one device."""
    from harness.bench.protocol import BenchConfig
    from harness.devices import open_runner
    from harness.export.base import resolve_formats
    from harness.export.cache import ArtifactCache, default_cache_dir
    from harness.report.leaderboard import write_leaderboard
    from harness.run import run_benchmarks
    from harness.store import Store
    from harness.zoo import resolve_models

    specs = resolve_models(model_selector, input_shape, weights=weights)
    formats = resolve_formats(format_selector)
    runner = open_runner(device, cooldown, device_options)
    config = BenchConfig(warmup_iterations=warmup, warmup_until_settled=warmup_until_settled,
                         min_iterations=iterations, min_duration_s=min_time, trials=trials,
                         interleave=interleave,
                         threads=threads, cpu_affinity=parse_affinity(affinity), seed=seed,
                         timeout_s=timeout)
    cache = ArtifactCache(cache_dir or default_cache_dir())
    # A device farm stops jobs with SIGTERM: treat it like Ctrl-C, so finished cells stay stored
    # and the run is marked interrupted.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    with Store(db) as store:
        log_path = store.path.parent / "logs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
        handler = _log_to(log_path)
        interrupted = False
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err_console) as progress:
            observer = ProgressObserver(progress)
            try:
                run_benchmarks(specs, formats, runner, store, cache, config,
                               argv=shlex.join(sys.argv), observer=observer,
                               calibration_dir=calibration_images)
            except KeyboardInterrupt:
                interrupted = True
            finally:
                logging.getLogger("harness").removeHandler(handler)
                runner.close()  # a phone's runner removes its trial files
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
    from harness.report.format import fmt_context
    from harness.report.leaderboard import DETAIL_COLUMNS, detail_rows
    from harness.store import Store

    with Store(db) as store:
        info = store.get_run(run_id)
        records = store.records(info.id, recompute=True)
        console.print(f"Run {info.id}  status: {info.status}  device: {info.device_id} "
                      f"({info.device.get('cpu') or info.device.get('product_model')})")
        console.print(f"  started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(info.started_at))}"
                      f"  git {info.git_sha or 'n/a'}  harness {info.harness_version}")
        console.print(f"  command: {info.argv}")
        measured = next((r.result for r in records if r.result is not None and r.result.ok), None)
        console.print(f"  context: {fmt_context(measured)}")
        table = Table()
        for col in DETAIL_COLUMNS:  # figures never break across lines; the notes fold
            table.add_column(col, overflow="fold", no_wrap=col != DETAIL_COLUMNS[-1])
        for row in detail_rows(records):
            table.add_row(*row)
        console.print(table)
        if samples:
            for r in records:
                for trial, trial_samples in enumerate(store.trial_samples(r.id), 1):
                    values = " ".join(f"{v:.3f}" for v in trial_samples)
                    console.print(f"{r.model}/{r.format} trial {trial} samples (ms): {values}")


@main.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--threshold", default=0.05, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Smallest change that counts, as a fraction of A's median.")
@click.option("--alpha", default=0.01, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Significance level of the Mann-Whitney U test.")
@db_option
@translate_errors
def compare(run_a, run_b, threshold, alpha, db):
    """Per cell, run B against run A (ids, prefixes or `latest`): ratio of medians with its 95% CI,
    Mann-Whitney p and a verdict. Exits 1 when any cell got slower (or broke)."""
    from harness.report.compare import COLUMNS, compare_runs, comparison_rows, rule_text, summary_line
    from harness.store import Store

    with Store(db) as store:
        comparison = compare_runs(store, run_a, run_b, threshold=threshold, alpha=alpha)
    table = Table(title=f"B {comparison.run_b} vs A {comparison.run_a}")
    for col in COLUMNS:
        table.add_column(col, overflow="fold")
    for row in comparison_rows(comparison):
        table.add_row(*row)
    console.print(table)
    for warning in comparison.warnings:
        console.print(f"warning: {warning}")
    console.print(f"Rule: {rule_text(threshold, alpha)}.")
    console.print(summary_line(comparison))
    if comparison.regressions:
        sys.exit(1)


# --- export and cache -----------------------------------------------------------------------


@contextlib.contextmanager
def _export_log(path: Path):
    """Everything the converters log or warn goes to the log file, not the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root, harness_logger = logging.getLogger(), logging.getLogger("harness")
    level = harness_logger.level
    harness_logger.setLevel(logging.INFO)
    root.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        harness_logger.setLevel(level)
        handler.close()


@main.command("export")
@click.option("--models", "model_selector", default="all", show_default=True,
              help="all, a family name, or a comma list of model names.")
@click.option("--formats", "format_selector", default="all", show_default=True,
              help="Comma list of formats, or all.")
@click.option("--seed", default=0, show_default=True, help="Seed of the random weights.")
@input_shape_option
@calibration_option
@weights_option
@cache_option
@translate_errors
def export_command(model_selector, format_selector, seed, input_shape, calibration_images, cache_dir,
                   weights):
    """Build every model in every format (cached), check numerics, print the matrix; run nothing."""
    from harness.export.base import resolve_formats
    from harness.export.cache import ArtifactCache, default_cache_dir
    from harness.export.pipeline import export_matrix
    from harness.report.export_matrix import render_matrix, summary_line
    from harness.zoo import resolve_models

    specs = resolve_models(model_selector, input_shape, weights=weights)
    formats = resolve_formats(format_selector)
    artifact_cache = ArtifactCache(cache_dir or default_cache_dir())
    log_path = artifact_cache.root.parent / "logs" / f"export-{time.strftime('%Y%m%d-%H%M%S')}.log"
    with _export_log(log_path), Progress(TextColumn("{task.description}"), BarColumn(),
                                         MofNCompleteColumn(), TimeElapsedColumn(),
                                         console=err_console) as progress:
        task = progress.add_task("export", total=len(specs) * len(formats))

        def cell_done(artifact):
            progress.advance(task)
            progress.console.print(f"  {artifact.model:<24} {artifact.format:<20} {artifact.status}"
                                   + (f"  {artifact.reason}" if artifact.reason else ""), markup=False)

        artifacts = export_matrix(specs, formats, artifact_cache, seed=seed,
                                  calibration_dir=calibration_images, on_cell=cell_done)
    console.print(render_matrix(artifacts))
    console.print(f"{summary_line(artifacts)}. Cache {artifact_cache.root}; log {log_path}")


@main.group("cache")
def cache_group():
    """The artifact cache shared by all formats."""


@cache_group.command("ls")
@cache_option
@translate_errors
def cache_ls(cache_dir):
    """Every cached artifact, most recently used first, and whether it is stale."""
    from harness.errors import UnknownFormatError
    from harness.export.base import MissingExporter, get_format
    from harness.export.cache import ArtifactCache, default_cache_dir, stale_because
    from harness.report.export_matrix import fmt_size

    artifact_cache = ArtifactCache(cache_dir or default_cache_dir())
    entries = artifact_cache.listing()
    table = Table(title=f"Artifact cache {artifact_cache.root}")
    for col in ("key", "model", "format", "status", "size", "last used", "stale"):
        table.add_column(col, overflow="fold")
    for e in entries:
        try:
            stale = stale_because(e.inputs, get_format(e.artifact.format).exporter_versions()) or ""
        except UnknownFormatError:
            stale = "format no longer exists"
        except MissingExporter as exc:
            stale = f"cannot tell: {exc}"
        table.add_row(e.key[:12], e.artifact.model, e.artifact.format, e.artifact.status,
                      fmt_size(e.size_bytes), time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used)),
                      stale)
    console.print(table)
    console.print(f"{len(entries)} entries, {fmt_size(sum(e.size_bytes for e in entries)) if entries else '0 B'}")


@cache_group.command("prune")
@click.option("--stale", is_flag=True, help="Entries of other model sources or exporter versions than the current ones.")
@click.option("--failed", is_flag=True, help="Failed exports, so the next export retries them.")
@click.option("--older-than", type=click.FloatRange(0), default=None, metavar="DAYS",
              help="Entries not used for this many days.")
@click.option("--all", "everything", is_flag=True, help="Everything in the cache.")
@cache_option
@translate_errors
def cache_prune(stale, failed, older_than, everything, cache_dir):
    """Remove cache entries; say which with --stale, --failed, --older-than DAYS or --all."""
    from harness.export.cache import ArtifactCache, default_cache_dir

    if not (stale or failed or everything or older_than is not None):
        raise click.UsageError("Say what to prune: --stale, --failed, --older-than DAYS or --all.")
    artifact_cache = ArtifactCache(cache_dir or default_cache_dir())
    removed = artifact_cache.prune(older_than_days=older_than, stale=stale, failed=failed,
                                   everything=everything)
    console.print(f"Removed {removed} {'entry' if removed == 1 else 'entries'} from {artifact_cache.root}; "
                  f"{len(artifact_cache.listing())} left.")


if __name__ == "__main__":
    main()
