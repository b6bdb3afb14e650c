"""The leaderboard: per device and format, every model's median latency with its 95% CI,
beside its memory, energy and thermal state, its size and cost, and the published numbers.

Built from stored records only, so it can be regenerated at any time with `harness report`.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from harness.report.format import (
    fmt_count,
    fmt_energy_mj,
    fmt_latency,
    fmt_memory,
    fmt_ms,
    fmt_power_w,
    fmt_published_latency,
    fmt_thermal,
    fmt_top1,
    fmt_trial_spread,
)
from harness.export.base import Artifact
from harness.report.export_matrix import coverage_text
from harness.store import BenchmarkRecord

COLUMNS = (
    "model", "median ms [95% CI]", "trials", "load ms", "peak RSS MB load / inference",
    "energy mJ/inference", "power W", "thermal", "params", "MACs", "delegated", "top-1 (published)",
    "latency (published)", "status",
)


def delegation_text(record: BenchmarkRecord) -> str:
    """How much of the graph the accelerated backend took, from the artifact the record ran.

    A latency means little without it: a model half left to portable kernels is measuring them.
    """
    if not (record.artifact or {}).get("details"):
        return "n/a"
    return coverage_text(Artifact.from_dict(record.artifact))


def leaderboard_rows(records: list[BenchmarkRecord]) -> list[list[str]]:
    """Rows sorted fastest first; cells without a measurement last, with their reason."""
    def key(r: BenchmarkRecord):
        return (r.stats is None, r.stats.median if r.stats else 0.0, r.model)

    rows = []
    for r in sorted(records, key=key):
        info = r.model_info
        result = r.result
        status = r.status if not r.reason else f"{r.status}: {r.reason}"
        if r.unstable:
            status += " (unstable: " + "; ".join(r.warnings) + ")"
        rows.append([
            r.model,
            fmt_latency(r),
            fmt_trial_spread(r),
            fmt_ms(result.load_ms) if result else "n/a",
            fmt_memory(result),
            fmt_energy_mj(result.energy if result else None),
            fmt_power_w(result.energy if result else None),
            fmt_thermal(result.thermal if result else None),
            fmt_count(info.get("params"), "M"),
            fmt_count(info.get("macs"), "G"),
            delegation_text(r),
            fmt_top1(info),
            fmt_published_latency(info),
            status,
        ])
    return rows


# `harness show`: every statistic of every cell of one run.
DETAIL_COLUMNS = (
    "model", "format", "status", "n", "trials", "median", "95% CI", "p90", "p99", "CV",
    "load ms", "first ms", "peak RSS MB load / inf.", "energy mJ/inf.", "power W", "thermal",
    "reason / warnings",
)


def detail_rows(records: list[BenchmarkRecord]) -> list[list[str]]:
    """One row per record, in stored order, with everything `harness show` prints."""
    rows = []
    for r in records:
        s, res = r.stats, r.result
        status = r.status + (" (unstable)" if r.unstable else "")
        note = "; ".join(x for x in (r.reason, *r.warnings) if x)
        measured = [fmt_ms(res.load_ms), fmt_ms(res.first_inference_ms), fmt_memory(res),
                    fmt_energy_mj(res.energy), fmt_power_w(res.energy), fmt_thermal(res.thermal)
                    ] if res is not None else ["n/a"] * 6
        if s is None:
            rows.append([r.model, r.format, status, *["n/a"] * 7, *measured, note])
            continue
        rows.append([r.model, r.format, status, str(s.n), fmt_trial_spread(r), fmt_ms(s.median),
                     f"[{fmt_ms(s.ci_low)}, {fmt_ms(s.ci_high)}]", fmt_ms(s.p90), fmt_ms(s.p99),
                     f"{s.cv:.1%}", *measured, note])
    return rows


def group_by_device_format(records: list[BenchmarkRecord]):
    records = sorted(records, key=lambda r: (r.device_id, r.format))
    for (device, fmt), group in itertools.groupby(records, key=lambda r: (r.device_id, r.format)):
        yield device, fmt, list(group)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(records: list[BenchmarkRecord], title: str = "Leaderboard") -> str:
    lines = [f"# {title}", "", f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} from "
             f"{len(records)} records. Latency is the median of the timed samples of all trials "
             "with its bootstrap 95% confidence interval; `trials` gives the spread of the "
             "trials' medians. Memory is the peak resident set during load and during "
             "inference; energy and power are n/a where the device has no energy sensor; "
             "THROTTLED marks a device that was throttling. Every figure traces to raw samples "
             "in the database (`harness show RUN_ID`).", ""]
    for device, fmt, group in group_by_device_format(records):
        lines += [f"## {device} / {fmt}", ""]
        lines.append("| " + " | ".join(COLUMNS) + " |")
        lines.append("|" + "---|" * len(COLUMNS))
        for row in leaderboard_rows(group):
            lines.append("| " + " | ".join(_md_escape(c) for c in row) + " |")
        lines.append("")
    return "\n".join(lines)


def write_leaderboard(records: list[BenchmarkRecord], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_markdown(records))
    tmp.replace(path)
    return path
