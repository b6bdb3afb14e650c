"""The tables of results: a run's (printed by `harness run` and `harness show`), the formats side
by side, and the leaderboard (Markdown, `harness report`).

Built from stored records only, their stored figures and never their samples, so a report costs
the same however long the runs were.

Like with like. A leaderboard cell is one model in one format on one device under one set of
settings that change its latency: threads, CPU affinity, input shape, backend and precision
(`Store.latest_records` keeps the newest record of each). A table holds one device, one format
and one setting of threads and CPUs, and says so in its title; a side-by-side table holds one
device and one setting of threads and CPUs. A record that an interrupted run cut short (fewer
trials than planned) and records of runs that did not complete are marked, never passed off as
whole.

Memory is reported twice: the model's own (the process peak minus what the process held
before it loaded the model) and the process peak, with the program that measured it: a Python
worker holds an interpreter and its imports, the native runner almost nothing, so only the
first compares across runtimes.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Mapping

from harness.export.base import ARTIFACT_NUMERICS_FAILED, Artifact
from harness.bench.plausibility import plausibility
from harness.bench.validity import invalid_notes, validity
from harness.export.index import table_order
from harness.report.export_matrix import coverage_text
from harness.report.figures import (
    central_ms,
    fmt_affinity,
    fmt_ci,
    fmt_count,
    fmt_energy_mj,
    fmt_latency,
    fmt_memory,
    fmt_model_memory,
    fmt_ms,
    fmt_power_w,
    fmt_published_latency,
    fmt_shape,
    fmt_thermal,
    fmt_threads,
    fmt_top1,
    fmt_trial_spread,
    measured_by,
    origin_text,
)
from harness.report.text import Column, Notes, TextTable, md_text
from harness.store import RUN_COMPLETE, BenchmarkRecord, CellKey, RunInfo

# ----------------------------------------------------------------------------------------------
# What a cell holds


def settings_of(record: BenchmarkRecord, run: RunInfo | None = None) -> CellKey:
    """A record's cell (harness.store.cell_key): what was asked and what ran."""
    return CellKey.of(record, run)


def group_text(key: CellKey) -> str:
    """What every record of one table shares: `1 thread, any CPU`; `threads n/a, CPUs n/a` for
    another tool's measurement that does not say."""
    cpus = fmt_affinity(key.placement) if key.placement_known else "CPUs n/a"
    if key.cores:  # the cluster the run asked for (--cores), whichever CPUs it has there
        cpus = "all cores" if key.cores == "all" else f"{key.cores} cores"
    mode = f", {key.mode}" if key.mode else ""
    return f"{fmt_threads(key.threads)}, {cpus}{mode}"


def partial_note(record: BenchmarkRecord) -> str:
    """"interrupted after 2 of 3 trials" for a measured record cut short, else ""."""
    if record.result is None or record.status != "ok":
        return ""
    ctx = record.result.context
    trials, planned = ctx.get("trials"), ctx.get("trials_planned")
    if isinstance(trials, int) and isinstance(planned, int) and trials < planned:
        return f"only {trials} of {planned} trials: its run was interrupted"
    return ""


def run_note(record: BenchmarkRecord, run: RunInfo | None) -> str:
    """Why a record's run should be read with care: it did not complete, or the harness did not
    measure it (an imported record names its origin wherever it is shown)."""
    if run is not None and origin_text(run.config):
        return origin_text(run.config)
    if run is None or run.status == RUN_COMPLETE:
        return ""
    return f"from run {run.id}, which is {run.status}"


def delegation_text(record: BenchmarkRecord) -> str:
    """How much of the graph the accelerated backend took, from the artifact the record ran.

    A latency means little without it: a model half left to portable kernels is measuring them.
    """
    if not (record.artifact or {}).get("details"):
        return "n/a"
    return coverage_text(Artifact.from_dict(record.artifact))


def _median_key(r: BenchmarkRecord):
    figure = central_ms(r)
    return (figure is None, figure if figure is not None else 0.0, r.model)


def _summary_n(r: BenchmarkRecord) -> str:
    summary = r.tool_summary
    return f"{summary.n} ({summary.tool})" if summary is not None and summary.n else "n/a"


def _summary_figure(r: BenchmarkRecord) -> str:
    """The wide table's median column for a record without samples: the tool's figure, named."""
    summary = r.tool_summary
    if summary is None:
        return "memory only" if r.memory_only else "n/a"
    return f"{fmt_ms(summary.value_ms)} {summary.statistic}"


