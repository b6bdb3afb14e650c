"""The `harness` command: parse options, call the library, print. No logic beyond that."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.cli_cache import cache_group
from harness.cli_farm import farm_group
from harness.cli_options import (
    cache_option,
    calibration_option,
    check_formats,
    child_limits,
    err_console,
    export_timeout_option,
    input_shape_option,
    jobs_option,
    memory_limit_option,
    models_option,
    require_models,
    resolve_jobs,
    timeout_option,
    translate_errors,
    numerics_reference_option,
    weights_option,
)
from harness.cli_output import echo, echo_json, echo_prose, echo_table, json_option, wide_option
from harness.cli_results import compare, report, runs_command, show, site
from harness.cli_results_io import results_group
from harness.cli_run import run
from harness.cli_setup import setup_group
from harness.errors import HarnessError, UsageError



@click.group()
@click.version_option(package_name="harness")
def main():
    """Export efficient vision networks to phone runtimes and measure them honestly.

    Start with `harness run --models repvit_m0_9 --formats executorch,tflite`; `harness runs`
    lists what is stored, `harness show` shows one run. Tables fit the terminal (--wide shows
    every column); --json prints JSON instead (run, show, compare, runs, models, devices)."""


# --- models ---------------------------------------------------------------------------------


@main.command(short_help="The zoo, with the papers' figures.")
@click.option("--family", default=None, help="Only this family (e.g. RepViT).")
@click.option("--check", is_flag=True, help="Count params and MACs and compare with published; exit 1 on a miss.")
@wide_option
@json_option
@translate_errors
def models(family, check, wide, as_json):
    """The zoo: every registered model with its published facts (the paper's latency with the
    device it was measured on)."""
    from harness.report.format import fmt_count, published_latency_text
    from harness.report.jsonable import dumps, published_json
    from harness.report.text import Column, Notes, TextTable
    from harness.zoo.index import zoo_index

    entries = zoo_index(family)  # the index: listing the zoo imports no torch
    if not entries:
        import difflib

        known = sorted({e.family for e in zoo_index()}, key=str.lower)
        close = difflib.get_close_matches(family.lower(), [f.lower() for f in known], n=2, cutoff=0.6)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise UsageError(f"No family {family!r}.{hint} Families: {', '.join(known)}.")
    if check:
        from harness.zoo import list_models
        from harness.zoo.check import check_models

        rows = check_models(list_models(family))
        misses = [r for r in rows if not r.ok]
        if as_json:
            echo_json(dumps({"check": [{
                "model": r.model, "params": r.params, "params_published": r.params_ref,
                "macs": r.macs, "macs_published": r.macs_ref, "macs_convention": r.macs_convention,
                "ok": r.ok, "why": r.why or None} for r in rows]}))
        else:
            notes = Notes()
            table = TextTable([Column("model", key=True), Column("params\nours", "right"),
                               Column("params\npublished", "right"), Column("Δ params", "right"),
                               Column("MACs\nours", "right"), Column("MACs\npublished", "right"),
                               Column("Δ MACs", "right"), Column("verdict")],
                              title="Zoo check: ours vs published")
            for row in rows:
                table.add_row(row.model, fmt_count(row.params, "M"), row.params_ref_text,
                              row.params_delta_text, fmt_count(row.macs, "G"), row.macs_ref_text,
                              row.macs_delta_text, "ok" if row.ok else f"MISS [{notes.ref(row.why)}]")
            echo_table(table, notes, wide=wide)
        if misses:
            raise HarnessError(f"{len(misses)} of {len(rows)} models miss their published counts: "
                               + ", ".join(r.model for r in misses) + ".")
        if not as_json:
            echo(f"All {len(rows)} models match their published counts.")
        return
    if as_json:
        echo_json(dumps({"models": [{"name": s.name, "family": s.family, "input_size": s.input_size,
                                     "published": published_json(s.published)} for s in entries]}))
        return
    table = TextTable([Column("model", key=True), Column("family", hide=3),
                       Column("input", "right", hide=2), Column("params\n(paper)", "right"),
                       Column("MACs\n(paper)", "right"), Column("top-1\n(paper)", "right", hide=1),
                       Column("latency (paper)\non the device it names")], title="Model zoo")
    for s in entries:
        p = s.published
        table.add_row(
            s.name, s.family, str(s.input_size),
            f"{p.params_m}M" if p and p.params_m else "n/a",
            f"{p.macs_g}G" if p and p.macs_g else "n/a",
            f"{p.top1}" if p and p.top1 else "n/a",
            published_latency_text(p.latency_ms, p.latency_device) if p else "n/a",
        )
    echo_table(table, wide=wide, after=[
        "The paper's latencies were measured on the device each names, not on this machine: "
        "`harness run` measures yours."])


# --- devices --------------------------------------------------------------------------------


@main.command(short_help="What is attached, or how to attach it.")
@json_option
@translate_errors
def devices(as_json):
    """What is attached, of every kind of device the harness drives; a kind with none says how
    to attach one."""
    from harness.devices import KINDS
    from harness.report.jsonable import dumps
    from harness.report.text import Column, TextTable

    listed = [(kind, _kind_devices(kind)) for kind in KINDS]
    hints = {kind.name: (kind.no_devices_hint() if kind.no_devices_hint and not attached else None)
             for kind, attached in listed}
    if as_json:
        echo_json(dumps({
            "devices": [{**dataclasses.asdict(a.info), "state": a.state, "label": a.label,
                         "ready": a.ready} for _, attached in listed for a in attached],
            "kinds": [{"name": kind.name, "description": kind.description,
                       "devices": len(attached), "hint": hints[kind.name]}
                      for kind, attached in listed],
        }))
        return
    table = TextTable([Column("id", key=True), Column("kind"), Column("model"),
                       Column("SoC / CPU", hide=2), Column("OS", hide=1),
                       Column("cores", "right"), Column("state"), Column("this host")],
                      title="Devices")
    for _, attached in listed:
        for a in attached:
            d = a.info
            table.add_row(d.device_id, d.kind, d.product_model,
                          d.soc + (f" / {d.cpu}" if d.cpu else ""), d.os_version,
                          str(d.cpu_count), a.state, a.ready)
    echo_table(table)
    for kind, attached in listed:
        if not attached:
            echo_prose(f"{kind.name} ({kind.description}): "
                       + (hints[kind.name] or "none attached"))


def _kind_devices(kind) -> list:
    """A kind's devices; none when its tooling is absent or broken (its hint says what to do)."""
    try:
        return kind.list_devices()
    except Exception as exc:  # noqa: BLE001 (a kind's own tooling may raise anything)
        logging.getLogger("harness.devices").info("listing %s devices failed: %s", kind.name, exc)
        return []


