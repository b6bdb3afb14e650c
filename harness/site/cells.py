"""One record as the site shows it: a row of an index table (`index_row`) and a format's
section of a model page (`model_cell`), every figure formatted as the terminal reports write it
(harness.report.figures), with the value it sorts by and the text shown on hover.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace

from harness.export.base import ARTIFACT_NUMERICS_FAILED, Artifact
from harness.report.export_matrix import coverage_text, fmt_size, numerics_text, status_text
from harness.report.figures import (
    central_ms,
    fmt_ci,
    fmt_summary,
    fmt_context,
    fmt_count,
    fmt_energy_mj,
    fmt_memory,
    fmt_model_memory,
    fmt_ms,
    fmt_power_w,
    fmt_run_settings,
    fmt_thermal,
    fmt_top1,
    fmt_trial_spread,
    measured_by,
    model_memory_kb,
    origin_text,
)
from harness.placement.text import site_rows, site_summary
from harness.report.leaderboard import partial_note
from harness.site.notes import NoteBook, refs_text, validity_row, validity_words, why
from harness.site.plots import ParetoPoint
from harness.site.sustained import sustained_view
from harness.site.svg import HistoryPoint, history_svg, samples_svg
from harness.store import BenchmarkRecord, RunInfo

OK, FAILED, NOT_RUN = "ok", "failed", "not run"
STATE_CLASS = {OK: "st-ok", FAILED: "st-failed", NOT_RUN: "st-notrun"}

INDEX_COLUMNS = ("model", "family", "params", "MACs", "top-1 (paper)", "format", "state",
                 "median ms", "95% CI", "p90 ms", "n", "load ms", "model memory MB",
                 "energy mJ", "numerics", "delegated", "flags")
WORD_COLUMNS = frozenset(("model", "family", "state", "numerics", "delegated", "flags"))
NUMERIC_COLUMNS = frozenset(("params", "MACs", "top-1 (paper)", "median ms", "p90 ms", "n",
                             "load ms", "model memory MB", "energy mJ"))


def _styled(cells: list["Fig"]) -> tuple["Fig", ...]:
    """The cells of an index row with their classes: figures right-aligned, the state marked,
    an unstable figure or flag marked."""
    out = []
    for column, fig in zip(INDEX_COLUMNS, cells):
        classes = []
        if column in NUMERIC_COLUMNS:
            classes.append("num")
        if column == "state":
            classes.append("state")
        if "⚠" in fig.text:
            classes.append("unstable")
        if column in WORD_COLUMNS or (column == "median ms" and "(" in fig.text):
            # Words, not one figure (a name, the flags, a tool's own summary): these may wrap,
            # so the table fits a laptop's screen; a figure and its interval never do.
            classes.append("words")
        out.append(replace(fig, css=" ".join(classes)))
    return tuple(out)


def when(t: float | None) -> str:
    """A stored time, in UTC (the same text on every machine)."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t)) if t else "n/a"


# A file name of the site is at most this long before its suffix: names come from the database,
# where an imported model may be named anything, of any length.
SLUG_CHARS = 60


def slug(text) -> str:
    """`text` as part of a file name or an id: letters, digits, `_`, `.` and `-`, at most
    SLUG_CHARS (and a hash of the whole text when cut, so two long names stay apart)."""
    text = str(text)
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "x"
    if len(base) <= SLUG_CHARS:
        return base
    return base[:SLUG_CHARS].rstrip("-.") + "-" + name_hash(text)


def name_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(str(text).encode("utf-8", "surrogatepass")).hexdigest()[:10]


@dataclass(frozen=True)
class Fig:
    """One table cell: its text, the value it sorts by (None: sorts last) and a tooltip."""

    text: str
    key: float | str | None = None
    title: str = ""
    css: str = ""  # the cell's class: num (a figure, right-aligned), state, unstable

    @property
    def sort(self) -> str:
        if self.key is None:
            return ""
        return self.key if isinstance(self.key, str) else repr(float(self.key))


