"""The paper check: every published latency beside our measurement on the same class of device.

published.csv (harness/zoo) gives a latency with the device it was measured on, such as
`1.0` on `iPhone 12 (iOS 16 Core ML)`. That names two things:

    device class   the text before any parenthesis: `iPhone 12`, `Jetson Nano`.
    runtime        what the parenthesis names, when it names one: `Core ML`, `TFLite`, ...

A stored record counts for a published latency when it measured that model (`ok`, with stored
statistics) on a device of that class: its product model (`result.device.product_model`, what
the device runner recorded), SoC or CPU name is the class's name or one of its aliases
(`class_names`: the device kinds' catalogs know `iPhone13,2` is an iPhone 12), compared without regard to case, spaces or
punctuation. Records of any other device never count: an iPhone 12 Pro is not an iPhone 12, and
this host is not a phone.

Of the records that count (the newest of each cell, `Store.latest_records`), the one in the
format closest to the paper's runtime is chosen (`paper_formats`, from each format's own
paper_names and paper_rank: for Core ML the Core ML formats, all compute units first, as Xcode's
performance report measures); when the paper names no runtime, or none of its formats was
measured, the first measured of `default_formats`, and the row says which format stands in.

    ratio      our median / the published latency (above 1: we measured slower).
    ratio CI   the median's 95% CI divided by the published latency (a published figure comes
               with no interval of its own).
    verdict    reproduced   the ratio within 1 ± THRESHOLD (15%)
               faster       the ratio below 1 - THRESHOLD
               slower       the ratio above 1 + THRESHOLD
               not measured no record of the model on that device class yet
    A ratio CI that crosses the 15% line, an unstable record, a stand-in format: a note says so.

Pure functions of records and the published table, shared by `harness report --paper-check`
and the site (harness.site).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from harness.report.figures import fmt_ms
from harness.export.index import format_index
from harness.store import BenchmarkRecord, RunInfo
from harness.store.cell_key import base_format
from harness.zoo.published import PublishedFacts, published_facts

THRESHOLD = 0.15

REPRODUCED = "reproduced"
FASTER = "faster"
SLOWER = "slower"
NOT_MEASURED = "not measured"
VERDICTS = (REPRODUCED, FASTER, SLOWER, NOT_MEASURED)

# Device classes the papers name that no device kind's catalog knows, with the names their
# devices record (a Jetson reports its board name). A phone's other names (the iPhone 12's
# product type `iPhone13,2`) come from its kind's catalog (DeviceKind.also_known_as).
OTHER_DEVICE_CLASSES: dict[str, tuple[str, ...]] = {
    "Jetson Nano": ("NVIDIA Jetson Nano Developer Kit", "Jetson Nano Developer Kit",
                    "NVIDIA Tegra X1", "tegra210"),
}

# The runtimes papers name (as a format's `paper_names` spell them), and how they spell them.
PAPER_RUNTIMES = (("core ml", "Core ML"), ("tflite", "TFLite"), ("litert", "LiteRT"),
                  ("tensorflow lite", "TensorFlow Lite"), ("onnx", "ONNX"),
                  ("executorch", "ExecuTorch"), ("pytorch", "PyTorch"))

# Core ML's compute units, most like what a paper ran first: the whole device, the Neural
# Engine, the format as built, then the rest.
VARIANT_PREFERENCE = ("all", "cpu_and_ne", "", "cpu_and_gpu", "cpu_only")


def _labels(entry) -> tuple[str, ...]:
    if entry.runtime != "coreml":
        return (entry.name,)
    return tuple(f"{entry.name}@{v}" if v else entry.name for v in VARIANT_PREFERENCE)


def paper_formats() -> dict[str, tuple[str, ...]]:
    """The formats that run what a paper's runtime ran, best match first, from each format's
    own `paper_names` and `paper_rank` (harness.export.index); a format with a compute unit
    variant, `coreml@all`, matches its base name's entry or its own."""
    found: dict[str, list[str]] = {}
    for entry in sorted(format_index(), key=lambda e: (e.paper_rank, e.name)):
        for name in entry.paper_names:
            found.setdefault(name, []).extend(_labels(entry))
    return {name: tuple(labels) for name, labels in found.items()}


def default_formats() -> tuple[str, ...]:
    """When the paper names no runtime (or none of its formats was measured): by paper_rank,
    fp32 formats a phone runs first."""
    return tuple(label for entry in sorted(format_index(), key=lambda e: (e.paper_rank, e.name))
                 for label in _labels(entry))


def normalize(text: str) -> str:
    """`iPhone 12` -> `iphone12`, `iPhone13,2` -> `iphone132`: case, spaces and punctuation off."""
    return re.sub(r"[^a-z0-9+]", "", (text or "").lower())


