"""The export matrix as `harness export` prints it: one row per model and format with status,
artifact size, export seconds, numerics, delegation coverage and a numbered note with the reason;
and per-format totals.

Pure functions of `Artifact`s, so the same text reaches the terminal, tests and benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.export.base import (
    ARTIFACT_NUMERICS_FAILED,
    ARTIFACT_OK,
    Artifact,
)
from harness.export.known_limits import pinned_limit

COLUMNS = ("model", "format", "status", "size", "export s", "numerics", "coverage", "reason")
# How many operator types a coverage cell names when XNNPACK or Core ML leaves some behind.
NAMED_OPERATORS = 3


def fmt_size(size_bytes: int) -> str:
    if not size_bytes:
        return "n/a"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.2f} {unit}"
    return f"{size_bytes} B"


def status_text(artifact: Artifact) -> str:
    text = artifact.status
    if artifact.status == ARTIFACT_OK and artifact.numerics is None:
        text = "ok (built, not run here)"
    elif pinned_limit(artifact):
        text += " (pinned)"
    return text + (" (cached)" if artifact.cached else "")


def numerics_text(artifact: Artifact) -> str:
    n = artifact.numerics
    if n is None:
        return "n/a"
    top5 = f" top5 {n.top5_agreement:.2f}" if n.top5_agreement is not None else ""
    nonfinite = f" {n.nonfinite} NaN/inf" if n.nonfinite else ""
    return f"cos {n.cosine:.5f}{top5} max|d| {n.max_abs_error:.2g}{nonfinite}"


def _most_common(counts: dict[str, int]) -> str:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    names = ", ".join(f"{op} {n}" for op, n in ranked[:NAMED_OPERATORS])
    return names + (", ..." if len(ranked) > NAMED_OPERATORS else "")


def coverage_text(artifact: Artifact) -> str:
    """`XNNPACK 22/23 nodes (left: getitem 1)`, `Core ML 7 ops fp16`, `ONNX 7 ops`, or n/a."""
    details = artifact.details or {}
    delegation = details.get("delegation")
    if delegation:
        backend = delegation.get("backend") or artifact.backend
        text = f"{backend} {delegation['delegated_nodes']}/{delegation['total_nodes']} nodes"
        left = {op: n for op, n in delegation.get("not_delegated_ops", {}).items() if op != "getitem"}
        if left and delegation["delegated_nodes"]:
            text += f" (left: {_most_common(left)})"
        return text
    if "compute_precision" in details:  # Core ML package
        return f"Core ML {details['compute_ops']} ops {details['compute_precision']}"
    operators = details.get("operators")
    if operators:
        runtime = "ONNX" if artifact.format.startswith("onnx") else "ATen"
        return f"{runtime} {sum(operators.values())} ops"
    return "n/a"


def reason_text(artifact: Artifact) -> str:
    """The cell's own reason, and the explanation when it is a pinned, known limit."""
    limit = pinned_limit(artifact)
    if limit is None:
        return artifact.reason
    return f"{artifact.reason} Known limit: {limit.why}."


def unexplained(artifacts: list[Artifact]) -> list[Artifact]:
    """Cells that are neither ok nor a pinned, known limit: new failures to look at."""
    return [a for a in artifacts if a.status != ARTIFACT_OK and pinned_limit(a) is None]


def matrix_rows(artifacts: list[Artifact]) -> list[list[str]]:
    return [
        [
            a.model,
            a.format,
            status_text(a),
            fmt_size(a.size_bytes),
            f"{a.export_s:.1f}",
            numerics_text(a),
            coverage_text(a),
            reason_text(a),
        ]
        for a in artifacts
    ]


def matrix_table(artifacts: list[Artifact], notes, title: str = "Export matrix"):
    """The matrix as a plain-text table (harness.report.text); each reason a numbered note."""
    from harness.report.text import Column, TextTable

    table = TextTable([Column("model", key=True), Column("format"), Column("status"),
                       Column("size", "right"), Column("export s", "right", hide=2),
                       Column("numerics", hide=3), Column("coverage", hide=1), Column("notes")],
                      title=title)
    for row in matrix_rows(artifacts):
        reason = row[-1]
        table.add_row(*row[:-1], f"[{notes.ref(reason)}]" if reason else "")
    return table


@dataclass(frozen=True)
class FormatTotal:
    format: str
    ok: int
    numerics_failed: int
    failed: int
    export_s: float

    @property
    def cells(self) -> int:
        return self.ok + self.numerics_failed + self.failed


def format_totals(artifacts: list[Artifact]) -> list[FormatTotal]:
    """Per format, in first-seen order: ok, numerics_failed, failed (any other status), seconds."""
    order: dict[str, list[Artifact]] = {}
    for a in artifacts:
        order.setdefault(a.format, []).append(a)
    return [
        FormatTotal(
            format=fmt,
            ok=sum(a.status == ARTIFACT_OK for a in group),
            numerics_failed=sum(a.status == ARTIFACT_NUMERICS_FAILED for a in group),
            failed=sum(a.status not in (ARTIFACT_OK, ARTIFACT_NUMERICS_FAILED) for a in group),
            export_s=sum(a.export_s for a in group),
        )
        for fmt, group in order.items()
    ]


def summary_line(artifacts: list[Artifact]) -> str:
    totals = format_totals(artifacts)
    ok = sum(t.ok for t in totals)
    flagged = sum(t.numerics_failed for t in totals)
    failed = sum(t.failed for t in totals)
    cached = sum(a.cached for a in artifacts)
    pinned = flagged + failed - len(unexplained(artifacts))
    known = f" ({pinned} of them pinned known limits)" if flagged + failed else ""
    return (f"{len(artifacts)} cells: {ok} ok, {flagged} numerics_failed, {failed} failed{known}; "
            f"{cached} from the cache")