def flag_text(record: BenchmarkRecord, notes: Notes, run: RunInfo | None = None,
              bench: dict | None = None) -> str:
    """A short flag and the numbers of the notes that explain it: `unstable [1,2]`; `invalid`
    when the record failed its validity checks (harness.bench.validity) against `bench`, its
    run's settings (the run's, when `run` is given)."""
    words = []
    if record.unstable:
        words.append("unstable")
    if record.artifact.get("status") == ARTIFACT_NUMERICS_FAILED:
        words.append("numerics")
    partial = partial_note(record)
    if partial:
        words.append("partial")
    if run is not None and origin_text(run.config):
        words.append("imported")
    verdict = validity(record, bench if bench is not None else (run.config.get("bench") if run else None))
    invalid = invalid_notes(verdict, record.warnings)
    if not (verdict is None or verdict.valid) and any(c.name == "plausible" and not c.passed
                                                       for c in verdict.checks):
        words.append("implausible")
    if verdict is not None and not verdict.valid:
        words.append("invalid")
    reason = record.reason
    if partial and reason and "interrupted after" in reason:
        reason = ""  # the partial note says it
    refs = notes.refs([reason, *record.warnings, *invalid, partial, run_note(record, run)])
    return " ".join(words + ([f"[{refs}]"] if refs else []))


# ----------------------------------------------------------------------------------------------
# A run's table in the terminal (`harness run`, `harness show`)

RUN_COLUMNS = [
    Column("model", key=True),
    Column("format"),
    Column("median ms\n[95% CI]"),
    Column("p90\nms", "right", hide=3),
    Column("load\nms", "right", hide=4),
    Column("memory MB\nmodel/peak", "right", hide=2),
    Column("energy\nmJ", "right", hide=5),
    Column("flag"),
]

WIDE_COLUMNS = [
    Column("model", key=True), Column("format"), Column("status"), Column("input"),
    Column("n", "right"), Column("trials"), Column("median\nms", "right"), Column("95% CI"),
    Column("p90\nms", "right"), Column("p99\nms", "right"), Column("CV", "right"),
    Column("load\nms", "right"), Column("first\nms", "right"),
    Column("process peak MB\nload / inference", "right"),
    Column("memory MB\nmodel/peak", "right"), Column("measured by"),
    Column("energy\nmJ", "right"), Column("power\nW", "right"), Column("thermal"),
    Column("delegated"), Column("params", "right"), Column("MACs", "right"),
    Column("of peak", "right"), Column("top-1\n(paper)", "right"), Column("latency (paper)\non its device"), Column("flag"),
]


def no_energy(records: list[BenchmarkRecord]) -> bool:
    """Whether no record measured energy (a device without a sensor the harness reads)."""
    return all(fmt_energy_mj(r.result.energy if r.result else None) == "n/a" for r in records)


def energy_line(records: list[BenchmarkRecord]) -> str:
    """Under a table without an energy column: why there is none."""
    why = next((w for r in records if r.result is not None for w in r.result.energy.warnings), "")
    return "energy: n/a for every cell" + (f": {why}" if why else "") + "."


def run_table(records: list[BenchmarkRecord], notes: Notes, wide: bool = False,
              run: RunInfo | None = None, title: str = "") -> TextTable:
    """One row per record, in stored order: the default columns, or every one (`wide`). The
    default drops the energy column when no cell has a figure in it (`energy_line` says so)."""
    columns = list(WIDE_COLUMNS if wide else RUN_COLUMNS)
    show_energy = wide or not no_energy(records)
    if not show_energy:
        columns = [c for c in columns if not c.title.startswith("energy")]
    table = TextTable(columns, title=title)
    for r in records:
        s, res = r.stats, r.result
        median = fmt_latency(r).removesuffix(" (unstable)")  # the flag column says unstable
        # The run's own status heads the table already; its settings judge validity.
        flag = flag_text(r, notes, bench=(run.config.get("bench") or {}) if run else None)
        energy = fmt_energy_mj(res.energy if res else None)
        if not wide:
            table.add_row(r.model, r.format, median, fmt_ms(s.p90) if s else "n/a",
                          fmt_ms(res.load_ms) if res else "n/a", fmt_model_memory(res),
                          *([energy] if show_energy else []), flag)
            continue
        info = r.model_info
        table.add_row(
            r.model, r.format, r.status, fmt_shape(settings_of(r, run).input),
            str(s.n) if s else _summary_n(r), fmt_trial_spread(r),
            fmt_ms(s.median) if s else _summary_figure(r), fmt_ci(s) if s else "n/a",
            fmt_ms(s.p90) if s else "n/a", fmt_ms(s.p99) if s else "n/a",
            f"{s.cv:.1%}" if s else "n/a",
            fmt_ms(res.load_ms) if res else "n/a", fmt_ms(res.first_inference_ms) if res else "n/a",
            fmt_memory(res), fmt_model_memory(res), measured_by(res), energy,
            fmt_power_w(res.energy if res else None), fmt_thermal(res.thermal if res else None),
            delegation_text(r), fmt_count(info.get("params"), "M"), fmt_count(info.get("macs"), "G"),
            fmt_efficiency(r), fmt_top1(info), fmt_published_latency(info), flag,
        )
    return table


