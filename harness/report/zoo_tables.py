"""The zoo as tables: `harness models` (the papers' figures) and `harness models --check` (our
counts against them), and the JSON of both."""

from __future__ import annotations

from harness.report.figures import fmt_count, published_latency_text
from harness.report.jsonable import published_json
from harness.report.text import Column, Notes, TextTable


def zoo_table(entries) -> TextTable:
    """Every model of the index with its paper's params, MACs, top-1 and latency."""
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
    return table


def zoo_json(entries) -> dict:
    return {"models": [{"name": s.name, "family": s.family, "input_size": s.input_size,
                        "published": published_json(s.published)} for s in entries]}


def check_table(rows, notes: Notes) -> TextTable:
    """Our params and MACs beside the published ones, a verdict per model (notes say why)."""
    table = TextTable([Column("model", key=True), Column("params\nours", "right"),
                       Column("params\npublished", "right"), Column("Δ params", "right"),
                       Column("MACs\nours", "right"), Column("MACs\npublished", "right"),
                       Column("Δ MACs", "right"), Column("verdict")],
                      title="Zoo check: ours vs published")
    for row in rows:
        table.add_row(row.model, fmt_count(row.params, "M"), row.params_ref_text,
                      row.params_delta_text, fmt_count(row.macs, "G"), row.macs_ref_text,
                      row.macs_delta_text, "ok" if row.ok else f"MISS [{notes.ref(row.why)}]")
    return table


def check_json(rows) -> dict:
    return {"check": [{"model": r.model, "params": r.params, "params_published": r.params_ref,
                       "macs": r.macs, "macs_published": r.macs_ref,
                       "macs_convention": r.macs_convention, "ok": r.ok, "why": r.why or None}
                      for r in rows]}
