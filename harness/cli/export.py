"""`harness export`: build and check the export matrix; measure nothing."""

from __future__ import annotations

import os
import time

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.cli.options import (
    cache_option,
    calibration_option,
    check_formats,
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
from harness.cli.output import echo_prose, echo_table, wide_option
from harness.logs import log_to


@click.command("export", short_help="Build and check the export matrix; run nothing.")
@models_option
@click.option("--formats", "format_selector", default="all", show_default=True,
              help="Comma list of formats, or all.")
@input_shape_option
@measurement_options("seed", "timeout_s", "export_timeout_s", "memory_limit_gib")
@jobs_option
@calibration_option
@weights_option
@numerics_reference_option
@cache_option
@wide_option
@click.pass_context
@translate_errors
def export_command(ctx, model_selector, format_selector, input_shape, jobs, calibration_images,
                   cache_dir, weights, numerics_reference, wide, **measuring):
    """Build every model in every format (cached), check numerics, print the matrix; run nothing.

    Exits 0 when every cell exported and passed its numerics check, 3 when some did not, 4 when
    none did (harness.exit_codes)."""
    from harness import exit_codes
    from harness.export.base import ARTIFACT_OK, all_formats, resolve_formats
    from harness.export.given import formats_for
    from harness.export.cache import ArtifactCache, default_cache_dir
    from harness.export.isolated import export_all
    from harness.report.export_matrix import matrix_table, summary_line
    from harness.report.text import Notes
    from harness.zoo import resolve_models

    specs = resolve_models(require_models(model_selector), input_shape, weights=weights,
                           numerics_reference=numerics_reference)
    formats = resolve_formats(check_formats(format_selector))
    jobs = resolve_jobs(jobs)
    settings = settings_from(measuring)
    limits = settings.child_limits(jobs)
    artifact_cache = ArtifactCache(cache_dir or default_cache_dir())
    log_path = (artifact_cache.root.parent / "logs"
                / f"export-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log")
    artifacts = []
    with log_to(log_path), Progress(TextColumn("{task.description}"), BarColumn(),
                                         MofNCompleteColumn(), TimeElapsedColumn(),
                                         console=err_console) as progress:
        task = progress.add_task("export", total=sum(len(formats_for(s, formats)) for s in specs))

        def model_done(spec, exported):
            for artifact in exported.artifacts.values():
                artifacts.append(artifact)
                progress.advance(task)
                progress.console.print(f"  {artifact.model}  {artifact.format}  {artifact.status}"
                                       + (f"  {artifact.reason}" if artifact.reason else ""),
                                       markup=False, highlight=False, soft_wrap=True)
                for note in artifact.notes:
                    progress.console.print(f"    note: {note}", markup=False, highlight=False,
                                           soft_wrap=True)

        export_all(specs, lambda spec: formats_for(spec, formats), artifact_cache, jobs=jobs, on_done=model_done,
                   seed=settings.seed, calibration_dir=calibration_images, limits=limits, log_path=log_path,
                   on_step=lambda name, fmt, step: progress.update(
                       task, description=f"{step} {name} / {fmt or '-'}"))
    order = {spec.name: i for i, spec in enumerate(specs)}  # the matrix in the order asked
    names = [f.name for f in all_formats()]  # the registry's order; given files' own formats too
    artifacts.sort(key=lambda a: (order[a.model], names.index(a.format)))
    notes = Notes()
    echo_table(matrix_table(artifacts, notes), notes, wide=wide)
    echo_prose(f"{summary_line(artifacts)}. Cache {artifact_cache.root}; log {log_path}")
    ctx.exit(exit_codes.outcome_code(sum(a.status == ARTIFACT_OK for a in artifacts), len(artifacts)))


