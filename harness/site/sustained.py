"""A sustained cell on its model page: the summary line and its windows drawn over time,
latency and temperature (harness.bench.sustained stores them; harness.site.svg draws)."""

from __future__ import annotations

from harness.report.sustained_table import summary_line
from harness.site.svg import series_svg


def sustained_view(record) -> tuple[str, tuple[str, ...]]:
    """(the summary line, the plots); ("", ()) for a cell that is not sustained."""
    context = record.result.context if record.result is not None else {}
    sustained = context.get("sustained")
    if not sustained or not sustained.get("windows"):
        return "", ()
    windows = sustained["windows"]
    middle = [(w["t0_s"] + w["t1_s"]) / 2 for w in windows]
    label = f"{record.model} / {record.format}"
    plots = (
        series_svg(middle, [w["median_ms"] for w in windows], "median ms", "s",
                   label=f"median latency of {label} in each window of its sustained run"),
        series_svg(middle, [w.get("hottest_c") for w in windows], "hottest °C", "s",
                   label=f"the hottest sensor in each window of {label}'s sustained run"),
    )
    return summary_line(record), tuple(p for p in plots if p)
