"""Is a cell's latency one its hardware could produce? Its efficiency: the model's
multiply-accumulates per second at the measured median, over the most the cores it ran on could
do (the runner's `compute_peak`, device_runners/compute_peak.py), for its precision.

A real network reaches 10-60% of a core's peak; above 100% the figure is no measurement: a timer
that misses part of the work, an output cached between iterations, or not the model it claims
to be. Such a cell is flagged and its validity fails.
"""

from __future__ import annotations

# Lanes per fp32 lane: half precision packs two, int8 dot products four.
PRECISION_FACTOR = {"fp32": 1.0, "fp16": 2.0, "int8": 4.0}


def plausibility(record) -> dict | None:
    """{efficiency, achieved and peak MACs/s, source, implausible}; None without the figures."""
    result, stats = record.result, record.stats
    if result is None or stats is None or not stats.median:
        return None
    peak = (result.context.get("compute_peak") or {}) if result.context else {}
    macs = (record.model_info or {}).get("macs")
    if not peak.get("fp32_macs_per_s") or not macs:
        return None
    precision = (record.artifact or {}).get("precision") or result.precision or "fp32"
    capacity = peak["fp32_macs_per_s"] * PRECISION_FACTOR.get(precision, 1.0)
    achieved = float(macs) / (stats.median / 1000.0)
    efficiency = achieved / capacity
    return {"efficiency": efficiency, "achieved_macs_per_s": achieved, "peak_macs_per_s": capacity,
            "precision": precision, "source": peak.get("source", ""), "implausible": efficiency > 1.0}


def implausible_text(figures: dict) -> str:
    return (f"faster than the hardware can compute: {figures['achieved_macs_per_s'] / 1e9:.3g} "
            f"GMAC/s against a peak of {figures['peak_macs_per_s'] / 1e9:.3g} ({figures['source']}, "
            f"{figures['precision']}); a timer that misses work, an output cached between "
            "iterations, or not the model it claims to be")
