"""The commands that read the results database and change nothing: runs, show, compare, report.

They open the database read-only (harness.store), print plain-text tables fitted to the
terminal (harness.cli.output) or JSON (`--json`), and print a run the way `harness run` did.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from harness.cli.options import Number, db_option, translate_errors
from harness.cli.output import (
    echo,
    echo_json,
    echo_notes,
    echo_prose,
    echo_table,
    json_option,
    pipe_closed,
    wide_option,
)
from harness.errors import HarnessError, UsageError
from harness.report.estimate import plural


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "n/a"


def _device_text(device: dict, device_id: str) -> str:
    what = device.get("cpu") or device.get("product_model") or device.get("soc") or ""
    cores = device.get("cpu_count")
    detail = ", ".join(x for x in (what, f"{cores} CPUs" if cores else "") if x)
    return f"{device_id} ({detail})" if detail else device_id


def settings_line(config: dict) -> str:
    """What a run measured with (harness.report.figures.fmt_run_settings)."""
    from harness.report.figures import fmt_run_settings

    return fmt_run_settings(config)


def print_run(info, records, wide: bool = False) -> None:
    """A run's tables as `harness run` and `harness show` print them: every cell with its
    figures and a flag, the formats side by side, then the notes the flags point to."""
    from harness.report.leaderboard import (
        UNSTABLE_LEGEND,
        UNSTABLE_MARK,
        energy_line,
        memory_line,
        no_energy,
        run_table,
        side_by_side,
        side_by_side_text_table,
        side_by_side_title,
    )
    from harness.report.text import Notes

    if not records:
        echo("No cell of this run was stored.")
        return
    notes = Notes()
    table = run_table(records, notes, wide=wide, run=info)
    echo_table(table, wide=wide, after=[memory_line(records),
                                        energy_line(records) if no_energy(records) and not wide else ""])
    if len({r.format for r in records}) >= 2:
        columns, rows = side_by_side(records)
        echo()
        side = side_by_side_text_table(columns, rows, side_by_side_title(records) + ":")
        marked = any(UNSTABLE_MARK in cell for row in rows for cell in row[1:])
        echo_table(side, wide=wide, after=[UNSTABLE_LEGEND if marked else ""])
    _print_sustained(records, wide)
    if notes.texts:
        echo_notes(notes)


def _print_sustained(records, wide: bool) -> None:
    """Each sustained cell's summary and windows (harness.bench.sustained)."""
    from harness.report.sustained_table import summary_line, sustained_cells, window_rows
    from harness.report.text import Column, TextTable

    for record in sustained_cells(records):
        echo()
        echo_prose(summary_line(record) + ":")
        headers, rows = window_rows(record)
        if rows:
            columns = [Column(h, align="left" if h == "thermal" else "right") for h in headers]
            echo_table(TextTable(columns, rows), wide=wide)


@click.command("runs", short_help="The stored runs, newest first.")
@click.option("--limit", type=Number(int, 1), default=None, help="Only the newest N runs.")
@json_option
@db_option
@translate_errors
def runs_command(limit, as_json, db):
    """The stored runs, newest first: id, start, device, models x formats, cells measured,
    status and git sha. `harness show RUN_ID` shows one."""
    from harness.report.jsonable import dumps, run_json
    from harness.report.text import Column, TextTable
    from harness.store import Store

    with Store(db, readonly=True) as store:
        listing = store.run_listing()[:limit]
    if as_json:
        echo_json(dumps({"runs": [run_json(run, n, ok) for run, n, ok in listing]}))
        return
    if not listing:
        echo("No runs stored yet; `harness run --models ...` makes one.")
        return
    table = TextTable([Column("run", key=True), Column("started"), Column("device"),
                       Column("models x formats", "right"), Column("measured", "right"),
                       Column("status"), Column("git", hide=1)])
    for run, n, ok in listing:
        config = run.config or {}
        models, formats = config.get("models") or [], config.get("formats") or []
        shape = f"{len(models)} x {len(formats)}" if models and formats else "n/a"
        # Of the cells the run set out to measure, not only of those stored: an interrupted run
        # of 3 cells with 1 stored reads 1/3. (Runtime variants can add cells: never below n.)
        planned = max(n, len(models) * len(formats))
        table.add_row(run.id, _when(run.started_at), run.device_id, shape, f"{ok}/{planned}",
                      run.status, (run.git_sha or "n/a")[:10])
    echo_table(table)


def print_ops(records, top: int, wide: bool = False) -> None:
    """The top operators of every profiled cell (harness.profiles), or one line saying there
    are none."""
    from harness.profiles import ops_table, stored_profile

    if not any(stored_profile(r) for r in records):
        echo("No operator profiles in this run; `harness run --profile` takes them.")
        return
    table, after = ops_table(records, top)
    if not table.rows:  # every profile is missing: only the reasons
        for line in after:
            echo_prose(line)
        return
    echo(f"Top {top} operators per profiled cell (a separate profiling trial; its times are "
         "not in the statistics):")
    echo_table(table, wide=wide, after=after)


