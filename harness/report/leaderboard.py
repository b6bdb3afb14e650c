"""The leaderboard: per device and format, every model's median latency with its 95% CI,
beside its size, cost and the published numbers.

Built from stored records only, so it can be regenerated at any time with `harness report`.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from harness.report.format import (
    fmt_count,
    fmt_latency,
    fmt_ms,
    fmt_published_latency,
    fmt_rss_mb,
    fmt_top1,
)
from harness.store import BenchmarkRecord

COLUMNS = (
    "model", "median ms [95% CI]", "load ms", "peak RSS MB", "params", "MACs",
    "top-1 (published)", "latency (published)", "status",
)


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
            fmt_ms(result.load_ms) if result else "n/a",
            fmt_rss_mb(result.peak_rss_inference_kb) if result else "n/a",
            fmt_count(info.get("params"), "M"),
            fmt_count(info.get("macs"), "G"),
            fmt_top1(info),
            fmt_published_latency(info),
            status,
        ])
    return rows


def group_by_device_format(records: list[BenchmarkRecord]):
    records = sorted(records, key=lambda r: (r.device_id, r.format))
    for (device, fmt), group in itertools.groupby(records, key=lambda r: (r.device_id, r.format)):
        yield device, fmt, list(group)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(records: list[BenchmarkRecord], title: str = "Leaderboard") -> str:
    lines = [f"# {title}", "", f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} from "
             f"{len(records)} records. Latency is the median of the timed samples with its "
             "bootstrap 95% confidence interval; every figure traces to raw samples in the "
             "database (`harness show RUN_ID`).", ""]
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
