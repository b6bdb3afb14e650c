"""The `harness` command: parse options, call the library, print. No logic beyond that."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.cli_options import (
    cache_option,
    calibration_option,
    console,
    child_limits,
    db_option,
    err_console,
    export_timeout_option,
    input_shape_option,
    jobs_option,
    resolve_jobs,
    memory_limit_option,
    timeout_option,
    translate_errors,
    weights_option,
)
from harness.cli_cache import cache_group
from harness.cli_run import run
from harness.errors import HarnessError



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
    from harness.zoo.index import zoo_index

    entries = zoo_index(family)  # the index: listing the zoo imports no torch
    if not entries:
        raise HarnessError(f"No family {family!r}; run `harness models` to see the families.")
    if check:
        from harness.zoo import list_models
        from harness.zoo.check import check_models

        rows = check_models(list_models(family))
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
    for s in entries:
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

    with Store(db, readonly=True) as store:
        records = store.latest_records()
        if not records:
            raise HarnessError(f"No records in {store.path} yet; run `harness run` first.")
        write_leaderboard(records, out)
    console.print(f"Leaderboard of {len(records)} cells written to {out}")


@main.command()
@click.argument("run_id")
@click.option("--samples", is_flag=True, help="Print every raw timed sample too.")
@click.option("--recompute", is_flag=True,
              help="Recompute every statistic and warning from the raw samples instead of "
                   "showing the figures stored with each record.")
@db_option
@translate_errors
def show(run_id, samples, recompute, db):
    """One stored run: its context and every cell, with the statistics stored with it (computed
    from the raw samples when it was stored; --recompute computes them again)."""
    from harness.report.format import fmt_context
    from harness.report.leaderboard import DETAIL_COLUMNS, detail_rows
    from harness.store import Store

    with Store(db, readonly=True) as store:
        info = store.get_run(run_id)
        records = store.records(info.id, recompute=recompute)
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
@click.pass_context
@translate_errors
def compare(ctx, run_a, run_b, threshold, alpha, db):
    """Per cell, run B against run A (ids, prefixes or `latest`): ratio of medians with its 95% CI,
    Mann-Whitney p and a verdict. Exits 0 when no cell got slower or broke, 3 when some did, 4
    when the runs have no measured cell in common (harness.exit_codes)."""
    from harness import exit_codes
    from harness.report.compare import COLUMNS, compare_runs, comparison_rows, rule_text, summary_line
    from harness.store import Store

    with Store(db, readonly=True) as store:
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
        ctx.exit(exit_codes.SOME_FAILED)
    ctx.exit(exit_codes.OK if comparison.compared else exit_codes.NOTHING_DONE)


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
@timeout_option
@export_timeout_option
@memory_limit_option
@jobs_option
@calibration_option
@weights_option
@cache_option
@click.pass_context
@translate_errors
def export_command(ctx, model_selector, format_selector, seed, input_shape, timeout, export_timeout,
                   memory_limit, jobs, calibration_images, cache_dir, weights):
    """Build every model in every format (cached), check numerics, print the matrix; run nothing.

    Exits 0 when every cell exported and passed its numerics check, 3 when some did not, 4 when
    none did (harness.exit_codes)."""
    from harness import exit_codes
    from harness.export.base import ARTIFACT_OK, resolve_formats
    from harness.export.cache import ArtifactCache, default_cache_dir
    from harness.export.isolated import export_all
    from harness.report.export_matrix import render_matrix, summary_line
    from harness.zoo import resolve_models

    specs = resolve_models(model_selector, input_shape, weights=weights)
    formats = resolve_formats(format_selector)
    jobs = resolve_jobs(jobs)
    limits = child_limits(timeout, export_timeout, memory_limit, jobs)
    artifact_cache = ArtifactCache(cache_dir or default_cache_dir())
    log_path = (artifact_cache.root.parent / "logs"
                / f"export-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log")
    artifacts = []
    with _export_log(log_path), Progress(TextColumn("{task.description}"), BarColumn(),
                                         MofNCompleteColumn(), TimeElapsedColumn(),
                                         console=err_console) as progress:
        task = progress.add_task("export", total=len(specs) * len(formats))

        def model_done(spec, exported):
            for artifact in exported.artifacts.values():
                artifacts.append(artifact)
                progress.advance(task)
                progress.console.print(f"  {artifact.model:<24} {artifact.format:<20} {artifact.status}"
                                       + (f"  {artifact.reason}" if artifact.reason else ""), markup=False)
                for note in artifact.notes:
                    progress.console.print(f"  {'':<24} {'':<20} note: {note}", markup=False)

        export_all(specs, lambda spec: formats, artifact_cache, jobs=jobs, on_done=model_done,
                   seed=seed, calibration_dir=calibration_images, limits=limits, log_path=log_path,
                   on_step=lambda name, fmt, step: progress.update(
                       task, description=f"{step} {name} / {fmt or '-'}"))
    order = {spec.name: i for i, spec in enumerate(specs)}  # the matrix in the order asked
    artifacts.sort(key=lambda a: (order[a.model], [f.name for f in formats].index(a.format)))
    console.print(render_matrix(artifacts))
    console.print(f"{summary_line(artifacts)}. Cache {artifact_cache.root}; log {log_path}")
    ctx.exit(exit_codes.outcome_code(sum(a.status == ARTIFACT_OK for a in artifacts), len(artifacts)))


main.add_command(run)
main.add_command(cache_group)


if __name__ == "__main__":
    main()