@main.command("build-runner", short_help="Build the native ExecuTorch runner.")
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
    echo(f"Native runner for {target}: {binary}")


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


@main.command("export", short_help="Build and check the export matrix; run nothing.")
@models_option
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
@numerics_reference_option
@cache_option
@wide_option
@click.pass_context
@translate_errors
def export_command(ctx, model_selector, format_selector, seed, input_shape, timeout, export_timeout,
                   memory_limit, jobs, calibration_images, cache_dir, weights, numerics_reference, wide):
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
    limits = child_limits(timeout, export_timeout, memory_limit, jobs)
    artifact_cache = ArtifactCache(cache_dir or default_cache_dir())
    log_path = (artifact_cache.root.parent / "logs"
                / f"export-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log")
    artifacts = []
    with _export_log(log_path), Progress(TextColumn("{task.description}"), BarColumn(),
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
                   seed=seed, calibration_dir=calibration_images, limits=limits, log_path=log_path,
                   on_step=lambda name, fmt, step: progress.update(
                       task, description=f"{step} {name} / {fmt or '-'}"))
    order = {spec.name: i for i, spec in enumerate(specs)}  # the matrix in the order asked
    names = [f.name for f in all_formats()]  # the registry's order; given files' own formats too
    artifacts.sort(key=lambda a: (order[a.model], names.index(a.format)))
    notes = Notes()
    echo_table(matrix_table(artifacts, notes), notes, wide=wide)
    echo_prose(f"{summary_line(artifacts)}. Cache {artifact_cache.root}; log {log_path}")
    ctx.exit(exit_codes.outcome_code(sum(a.status == ARTIFACT_OK for a in artifacts), len(artifacts)))


main.add_command(run)
main.add_command(setup_group)
main.add_command(runs_command)
main.add_command(show)
main.add_command(compare)
main.add_command(report)
main.add_command(site)
main.add_command(results_group)
main.add_command(cache_group)
main.add_command(farm_group)


if __name__ == "__main__":
    main()
