"""`harness results export` and `harness results import`: results in other tools' formats
(harness.results_io). Parsing options and printing only."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from harness.cli.options import Number, db_option, translate_errors
from harness.cli.output import echo, echo_prose, echo_raw, pipe_closed
from harness.results_io.cells import ImportLimits


@click.group("results", short_help="Results in and out: CSV, JSONL, v3 records; other tools' files.")
def results_group():
    """Export stored results for other tools, or import other tools' measurements.

    `harness results export --format csv|jsonl|hud-v3` writes the newest record of every cell;
    `harness results import FILE` stores a TFLite benchmark_model log, an ExecuTorch
    benchmark_results.json, v3 records, an AI Hub perf.yaml, an XCTest log or xcresulttool's
    metrics JSON as a run of its own, marked as imported everywhere it is shown
    (docs/results-io.md)."""


@results_group.command("export", short_help="Write stored results as CSV, JSONL or v3 records.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "hud-v3"]), required=True,
              help="csv: a row per cell; jsonl: a record per line with its raw samples; hud-v3: "
                   "the PyTorch benchmark database's v3 records.")
@click.option("--run", "run_id", default=None,
              help="Only this run's records (an id, a prefix or `latest`); default: the newest "
                   "record of every cell.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (default: standard output).")
@db_option
@translate_errors
def export_command(fmt, run_id, out, db):
    """Write the newest record of every cell (or one run's) in FORMAT (docs/site.md)."""
    from harness.results_io.export import export_chunks
    from harness.store import Store

    with Store(db, readonly=True) as store:
        cells, chunks = export_chunks(store, fmt, run_id)  # written as they are made
        if out is None:
            for chunk in chunks:
                echo_raw(chunk)
                if pipe_closed():
                    return
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                for chunk in chunks:
                    f.write(chunk)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(out)  # a reader of `out` never sees half a file
    echo(f"{cells} cells written to {out} ({fmt})")


@results_group.command("import", short_help="Store another tool's measurements as a run.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "tool", type=click.Choice(["benchmark_model", "executorch", "v3", "aihub",
                                                   "xctest", "xcresult"]),
              default=None, help="The tool that wrote FILE (default: read from its content).")
@click.option("--device", "device_name", default=None,
              help="The device the measurements were made on, when FILE does not name it "
                   "(benchmark_model logs, XCTest logs of other apps) [a device of FILE's own].")
@click.option("--platform", type=click.Choice(["android", "ios", "linux", "macos"]), default=None,
              help="That device's platform.")
@click.option("--format", "fmt", default=None,
              help="The format to file the cells under (default: from FILE, e.g. tflite).")
@click.option("--model", default=None, help="The model of a benchmark_model log (default: the "
                                           "log's Graph file name).")
@click.option("--runtime", default=None,
              help="The runtime that ran the measurements, when FILE does not say (XCTest suites "
                   "other than ExecuTorch's) [unknown].")
@click.option("--max-cells", type=Number(int, 1), default=ImportLimits.cells, show_default=True,
              help="Refuse a FILE of more cells (models x formats x devices) than this.")
@click.option("--max-samples", type=Number(int, 1), default=ImportLimits.samples,
              show_default=True, help="Refuse a FILE of more samples, in all, than this.")
@db_option
@translate_errors
def import_command(file, tool, device_name, platform, fmt, model, runtime, max_cells, max_samples, db):
    """Read FILE (a TFLite benchmark_model log, an ExecuTorch benchmark_results.json, v3
    records, an AI Hub perf.yaml, an XCTest log or `xcrun xcresulttool get test-results
    metrics` JSON) and store its measurements, one run per
    device, each marked as imported from FILE. A model named as in the zoo joins that model's
    row. A FILE that does not parse stores nothing."""
    from device_runners.contract import DeviceInfo
    from harness.results_io.importer import import_file
    from harness.store import Store

    limits = ImportLimits(cells=max_cells, samples=max_samples)
    device = None  # a device of the file's own (harness.results_io.importer.file_device)
    if device_name:
        device = DeviceInfo(device_id=device_name, platform=platform or "unknown",
                            product_model=device_name, kind=platform or "imported")
    argv = shlex.join(["harness", "results", "import", str(file)])
    with Store(db) as store:
        stored = import_file(store, file, device, argv, tool=tool, fmt=fmt, model=model,
                             runtime=runtime, platform=platform, limits=limits)
    for run_id, cells, measured in stored:
        echo(f"Run {run_id}: {cells} cells imported from {file.name}, {measured} measured")
    echo_prose("`harness show RUN` shows one; `harness site` and `harness report` mark them as "
               "imported.")
