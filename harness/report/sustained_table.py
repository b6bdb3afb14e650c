"""A sustained cell's windows as `harness run` and `harness show` print them (the figures are
harness.bench.sustained's, stored in the record's context)."""

from __future__ import annotations

from harness.report.figures import fmt_ms


def sustained_cells(records) -> list:
    return [r for r in records if r.result is not None and r.result.context.get("sustained")]


def summary_line(record) -> str:
    """"repvit_m0_9 / executorch, sustained 600 s: first throttle at 112 s; keeps 0.85 of its
    burst speed (0.92 -> 1.08 ms); 31 -> 27 mJ per inference"."""
    s = record.result.context["sustained"]
    if not s.get("windows"):
        return f"{record.model} / {record.format}, sustained {s['seconds']:g} s: no windows ({s.get('why', '')})"
    throttle = (f"first throttle at {s['first_throttle_s']:.3g} s" if s.get("first_throttle_s") is not None
                else "the device reported no throttling" if s.get("ticks") else "no thermal readings")
    energy = ""
    if s.get("energy_burst_j") is not None and s.get("energy_steady_j") is not None:
        energy = (f"; {s['energy_burst_j'] * 1e3:.3g} -> {s['energy_steady_j'] * 1e3:.3g} mJ per "
                  "inference, burst -> steady")
    return (f"{record.model} / {record.format}, sustained {s['seconds']:g} s: {throttle}; keeps "
            f"{s['steady_to_burst']:.2f} of its burst speed ({fmt_ms(s['burst_ms'])} -> "
            f"{fmt_ms(s['steady_ms'])} ms){energy}")


def window_rows(record) -> tuple[list[str], list[list[str]]]:
    """(headers, one row per window)."""
    headers = ["from s", "to s", "n", "median ms", "p90 ms", "thermal", "hottest °C", "MHz", "mJ/inf"]
    rows = []
    for w in record.result.context["sustained"]["windows"]:
        energy = w.get("energy_j_per_inference")
        rows.append([f"{w['t0_s']:.1f}", f"{w['t1_s']:.1f}", str(w["n"]), fmt_ms(w["median_ms"]),
                     fmt_ms(w["p90_ms"]), w.get("thermal_state") or "n/a",
                     f"{w['hottest_c']:.1f}" if w.get("hottest_c") is not None else "n/a",
                     f"{w['freq_mhz']:.0f}" if w.get("freq_mhz") is not None else "n/a",
                     f"{energy * 1e3:.3g}" if energy is not None else "n/a"])
    return headers, rows