def _num(value: float | None, text: str | None = None) -> Fig:
    return Fig(text if text is not None else fmt_ms(value), value)


def _text(value) -> Fig:
    value = str(value)  # a name; a run an older harness imported may hold a number there
    return Fig(value, value.lower() if value not in ("", "n/a") else None)


# ----------------------------------------------------------------------------------------------
# The index


@dataclass(frozen=True)
class IndexRow:
    model: str
    model_href: str
    format: str
    state: str
    cells: tuple[Fig, ...]  # in INDEX_COLUMNS order

    @property
    def state_class(self) -> str:
        return STATE_CLASS[self.state]


@dataclass(frozen=True)
class Group:
    """One device and one setting of threads and CPUs: a table and a Pareto plot."""

    anchor: str
    device_id: str
    title: str  # "iPhone 12 (0000…), 1 thread, any CPU"
    rows: tuple[IndexRow, ...]
    notes: tuple[str, ...]
    pareto: str  # inline SVG, "" without a point to draw
    pareto_note: str
    states: dict = field(default_factory=dict)  # state -> count


def artifact_of(record: BenchmarkRecord) -> Artifact:
    """The record's artifact; a record stored without one (written by a test, or by a tool that
    built nothing the harness knows) reads as an artifact of unknown provenance, not an error."""
    base = {"model": record.model, "format": record.format, "status": "n/a", "cache_key": ""}
    return Artifact.from_dict({**base, **(record.artifact or {})})


def numerics_short(record: BenchmarkRecord) -> Fig:
    """`cos 0.99999` with the whole check on hover; the export's check, and the device's when
    the runner ran the check inputs."""
    artifact = record.artifact or {}
    numerics = artifact.get("numerics")
    if not numerics:
        return Fig("n/a")
    full = numerics_text(artifact_of(record))
    text = f"cos {numerics.get('cosine', float('nan')):.5f}"
    if artifact.get("status") == ARTIFACT_NUMERICS_FAILED:
        text += " ✗"
    device = (record.trials[0].context.get("device_numerics") if record.trials else None) or {}
    if device.get("cosine") is not None:
        full += f"; on the device: cos {device['cosine']:.5f}" + \
            ("" if device.get("passed", True) else " (failed)")
    return Fig(text, float(numerics.get("cosine", 0.0)), full)


def delegated_fig(record: BenchmarkRecord) -> Fig:
    """`96% (22/23)` of the graph taken by the accelerated backend, the full text on hover."""
    details = (record.artifact or {}).get("details") or {}
    text = coverage_text(artifact_of(record)) if details else "n/a"
    delegation = details.get("delegation")
    if delegation and delegation.get("total_nodes"):
        share = delegation["delegated_nodes"] / delegation["total_nodes"]
        return Fig(f"{share:.0%} ({delegation['delegated_nodes']}/{delegation['total_nodes']})",
                   share, text)
    return Fig(text, None if text == "n/a" else text, text)


def model_columns(info: dict) -> list[Fig]:
    pub = info.get("published") or {}
    return [
        _text(info.get("family") or "n/a"),
        Fig(fmt_count(info.get("params"), "M"), info.get("params")),
        Fig(fmt_count(info.get("macs"), "G"), info.get("macs")),
        Fig(fmt_top1(info), pub.get("top1")),
    ]


