"""The leaderboard: per device and format, every model's median latency with its 95% CI,
beside its memory, energy and thermal state, its size and cost, and the published numbers.

Built from stored records only, so it can be regenerated at any time with `harness report`: their
stored figures, never their samples, so a report costs the same however long the runs were.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from harness.report.format import (
    fmt_ci,
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
                     fmt_ci(s), fmt_ms(s.p90), fmt_ms(s.p99),
                     f"{s.cv:.1%}", *measured, note])
    return rows


# The baseline every ratio in the side-by-side table is read against.
BASELINE_FORMAT = "eager"
# Host-runnable formats first, in the order a reader compares them; others follow by name.
FORMAT_ORDER = ("eager", "executorch", "executorch-int8", "executorch-portable", "tflite",
                "tflite-fp16", "tflite-int8", "onnx")


def _format_key(fmt: str):
    base = fmt.partition("@")[0]
    return (FORMAT_ORDER.index(base) if base in FORMAT_ORDER else len(FORMAT_ORDER), fmt)


def side_by_side(records: list[BenchmarkRecord]) -> tuple[list[str], list[list[str]]]:
    """One device's records as a model x format table of medians, each with its ratio to eager.

    A cell reads `12.3 ms (0.45x)`: the median and median / eager median of the same model, so
    below 1 is faster than PyTorch itself. Unstable medians carry `?`; cells without a
    measurement show their status. Returns (columns, rows), models in name order.
    """
    formats = sorted({r.format for r in records}, key=_format_key)
    by_cell = {(r.model, r.format): r for r in records}
    rows = []
    for model in sorted({r.model for r in records}):
        base = by_cell.get((model, BASELINE_FORMAT))
        base_ms = base.stats.median if base is not None and base.stats else None
        row = [model]
        for fmt in formats:
            r = by_cell.get((model, fmt))
            if r is None:
                row.append("")
            elif r.stats is None:
                row.append(r.status)
            else:
                text = fmt_ms(r.stats.median) + ("?" if r.unstable else "")
                if base_ms and fmt != BASELINE_FORMAT:
                    text += f" ({r.stats.median / base_ms:.2f}x)"
                row.append(text)
        rows.append(row)
    return ["model", *formats], rows


def side_by_side_tables(records: list[BenchmarkRecord]):
    """(device, columns, rows) of the side-by-side table of every device measured in 2+ formats."""
    records = sorted(records, key=lambda r: r.device_id)
    for device, group in itertools.groupby(records, key=lambda r: r.device_id):
        group = list(group)
        if len({r.format for r in group}) >= 2:
            yield (device, *side_by_side(group))


def group_by_device_format(records: list[BenchmarkRecord]):
    records = sorted(records, key=lambda r: (r.device_id, r.format))
    for (device, fmt), group in itertools.groupby(records, key=lambda r: (r.device_id, r.format)):
        yield device, fmt, list(group)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(records: list[BenchmarkRecord], title: str = "Leaderboard") -> str:
    lines = [f"# {title}", "", f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} from "
             f"{len(records)} records. Latency is the median of the timed samples of all trials "
             "with its 95% confidence interval (order statistics, distribution-free); `trials` "
             "gives the spread of the trials' medians. Memory is the peak resident set during "
             "load and during inference; energy and power are n/a where the device has no "
             "energy sensor; THROTTLED marks a device that was throttling. Every figure traces "
             "to raw samples in the database (`harness show RUN_ID --samples`).", ""]
    for device, columns, rows in side_by_side_tables(records):
        lines += [f"## {device}: formats side by side", "",
                  f"Median ms of each model in each format, and its ratio to `{BASELINE_FORMAT}` "
                  "(PyTorch on the same device); `?` marks an unstable median.", ""]
        lines += _md_table(columns, rows)
    for device, fmt, group in group_by_device_format(records):
        lines += [f"## {device} / {fmt}", ""]
        lines += _md_table(COLUMNS, leaderboard_rows(group))
    return "\n".join(lines)


def _md_table(columns, rows) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return lines + [""]


def write_leaderboard(records: list[BenchmarkRecord], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_markdown(records))
    tmp.replace(path)
    return path
