"""What the site shows, read from the results database through the Store's public API, in a
fixed order: the index tables, the model pages, the paper check, the runs and their
comparisons. Nothing here writes HTML (harness.site.render does); every figure is formatted
here, by harness.report.figures, as the terminal reports write it.

Figures are the statistics stored with each record; the raw samples are read only for the
plots of each cell's newest record and for the comparisons (which test the samples).

Deterministic: every list is sorted, times are the runs' own (UTC), never the time of
rendering.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from harness.report.compare import Comparison, compare_runs, comparison_rows, summary_line
from harness.report.figures import fmt_count, fmt_top1, published_latency_text
from harness.report.leaderboard import _format_key, comparable_groups, device_label, settings_of
from harness.report.paper_check import PaperCheckRow, paper_check
from harness.site.cells import (
    FAILED,
    NOT_RUN,
    OK,
    Group,
    ModelPage,
    ModelSection,
    NoteBook,
    index_row,
    model_cell,
    name_hash,
    pareto_points,
    slug,
    when,
)
from harness.site.plots import pareto_svg
from harness.store import BenchmarkRecord, RunInfo, Store

# ----------------------------------------------------------------------------------------------
# Runs and comparisons


@dataclass(frozen=True)
class RunRow:
    run: RunInfo
    when: str
    records: int
    measured: int
    compare_href: str  # against the run before it on its device, "" for the first


@dataclass(frozen=True)
class ComparePage:
    href: str
    comparison: Comparison
    a: RunInfo
    b: RunInfo
    rows: tuple[tuple[str, ...], ...]
    summary: str


def compare_href(a: str, b: str) -> str:
    return f"compare/{slug(a)}--{slug(b)}.html"


# ----------------------------------------------------------------------------------------------
# Everything


@dataclass(frozen=True)
class SiteData:
    title: str
    as_of: str  # the newest run's start: the site's date, never the time of rendering
    database: str
    groups: tuple[Group, ...]
    models: tuple[ModelPage, ...]
    paper: tuple[PaperCheckRow, ...]
    runs: tuple[RunRow, ...]
    compares: tuple[ComparePage, ...]
    newest: ComparePage | None  # the newest run against the one before it on its device


def _group_anchor(device: str, settings: str) -> str:
    return slug(f"{device}-{settings}").lower()


def _model_hrefs(models) -> dict[str, str]:
    """Each model's page: its name as a file name (bounded, cells.slug), and where two names
    make one file name (they differ in case or in characters a file name cannot hold), the
    later one with a hash of its name: unique, and the same whatever else is stored."""
    hrefs, used = {}, set()
    for name in sorted(models, key=str):
        candidate = slug(name)
        if candidate.lower() in used:
            candidate = f"{candidate}-{name_hash(name)}"
        used.add(candidate.lower())
        hrefs[name] = f"models/{candidate}.html"
    return hrefs


def compare_pairs(runs: list[RunInfo], counts: dict[str, int],
                  extra: list[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """(A, B): each run with records against the run before it on the same device, then the
    pairs asked for."""
    by_device: dict[str, list[RunInfo]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: (r.started_at, r.id)):
        if counts.get(run.id):
            by_device[run.device_id].append(run)
    pairs = [(a.id, b.id) for device in sorted(by_device)
             for a, b in zip(by_device[device], by_device[device][1:])]
    for pair in extra:
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def build(store: Store, extra_pairs: list[tuple[str, str]] = (),
          title: str = "Benchmark results") -> SiteData:
    """Everything the site shows, from `store` (read-only use only)."""
    listing = store.run_listing()
    runs = {run.id: run for run, _, _ in listing}
    counts = {run.id: n for run, n, _ in listing}
    latest = store.latest_records()
    every = store.records()
    hrefs = _model_hrefs({r.model for r in every})

    # Each cell's records across runs: the history of the cell the index shows.
    def cell_key(r: BenchmarkRecord):
        return settings_of(r, runs.get(r.run_id))

    histories: dict[tuple, list[BenchmarkRecord]] = defaultdict(list)
    for r in every:
        histories[cell_key(r)].append(r)

    groups, sections = [], defaultdict(list)
    for device, text, records in comparable_groups(latest, runs):
        anchor = _group_anchor(device, text)
        group_title = f"{device_label(device, records)}, {text}"
        by_cell = {(r.model, r.format): r for r in records}
        models = sorted({r.model for r in records}, key=str.lower)
        formats = sorted({r.format for r in records}, key=_format_key)
        info = {}
        for r in sorted(records, key=lambda r: r.id or 0):
            info[r.model] = r.model_info
        notes = NoteBook()
        rows = []
        for model in models:
            for fmt in formats:
                record = by_cell.get((model, fmt))
                run = runs.get(record.run_id) if record else None
                rows.append(index_row(model, fmt, record, info[model], hrefs[model], run, notes))
        points = pareto_points(records)
        pareto = pareto_svg(points, group_title, f"p-{anchor}") if points else ""
        pareto_note = "" if pareto else ("No model of this table has both a measurement and a "
                                         "published top-1, so there is no Pareto plot.")
        states = {s: sum(row.state == s for row in rows) for s in (OK, FAILED, NOT_RUN)}
        groups.append(Group(anchor, device, group_title, tuple(rows), tuple(notes.texts),
                            pareto, pareto_note, states))
        for model in models:
            cells = []
            for fmt in formats:
                record = by_cell.get((model, fmt))
                if record is None:
                    continue
                run = runs.get(record.run_id)
                samples = store.trial_samples(record.id) if record.stats is not None else None
                cells.append(model_cell(record, run, histories[cell_key(record)], runs, samples))
            sections[model].append(ModelSection(anchor, group_title, tuple(cells)))

    pages = []
    for model in sorted(sections, key=str.lower):
        info = next(r.model_info for r in sorted(every, key=lambda r: -(r.id or 0))
                    if r.model == model)
        pub = info.get("published") or {}
        facts = (
            ("family", info.get("family") or "n/a"),
            ("input", f"{info.get('input_size')} px" if info.get("input_size") else "n/a"),
            ("params (ours / paper)", f"{fmt_count(info.get('params'), 'M')} / "
             f"{pub['params_m']}M" if pub.get("params_m") else fmt_count(info.get("params"), "M")),
            ("MACs (ours / paper)", f"{fmt_count(info.get('macs'), 'G')} / {pub['macs_g']}G"
             if pub.get("macs_g") else fmt_count(info.get("macs"), "G")),
            ("top-1 (paper)", fmt_top1(info)),
            ("latency (paper)", published_latency_text(pub.get("latency_ms"),
                                                       pub.get("latency_device"))),
            ("source", pub.get("source") or "n/a"),
        )
        pages.append(ModelPage(model, hrefs[model], info.get("family") or "", facts,
                               tuple(sections[model])))

    pairs = compare_pairs([r for r, _, _ in listing], counts, list(extra_pairs))
    compares = []
    for a_id, b_id in pairs:
        comparison = compare_runs(store, a_id, b_id)
        a, b = runs[comparison.run_a], runs[comparison.run_b]
        compares.append(ComparePage(compare_href(a.id, b.id), comparison, a, b,
                                    tuple(tuple(row) for row in comparison_rows(comparison)),
                                    summary_line(comparison)))
    before = {(c.b.id): c for c in compares if (c.a.id, c.b.id) in
              set(compare_pairs([r for r, _, _ in listing], counts))}
    run_rows = tuple(RunRow(run, when(run.started_at), n, ok,
                            before[run.id].href if run.id in before else "")
                     for run, n, ok in listing)
    newest_id = listing[0][0].id if listing else None
    newest = before.get(newest_id)
    as_of = when(max(run.started_at for run in runs.values())) if runs else "n/a"
    # The file's name, not its path (the same bytes wherever the database lies); a server's URL.
    database = store.path.name if store.path is not None else store.location
    return SiteData(title=title, as_of=as_of, database=database, groups=tuple(groups),
                    models=tuple(pages), paper=tuple(paper_check(latest, runs)), runs=run_rows,
                    compares=tuple(compares), newest=newest)