def device_class(latency_device: str) -> str:
    """The class of device a published latency names: `iPhone 12 (iOS 16 Core ML)` -> `iPhone 12`."""
    return latency_device.split("(", 1)[0].strip()


def paper_runtime(latency_device: str) -> str:
    """The runtime a published latency names in its parenthesis (`Core ML`), or ""."""
    inside = latency_device.partition("(")[2].rpartition(")")[0].lower()
    for runtime, spelled in PAPER_RUNTIMES:
        if runtime in inside:
            return spelled
    return ""


def class_names(cls: str) -> set[str]:
    """Every normalised name a device of class `cls` may record: its own, what the device
    kinds' catalogs know it by, and the classes listed here."""
    from harness.devices import KINDS

    names = {normalize(cls)} | {normalize(a) for a in OTHER_DEVICE_CLASSES.get(cls, ())}
    for kind in KINDS:
        if kind.also_known_as is not None:
            names |= {normalize(a) for a in kind.also_known_as(cls)}
    return names


def record_device(record: BenchmarkRecord, run: RunInfo | None = None) -> dict:
    """The device a record ran on: its result's, else its run's."""
    if record.result is not None:
        d = record.result.device
        return {"device_id": d.device_id, "product_model": d.product_model, "soc": d.soc,
                "cpu": d.cpu}
    return dict(run.device) if run else {"device_id": record.device_id}


def on_class(record: BenchmarkRecord, cls: str, run: RunInfo | None = None) -> bool:
    """Whether a record was measured on a device of class `cls` (the module docstring's rule)."""
    names = class_names(cls)
    device = record_device(record, run)
    return any(normalize(device.get(k) or "") in names for k in ("product_model", "soc", "cpu"))


def _base(fmt: str) -> str:
    return base_format(fmt)


def format_rank(fmt: str, preferred: tuple[str, ...]) -> int | None:
    """Where a format stands in a preference list (its own name, else its base name's); None
    when it is not in it."""
    for name in (fmt, _base(fmt)):
        if name in preferred:
            return preferred.index(name)
    return None


@dataclass(frozen=True)
class PaperCheckRow:
    model: str
    family: str
    published_ms: float
    published_device: str  # as published.csv writes it
    device_class: str
    runtime: str  # the paper's, "" when it names none
    source: str
    verdict: str
    record: BenchmarkRecord | None = None  # the measurement set beside it
    format: str = ""
    device_id: str = ""
    product_model: str = ""
    median_ms: float | None = None
    ci_ms: tuple[float, float] | None = None
    ratio: float | None = None
    ratio_ci: tuple[float, float] | None = None
    notes: tuple[str, ...] = ()


def verdict_of(ratio: float, threshold: float = THRESHOLD) -> str:
    if ratio < 1 - threshold:
        return FASTER
    if ratio > 1 + threshold:
        return SLOWER
    return REPRODUCED


def _choose(records: list[BenchmarkRecord], runtime: str) -> tuple[BenchmarkRecord, str]:
    """The record in the format nearest the paper's runtime, and a note when it stands in."""
    wanted = paper_formats().get(runtime.lower(), ()) if runtime else ()

    def key(r: BenchmarkRecord, preferred: tuple[str, ...]):
        rank = format_rank(r.format, preferred)
        # Unlisted formats last, by name; of one format, the newest record.
        return (rank is None, rank or 0, r.format, -(r.id or 0))

    matching = [r for r in records if format_rank(r.format, wanted) is not None]
    if matching:
        return min(matching, key=lambda r: key(r, wanted)), ""
    chosen = min(records, key=lambda r: key(r, default_formats()))
    if runtime:
        note = (f"no {runtime} format measured on this device class; {chosen.format} stands in "
                "for the paper's runtime")
    else:
        note = f"the paper names no runtime; {chosen.format} is compared"
    return chosen, note