def index_row(model: str, fmt: str, record: BenchmarkRecord | None, info: dict, href: str,
              run: RunInfo | None, notes: NoteBook) -> IndexRow:
    head = [Fig(model, model.lower()), *model_columns(info), _text(fmt)]
    if record is None:
        cells = head + [Fig("not run", "~not run", "no run of this device and setting measured "
                                                   "this model in this format")] + [Fig("—")] * 10
        return IndexRow(model, href, fmt, NOT_RUN, _styled(cells))
    reasons = why(record, run)
    refs = notes.refs(reasons)
    s, res = record.stats, record.result
    summary = record.tool_summary
    if s is None and (summary is not None or record.memory_only):
        return _row_without_samples(head, record, run, reasons, refs, href, fmt, model)
    if s is None:
        state = Fig(f"✗ {record.status}", "~" + record.status, "; ".join(reasons) or record.status)
        flags = Fig(refs_text(refs), refs_text(refs) or None, "; ".join(reasons))
        cells = head + [state] + [Fig("—")] * 9 + [flags]
        return IndexRow(model, href, fmt, FAILED, _styled(cells))
    words = []
    if record.unstable:
        words.append("⚠ unstable")
    if record.artifact.get("status") == ARTIFACT_NUMERICS_FAILED:
        words.append("numerics")
    if partial_note(record):
        words.append("partial")
    if run is not None and origin_text(run.config):
        words.append("imported")
    words += validity_words(record, run)
    flag_text = " ".join(words + ([refs_text(refs)] if refs else []))
    energy = fmt_energy_mj(res.energy if res else None)
    memory = model_memory_kb(res)
    cells = head + [
        Fig("✓ ok", "ok"),
        Fig(fmt_ms(s.median) + (" ⚠" if record.unstable else ""), s.median),
        Fig(fmt_ci(s), s.ci_high - s.ci_low, "95% confidence interval of the median"),
        _num(s.p90),
        Fig(str(s.n), s.n),
        _num(res.load_ms if res else None),
        Fig(fmt_model_memory(res), memory / 1024 if memory is not None else None,
            "the model's own memory / the process peak, MB, measured by " + measured_by(res)),
        Fig(energy, res.energy.joules_per_inference if res and energy != "n/a" else None),
        numerics_short(record),
        delegated_fig(record),
        Fig(flag_text, flag_text or None, "; ".join(reasons)),
    ]
    return IndexRow(model, href, fmt, OK, _styled(cells))


def _row_without_samples(head, record: BenchmarkRecord, run, reasons, refs, href, fmt, model) -> IndexRow:
    """An index row of a measured record without samples: another tool's own figure, named as
    the tool's and with no interval (or memory alone, with no latency)."""
    res, summary = record.result, record.tool_summary
    flag_text = " ".join(["imported"] * bool(run is not None and origin_text(run.config))
                         + ([refs_text(refs)] if refs else []))
    memory = model_memory_kb(res)
    latency = (Fig(fmt_summary(summary), summary.value_ms, summary.note or summary.label)
               if summary else Fig("memory only", None, "the tool measured memory, no latency"))
    cells = head + [
        Fig("✓ ok", "ok"), latency,
        Fig("n/a", None, "no samples: no interval"), Fig("n/a"),
        Fig(str(summary.n) if summary and summary.n else "n/a", summary.n if summary else None),
        _num(res.load_ms if res else None),
        Fig(fmt_model_memory(res), memory / 1024 if memory is not None else None,
            "the model's own memory / the process peak, MB, measured by " + measured_by(res)),
        Fig("n/a"), numerics_short(record), delegated_fig(record),
        Fig(flag_text, flag_text or None, "; ".join(reasons)),
    ]
    return IndexRow(model, href, fmt, OK, _styled(cells))


def pareto_points(records: list[BenchmarkRecord]) -> list[ParetoPoint]:
    points = []
    for r in records:
        top1 = (r.model_info.get("published") or {}).get("top1")
        figure = central_ms(r)
        if figure is not None and top1 is not None and figure > 0:
            points.append(ParetoPoint(r.model, r.format, r.model_info.get("family") or "",
                                      figure, float(top1)))
    return points


# ----------------------------------------------------------------------------------------------
# The model pages


@dataclass(frozen=True)
class HistoryRow:
    run_id: str
    when: str
    git: str
    status: str
    median: str
    ci: str
    current: bool  # the record the index shows