def fmt_efficiency(record: BenchmarkRecord) -> str:
    """The share of its cores' peak the cell reached (harness.bench.plausibility)."""
    figures = plausibility(record)
    return f"{figures['efficiency']:.0%}" if figures else "n/a"


def memory_line(records: list[BenchmarkRecord]) -> str:
    """Under a table: what the memory figures are, and which program measured each format."""
    by: dict[str, list[str]] = {}
    for r in records:
        if r.result is not None and r.result.ok:
            formats = by.setdefault(measured_by(r.result), [])
            if r.format not in formats:
                formats.append(r.format)
    if not by:
        return ""
    who = "; ".join(f"{name} ({', '.join(fmts)})" for name, fmts in by.items())
    return ("memory: the model's own (process peak minus what the process held before loading "
            f"it) / the process peak, MB; measured by {who}.")


# ----------------------------------------------------------------------------------------------
# Formats side by side

# The baseline every ratio in the side-by-side table is read against.
BASELINE_FORMAT = "eager"
UNSTABLE_MARK = "?"
UNSTABLE_LEGEND = f"{UNSTABLE_MARK} after a median: unstable (the run's table says why)."


def _format_key(fmt: str):
    """Formats in the order their FormatSpecs give (harness.export.index)."""
    return table_order(fmt)


def has_baseline(records: list[BenchmarkRecord]) -> bool:
    return any(r.format == BASELINE_FORMAT and r.stats is not None for r in records)


def side_by_side(records: list[BenchmarkRecord]) -> tuple[list[str], list[list[str]]]:
    """Records of one device and one setting of threads and CPUs as a model x format table.

    A cell reads `12.3 (0.45x)`: the median and median / eager median of the same model, so
    below 1 is faster than PyTorch itself; a model without an eager measurement has no ratio.
    Unstable medians carry `?`; cells without a measurement show their status. Returns
    (columns, rows), models in name order.
    """
    formats = sorted({r.format for r in records}, key=_format_key)
    by_cell = {(r.model, r.format): r for r in records}
    rows = []
    for model in sorted({r.model for r in records}):
        base = by_cell.get((model, BASELINE_FORMAT))
        base_ms = central_ms(base) if base is not None else None
        row = [model]
        for fmt in formats:
            r = by_cell.get((model, fmt))
            if r is None:
                row.append("")
            elif central_ms(r) is None:
                row.append("memory only" if r.memory_only else r.status)
            else:
                figure = central_ms(r)
                text = fmt_ms(figure) + (UNSTABLE_MARK if r.unstable else "")
                if r.stats is None:  # another tool's figure, named as such
                    text += f" {r.tool_summary.statistic}"
                if base_ms and fmt != BASELINE_FORMAT:
                    text += f" ({figure / base_ms:.2f}x)"
                row.append(text)
        rows.append(row)
    return ["model", *formats], rows


def side_by_side_title(records: list[BenchmarkRecord]) -> str:
    if has_baseline(records):
        return f"median ms of each model in each format, and its ratio to {BASELINE_FORMAT} (PyTorch)"
    return "median ms of each model in each format"


def comparable_groups(records: list[BenchmarkRecord], runs: Mapping[str, RunInfo] | None = None):
    """(device, settings text, records) of records that may stand side by side: one device,
    one setting of threads and CPUs, one record per model and format (the newest)."""
    runs = runs or {}

    def key(r):
        s = settings_of(r, runs.get(r.run_id))
        return (r.device_id, group_text(s))

    for (device, text), group in itertools.groupby(sorted(records, key=key), key=key):
        newest: dict[tuple[str, str], BenchmarkRecord] = {}
        for r in group:
            if (r.model, r.format) not in newest or (r.id or 0) > (newest[(r.model, r.format)].id or 0):
                newest[(r.model, r.format)] = r
        yield device, text, list(newest.values())


def side_by_side_tables(records: list[BenchmarkRecord], runs: Mapping[str, RunInfo] | None = None):
    """(device, settings text, records, columns, rows) of every group measured in 2+ formats."""
    for device, text, group in comparable_groups(records, runs):
        if len({r.format for r in group}) >= 2:
            yield (device, text, group, *side_by_side(group))


def side_by_side_text_table(columns: list[str], rows: list[list[str]], title: str) -> TextTable:
    table = TextTable([Column(columns[0], key=True)] + [Column(c, "right") for c in columns[1:]],
                      title=title)
    for row in rows:
        table.add_row(*row)
    return table


# ----------------------------------------------------------------------------------------------
# The leaderboard (Markdown)