def print_placement(records, top: int, wide: bool = False) -> None:
    """Where every operator of every cell ran (harness.placement), or why nothing says."""
    from harness.placement.text import placement_table

    table, after = placement_table(records, top)
    if not table.rows and not after:
        echo("No cell of this run says where its operators ran.")
        return
    if not table.rows:  # nothing row by row: only what each cell's map says
        for line in after:
            echo_prose(line)
        return
    echo(f"Where each operator ran, per cell (top {top} rows; --top changes it):")
    echo_table(table, wide=wide, after=after)


def write_explorer(records, out: Path, against: dict) -> None:
    """Model Explorer overlays of every cell (harness.placement.model_explorer)."""
    from harness.placement.model_explorer import write_overlays

    try:
        lines = write_overlays(records, out, against)
    except (OSError, ValueError) as exc:
        raise HarnessError(f"Cannot write the overlays into {out}: {exc}") from None
    echo(f"Model Explorer overlays in {out} (overlays.txt lists them):")
    for line in lines:
        echo(line)


@click.command(short_help="One stored run, or its raw samples.")
@click.argument("run_id", default="latest")
@click.option("--samples", is_flag=True,
              help="Print only the raw timed samples, one a line: model, format, trial, ms "
                   "(after a header line).")
@click.option("--ops", is_flag=True,
              help="Print only the top operators of each profiled cell (`harness run --profile`).")
@click.option("--placement", is_flag=True,
              help="Print only where each cell's operators ran: backend or compute unit, time "
                   "share, delegated or not (docs/placement.md).")
@click.option("--model-explorer", "explorer_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None,
              help="Write each cell's graph and node data for Google's Model Explorer into this "
                   "directory: latency, placement and per-layer numerics per node "
                   "(docs/placement.md).")
@click.option("--against", default=None, metavar="RUN_ID",
              help="With --model-explorer: also a per-node diff, this run's ms minus RUN_ID's.")
@click.option("--top", type=Number(int, 1), default=10, show_default=True,
              help="Operators per cell with --ops and --placement.")
@click.option("--recompute", is_flag=True,
              help="Recompute every statistic and warning from the raw samples instead of "
                   "showing the figures stored with each record.")
@wide_option
@json_option
@db_option
@translate_errors
def show(run_id, samples, ops, placement, explorer_dir, against, top, recompute, wide, as_json, db):
    """One stored run (an id, a unique prefix, or `latest`, the default): its context and every
    cell, with the statistics stored with it (computed from the raw samples when it was
    stored; --recompute computes them again). `harness runs` lists the runs."""
    from harness.report.figures import fmt_context
    from harness.report.jsonable import dumps, record_json, run_json
    from harness.store import Store

    with Store(db, readonly=True) as store:
        info = store.get_run(run_id)
        records = store.records(info.id, recompute=recompute)
        if as_json:
            trials = {r.id: store.trial_samples(r.id) for r in records} if samples else {}
            echo_json(dumps({"run": run_json(info), "records": [
                record_json(r, info, trials.get(r.id) if samples else None) for r in records]}))
            return
        if ops:
            print_ops(records, top, wide=wide)
            return
        if placement:
            print_placement(records, top, wide=wide)
            return
        if against and explorer_dir is None:
            raise UsageError("--against goes with --model-explorer DIR: the diff is an overlay.")
        if explorer_dir is not None:
            other = store.records(store.get_run(against).id) if against else []
            write_explorer(records, explorer_dir, {(r.model, r.format): r for r in other})
            return
        if samples:
            echo("model format trial ms")
            for r in records:
                for trial, values in enumerate(store.trial_samples(r.id), 1):
                    prefix = f"{r.model} {r.format} {trial} "
                    for v in values:
                        echo(prefix + f"{v:.6g}")
                        if pipe_closed():
                            return
            return
    echo(f"Run {info.id}  {info.status}  {_device_text(info.device, info.device_id)}")
    echo_prose(f"started {_when(info.started_at)}, git {info.git_sha or 'n/a'}, "
               f"harness {info.harness_version}", "  ")
    echo_prose(f"command: {info.argv}", "  ")
    echo_prose(f"settings: {settings_line(info.config)}", "  ")
    measured = next((r.result for r in records if r.result is not None and r.result.ok), None)
    echo_prose(f"context: {fmt_context(measured)}", "  ")
    echo()
    print_run(info, records, wide=wide)


@click.command(short_help="Run B against run A, cell by cell.")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--threshold", default=0.05, show_default=True,
              type=Number(float, 0, 1, min_open=True, max_open=True),
              help="Smallest change that counts, as a fraction of A's median.")