@dataclass(frozen=True)
class ModelCell:
    """One format of a model on one device and setting: its newest record in full."""

    format: str
    state: str
    status: str
    reason: str
    figures: tuple[tuple[str, str], ...]
    export: tuple[tuple[str, str], ...]
    provenance: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]
    samples_plot: str
    history: tuple[HistoryRow, ...]
    history_plot: str
    # Where each operator ran (harness.placement.text): the lines over its table, and its rows.
    placement_lines: tuple[str, ...] = ()
    placement_rows: tuple[tuple[str, ...], ...] = ()
    sustained: tuple[str, tuple[str, ...]] = ("", ())  # harness.site.sustained

    @property
    def state_class(self) -> str:
        return STATE_CLASS[self.state]


@dataclass(frozen=True)
class ModelSection:
    anchor: str
    title: str
    cells: tuple[ModelCell, ...]


@dataclass(frozen=True)
class ModelPage:
    name: str
    href: str  # relative to the site's root
    family: str
    facts: tuple[tuple[str, str], ...]
    sections: tuple[ModelSection, ...]


def _summary_figures(record: BenchmarkRecord) -> tuple[tuple[str, str], ...]:
    """A record without samples: the tool's own figures as it printed them, or memory alone."""
    summary, res = record.tool_summary, record.result
    rows = []
    if summary is not None:
        rows.append(("latency (the tool's own)", fmt_summary(summary) + " ms"))
        for name in ("mean", "std", "min", "max", "median", "first", "curr"):
            value = getattr(summary, f"{name}_ms")
            if value is not None:
                rows.append((f"{summary.tool} {name}", f"{fmt_ms(value)} ms"))
        for name, value in {**summary.percentiles_ms, **summary.other_ms}.items():
            rows.append((f"{summary.tool} {name}", f"{fmt_ms(value)} ms"))
        rows.append(("samples", f"none: {summary.note or summary.label}"))
    else:
        rows.append(("memory only", f"{fmt_memory(res)} MB process peak, load / inference; "
                                    "the tool measured no latency"))
    rows += [
        ("load / first inference", f"{fmt_ms(res.load_ms)} / {fmt_ms(res.first_inference_ms)} ms"),
        ("process peak: load / inference", f"{fmt_memory(res)} MB"),
    ]
    return tuple(rows)


def _figures(record: BenchmarkRecord) -> tuple[tuple[str, str], ...]:
    s, res = record.stats, record.result
    if s is None:
        return _summary_figures(record) if record.tool_summary or record.memory_only else ()
    return (
        ("median [95% CI]", f"{fmt_ms(s.median)} ms (1 sample)" if s.n == 1
         else f"{fmt_ms(s.median)} {fmt_ci(s)} ms"),
        ("p90 / p99", f"{fmt_ms(s.p90)} / {fmt_ms(s.p99)} ms"),
        ("mean ± std, CV", f"{fmt_ms(s.mean)} ± {fmt_ms(s.std)} ms, {s.cv:.1%}"),
        ("min / max", f"{fmt_ms(s.min)} / {fmt_ms(s.max)} ms"),
        ("samples, trials", f"{s.n}, {fmt_trial_spread(record)}"),
        ("outliers (1.5 IQR)", str(s.outliers)),
        ("load / first inference", f"{fmt_ms(res.load_ms)} / {fmt_ms(res.first_inference_ms)} ms"
         if res else "n/a"),
        ("memory: model / peak", f"{fmt_model_memory(res)} MB (measured by {measured_by(res)})"),
        ("process peak: load / inference", f"{fmt_memory(res)} MB"),
        ("energy per inference", fmt_energy_mj(res.energy if res else None) + " mJ"
         if res and fmt_energy_mj(res.energy) != "n/a" else "n/a"),
        ("power", fmt_power_w(res.energy if res else None) + " W"
         if res and fmt_power_w(res.energy) != "n/a" else "n/a"),
        ("thermal", fmt_thermal(res.thermal if res else None)),
    )