COLUMNS = (
    "model", "input", "median ms [95% CI]", "trials", "load ms", "memory MB model / peak",
    "measured by", "energy mJ/inference", "power W", "thermal", "params", "MACs", "delegated",
    "top-1 (paper)", "latency (paper, on its device)", "run", "status",
)


def leaderboard_rows(records: list[BenchmarkRecord],
                     runs: Mapping[str, RunInfo] | None = None) -> list[list[str]]:
    """Rows sorted fastest first; cells without a measurement last, with their reason."""
    runs = runs or {}
    rows = []
    for r in sorted(records, key=_median_key):
        info, result, run = r.model_info, r.result, runs.get(r.run_id)
        notes = [n for n in (r.reason, partial_note(r), run_note(r, run)) if n]
        if "interrupted after" in r.reason and partial_note(r):
            notes.remove(r.reason)
        status = r.status + (": " + "; ".join(notes) if notes else "")
        if r.unstable:
            status += " (unstable: " + "; ".join(r.warnings) + ")"
        rows.append([
            r.model,
            fmt_shape(settings_of(r, run).input),
            fmt_latency(r),
            fmt_trial_spread(r),
            fmt_ms(result.load_ms) if result else "n/a",
            fmt_model_memory(result),
            measured_by(result),
            fmt_energy_mj(result.energy if result else None),
            fmt_power_w(result.energy if result else None),
            fmt_thermal(result.thermal if result else None),
            fmt_count(info.get("params"), "M"),
            fmt_count(info.get("macs"), "G"),
            delegation_text(r),
            fmt_top1(info),
            fmt_published_latency(info),
            r.run_id,
            status,
        ])
    return rows


def leaderboard_groups(records: list[BenchmarkRecord], runs: Mapping[str, RunInfo] | None = None):
    """(device, format, settings text, records): one table each."""
    runs = runs or {}

    def key(r):
        s = settings_of(r, runs.get(r.run_id))
        return (r.device_id, r.format, group_text(s), s.backend, s.precision)

    for (device, fmt, text, backend, precision), group in itertools.groupby(
            sorted(records, key=key), key=key):
        built = ", ".join(x for x in (backend, precision) if x)
        yield device, fmt + (f" ({built})" if built else ""), text, list(group)


def device_label(device_id: str, group: list[BenchmarkRecord]) -> str:
    """"iPhone 12 (00008101-…)": the model a reader knows, then the id the store keys on."""
    model = next((r.result.device.product_model for r in group
                  if r.result and r.result.device.product_model), "")
    return f"{model} ({device_id})" if model and model != device_id else device_id


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def render_markdown(records: list[BenchmarkRecord], title: str = "Leaderboard",
                    runs: Mapping[str, RunInfo] | None = None) -> str:
    lines = [f"# {title}", "", f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} from "
             f"{len(records)} cells, the newest record of each. A cell is one model in one "
             "format on one device with one setting of everything that changes its latency: "
             "threads, CPU affinity, input shape, backend and precision; each table holds one "
             "device and one setting of threads and CPUs, named in its heading, so no table "
             "sets a 1-thread figure beside a 2-thread one. Latency is the median of the timed "
             "samples of all trials with its 95% confidence interval (order statistics, "
             "distribution-free); `trials` gives the spread of the trials' medians. A figure "
             "another tool printed without its runs (an imported benchmark_model mean, AI Hub's "
             "figure) is shown as that tool's, with no interval. Memory is "
             "the model's own (the process peak minus what the process held before loading "
             "it) / the process peak, MB, measured by the program named: only the model's own "
             "compares across runtimes. Energy and power are n/a where the device has no "
             "energy sensor; THROTTLED marks a device that was throttling. The paper's "
             "latency was measured on the device it names, never this one. A record cut short "
             "by an interrupted run, or of a run that did not complete, says so in its status. "
             "Every figure traces to raw samples in the database (`harness show RUN_ID "
             "--samples`).", ""]
    for device, text, group, columns, rows in side_by_side_tables(records, runs):
        lines += [f"## {md_text(device_label(device, group))}, {text}: formats side by side", "",
                  _sentence(side_by_side_title(group))
                  + (f" {UNSTABLE_LEGEND}" if any(UNSTABLE_MARK in c for row in rows for c in row) else ""),
                  ""]
        lines += _md_table(columns, rows)
    for device, fmt, text, group in leaderboard_groups(records, runs):
        lines += [f"## {md_text(device_label(device, group))} / {md_text(fmt)}, {text}", ""]
        lines += _md_table(COLUMNS, leaderboard_rows(group, runs))
    return "\n".join(lines)


def _md_table(columns, rows) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
    return lines + [""]


def write_leaderboard(records: list[BenchmarkRecord], path: Path,
                      runs: Mapping[str, RunInfo] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_markdown(records, runs=runs))
    tmp.replace(path)
    return path