@click.option("--alpha", default=0.01, show_default=True,
              type=Number(float, 0, 1, min_open=True, max_open=True),
              help="Significance level of the Mann-Whitney U test.")
@wide_option
@json_option
@db_option
@click.pass_context
@translate_errors
def compare(ctx, run_a, run_b, threshold, alpha, wide, as_json, db):
    """Per cell, run B against run A (ids, prefixes or `latest`): ratio of medians with its 95% CI,
    Mann-Whitney p and a verdict. Exits 0 when no cell got slower or broke, 3 when some did, 4
    when the runs have no measured cell in common (harness.exit_codes)."""
    from harness import exit_codes
    from harness.report.compare import compare_runs, comparison_table, rule_text, summary_line
    from harness.report.jsonable import comparison_json, dumps
    from harness.report.text import Notes
    from harness.store import Store

    with Store(db, readonly=True) as store:
        comparison = compare_runs(store, run_a, run_b, threshold=threshold, alpha=alpha)
    if as_json:
        echo_json(dumps(comparison_json(comparison)))
    else:
        notes = Notes()
        echo_table(comparison_table(comparison, notes), wide=wide)
        for warning in comparison.warnings:
            echo_prose(f"warning: {warning}")
        echo_prose(f"Rule: {rule_text(threshold, alpha)}.")
        echo_prose(summary_line(comparison))
        if notes.texts:
            echo_notes(notes)
    if comparison.regressions:
        ctx.exit(exit_codes.SOME_FAILED)
    ctx.exit(exit_codes.OK if comparison.compared else exit_codes.NOTHING_DONE)


@click.command(short_help="Write the leaderboard (Markdown), or check the papers' latencies.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("results") / "leaderboard.md", show_default=True)
@click.option("--paper-check", is_flag=True,
              help="Print every published latency beside ours on the same device class, with "
                   "the ratio and a verdict, instead of writing the leaderboard.")
@wide_option
@db_option
@translate_errors
def report(out, paper_check, wide, db):
    """Write the leaderboard: the newest record of every cell (a model in a format on a device
    with one setting of threads, CPUs, input shape, backend and precision), in Markdown.
    --paper-check prints the paper check instead (harness.report.paper_check)."""
    from harness.store import Store

    with Store(db, readonly=True) as store:
        records = store.latest_records()
        runs = {run.id: run for run in store.runs()}
        if paper_check:
            _print_paper_check(records, runs, wide)
            return
        if not records:
            raise HarnessError(f"No records in {store.location} yet; run `harness run` first.")
        from harness.report.leaderboard import write_leaderboard

        write_leaderboard(records, out, runs=runs)
    echo(f"Leaderboard of {plural(len(records), 'cell')} written to {out}")


def _print_paper_check(records, runs, wide: bool) -> None:
    from harness.report.paper_check import (
        paper_check,
        paper_check_table,
        rule_text,
        summary_line,
    )
    from harness.report.text import Notes

    rows = paper_check(records, runs)
    notes = Notes()
    echo_table(paper_check_table(rows, notes), wide=wide)
    echo_prose(f"Rule: {rule_text()}")
    echo_prose(summary_line(rows))
    if notes.texts:
        echo_notes(notes)


@click.command(short_help="Render the static HTML site of the results (and serve it).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results") / "site", show_default=True,
              help="Directory of the site: new, empty, or a site this command wrote before.")
@click.option("--compare", "pairs", nargs=2, multiple=True, metavar="RUN_A RUN_B",
              help="Add a comparison page of these two runs (repeatable); each run is compared "
                   "with the one before it on its device anyway.")
@click.option("--serve", is_flag=True, help="Then serve the site on 127.0.0.1 until Ctrl-C.")
@click.option("--port", type=Number(int, 0, 65535), default=8000, show_default=True,
              help="Port of --serve (0: any free port).")
@db_option
@translate_errors
def site(out, pairs, serve, port, db):
    """Render the results as a static site in DIR: an index table per device and setting with
    Pareto plots, a page per model, the paper check, every run against the one before it.
    Plain files that load nothing from elsewhere; the same database gives the same bytes."""
    from harness.site import render_site

    started = time.perf_counter()
    files = render_site(db, out, list(pairs))
    echo(f"Site of {len(files)} pages written to {out} in {time.perf_counter() - started:.1f} s; "
         f"open {out / 'index.html'}")
    if not serve:
        return
    from harness.site.serve import site_server, url_of

    try:
        server = site_server(out, port)
    except OSError as exc:
        raise HarnessError(f"Cannot serve on 127.0.0.1:{port} ({exc.strerror}); give another "
                           "--port, or 0 for any free one.") from None
    echo(f"Serving {out} at {url_of(server)}; Ctrl-C stops.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        echo("Stopped.")
    finally:
        server.server_close()