def _export_row(record: BenchmarkRecord) -> tuple[tuple[str, str], ...]:
    a = artifact_of(record)
    row = [("artifact", status_text(a)), ("size", fmt_size(a.size_bytes)),
           ("export", f"{a.export_s:.1f} s" if a.export_s else "n/a"),
           ("numerics", numerics_short(record).title or "n/a"),
           ("delegation", coverage_text(a)), ("sha256", a.sha256[:16] or "n/a")]
    if a.reason:
        row.append(("reason", a.reason))
    return tuple(row)


def _versions(mapping: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(mapping.items())) or "n/a"


def _provenance(record: BenchmarkRecord, run: RunInfo | None) -> tuple[tuple[str, str], ...]:
    res = record.result
    device = run.device if run else {}
    rows = [
        ("run", f"{record.run_id} ({run.status})" if run else record.run_id),
        ("started", when(run.started_at) if run else "n/a"),
        ("git commit", (run.git_sha if run else None) or "n/a"),
        ("harness", (run.harness_version if run else None) or "n/a"),
        ("command", run.argv if run else "n/a"),
        ("settings", fmt_run_settings(run.config) if run else "n/a"),
        # str(): a run imported by an older harness may hold a number where a name goes.
        ("device", ", ".join(str(x) for x in (record.device_id, device.get("product_model"),
                                              device.get("cpu") or device.get("soc"),
                                              device.get("os_version")) if x)),
        ("context", fmt_context(res)),
        ("runtime versions", _versions(res.runtime_versions) if res else "n/a"),
        ("exporter versions", _versions((record.artifact or {}).get("exporter_versions") or {})),
    ]
    return tuple(rows)


def _history(records: list[BenchmarkRecord], runs: dict[str, RunInfo], current: BenchmarkRecord,
             label: str) -> tuple[tuple[HistoryRow, ...], str]:
    def order(r):
        run = runs.get(r.run_id)
        return (run.started_at if run else r.created_at, r.id or 0)

    rows, points = [], []
    for r in sorted(records, key=order):
        run = runs.get(r.run_id)
        git = ((run.git_sha if run else None) or "n/a")[:10]
        s, figure = r.stats, central_ms(r)
        text = fmt_ms(figure) if s or figure is None else f"{fmt_ms(figure)} {r.tool_summary.statistic}"
        rows.append(HistoryRow(r.run_id, when(run.started_at if run else r.created_at), git,
                               r.status, text if figure is not None else "n/a",
                               fmt_ci(s) if s else "n/a", r.id == current.id))
        tip = f"{r.run_id}, git {git}"
        points.append(HistoryPoint(tip, figure, s.ci_low if s else None, s.ci_high if s else None))
    plot = history_svg(points, label=f"median of {label} in each run") if len(points) > 1 else ""
    return tuple(rows), plot


def model_cell(record: BenchmarkRecord, run: RunInfo | None, history: list[BenchmarkRecord],
               runs: dict[str, RunInfo], samples: list[list[float]] | None) -> ModelCell:
    label = f"{record.model} / {record.format}"
    plot = ""
    if samples and record.stats is not None:
        plot = samples_svg(samples, record.stats.median,
                           label=f"every timed sample of {label}, trial by trial")
    hist_rows, hist_plot = _history(history, runs, record, label)
    return ModelCell(
        format=record.format,
        state=OK if record.stats is not None or record.tool_summary or record.memory_only
        else FAILED,
        status=record.status,
        reason=record.reason,
        figures=_figures(record) + validity_row(record, run),
        export=_export_row(record),
        provenance=_provenance(record, run),
        warnings=tuple(why(record, run)),
        samples_plot=plot,
        history=hist_rows,
        history_plot=hist_plot,
        placement_lines=site_summary(record),
        placement_rows=site_rows(record),
        sustained=sustained_view(record),
    )