def check_model(name: str, facts: PublishedFacts, family: str, records: list[BenchmarkRecord],
                runs: Mapping[str, RunInfo], threshold: float = THRESHOLD) -> PaperCheckRow:
    """The paper check of one published latency against the records given (any models)."""
    cls, runtime = device_class(facts.latency_device), paper_runtime(facts.latency_device)
    base = dict(model=name, family=family, published_ms=facts.latency_ms,
                published_device=facts.latency_device, device_class=cls, runtime=runtime,
                source=facts.source)
    mine = [r for r in records if r.model == name and on_class(r, cls, runs.get(r.run_id))]
    measured = [r for r in mine if r.status == "ok" and r.stats is not None]
    if not measured:
        failed = sorted({f"{r.format}: {r.status}" + (f" ({r.reason})" if r.reason else "")
                         for r in mine})
        notes = tuple(f"tried on a {cls}, not measured: {f}" for f in failed)
        return PaperCheckRow(**base, verdict=NOT_MEASURED, notes=notes)
    record, note = _choose(measured, runtime)
    s = record.stats
    ratio = s.median / facts.latency_ms
    ratio_ci = (s.ci_low / facts.latency_ms, s.ci_high / facts.latency_ms)
    verdict = verdict_of(ratio, threshold)
    notes = [note] if note else []
    low, high = 1 - threshold, 1 + threshold
    if any(ratio_ci[0] < line < ratio_ci[1] for line in (low, high)):
        notes.append(f"the ratio's 95% CI [{ratio_ci[0]:.2f}, {ratio_ci[1]:.2f}] crosses the "
                     f"{threshold:.0%} line: the verdict is uncertain")
    if record.unstable:
        notes.append("our measurement is unstable: " + "; ".join(record.warnings))
    device = record_device(record, runs.get(record.run_id))
    return PaperCheckRow(
        **base, verdict=verdict, record=record, format=record.format,
        device_id=record.device_id, product_model=device.get("product_model") or "",
        median_ms=s.median, ci_ms=(s.ci_low, s.ci_high), ratio=ratio, ratio_ci=ratio_ci,
        notes=tuple(notes))


def paper_check(records: list[BenchmarkRecord], runs: Mapping[str, RunInfo] | None = None,
                published: Mapping[str, PublishedFacts] | None = None,
                families: Mapping[str, str] | None = None,
                threshold: float = THRESHOLD) -> list[PaperCheckRow]:
    """One row per published latency, in published.csv's order, against `records` (the newest
    record of every cell: `Store.latest_records()`)."""
    runs = runs or {}
    published = published if published is not None else published_facts()
    if families is None:
        from harness.zoo.index import zoo_index

        families = {e.name: e.family for e in zoo_index()}
    rows = []
    for name, facts in published.items():
        if facts.latency_ms is None:
            continue
        rows.append(check_model(name, facts, families.get(name, ""), records, runs, threshold))
    return rows


# ----------------------------------------------------------------------------------------------
# Presentation


def verdict_text(row: PaperCheckRow, threshold: float = THRESHOLD) -> str:
    if row.verdict == REPRODUCED:
        return f"reproduced within {threshold:.0%}"
    if row.verdict == NOT_MEASURED:
        return f"not measured on {row.device_class} yet"
    return row.verdict


def ratio_text(row: PaperCheckRow) -> str:
    if row.ratio is None:
        return "n/a"
    return f"{row.ratio:.2f} [{row.ratio_ci[0]:.2f}, {row.ratio_ci[1]:.2f}]"


def measured_text(row: PaperCheckRow) -> str:
    if row.median_ms is None:
        return "n/a"
    return f"{fmt_ms(row.median_ms)} [{fmt_ms(row.ci_ms[0])}, {fmt_ms(row.ci_ms[1])}]"


def published_text(row: PaperCheckRow) -> str:
    return f"{row.published_ms} on {row.published_device}"


def rule_text(threshold: float = THRESHOLD) -> str:
    return (f"ratio = our median / the paper's latency, on the same device class, with the 95% "
            f"CI of our median; reproduced within ±{threshold:.0%}, faster below, slower above; "
            "the format nearest the paper's runtime is compared (a note names a stand-in); "
            "records of other devices never count.")


def summary_line(rows: list[PaperCheckRow]) -> str:
    counts = ", ".join(f"{sum(r.verdict == v for r in rows)} {v}" for v in VERDICTS
                       if any(r.verdict == v for r in rows))
    return f"{len(rows)} published latencies: {counts or 'none'}."


def paper_check_table(rows: list[PaperCheckRow], notes, threshold: float = THRESHOLD):
    """The paper check as a plain-text table (harness.report.text), notes numbered under it."""
    from harness.report.text import Column, TextTable

    table = TextTable([
        Column("model", key=True), Column("paper ms\non its device"),
        Column("ours ms\n[95% CI]"), Column("format", hide=2), Column("device", hide=1),
        Column("ratio\n[95% CI]"), Column("verdict"), Column("notes")],
        title="Paper check: published latencies beside ours on the same device class")
    for r in rows:
        refs = notes.refs(r.notes)
        device = r.device_id if not r.product_model or r.product_model == r.device_id else \
            f"{r.product_model} ({r.device_id})"
        table.add_row(r.model, published_text(r), measured_text(r), r.format or "n/a",
                      device or "n/a", ratio_text(r), verdict_text(r, threshold),
                      f"[{refs}]" if refs else "")
    return table
