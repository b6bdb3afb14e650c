"""What `--json` prints: plain dicts of runs, records, comparisons, models and devices.

The shapes are documented in docs/measurement.md ("JSON output") and carry `"json_version"`
at the top level; a change to a key is a new version, listed here:

    1  the first: run, show, compare, models, devices, runs

Times are milliseconds, memory kilobytes (as the runners report them), energy joules; a figure
that was not measured is null, never 0 (strict JSON: no NaN).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Any

from harness.report.figures import measured_by, model_memory_kb, process_peak_kb
from harness.store import BenchmarkRecord, RunInfo

JSON_VERSION = 1


def strict(value: Any) -> Any:
    """`value` with every non-finite float as None and tuples as lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def dumps(document: dict) -> str:
    return json.dumps(strict({"json_version": JSON_VERSION, **document}), indent=2,
                      allow_nan=False)


def _iso(t: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t)) if t else None


def run_json(run: RunInfo, records: int | None = None, measured: int | None = None) -> dict:
    config = run.config or {}
    data = {
        "id": run.id,
        "status": run.status,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "device_id": run.device_id,
        "device": run.device,
        "models": config.get("models"),
        "formats": config.get("formats"),
        "bench": config.get("bench"),
        "argv": run.argv,
        "git_sha": run.git_sha,
        "harness_version": run.harness_version,
    }
    if records is not None:
        data["records"] = records
        data["measured"] = measured
    return data


def record_json(record: BenchmarkRecord, run: RunInfo | None = None,
                samples: list[list[float]] | None = None) -> dict:
    """One cell: what ran, under which settings, its figures, and why it is flagged."""
    from harness.bench.plausibility import plausibility
    from harness.bench.validity import validity
    from harness.placement.build import placement_of
    from harness.report.leaderboard import partial_note, settings_of

    s, res = record.stats, record.result
    settings = settings_of(record, run)
    data = {
        "id": record.id,
        "run_id": record.run_id,
        "device_id": record.device_id,
        "model": record.model,
        "format": record.format,
        "status": record.status,
        "reason": record.reason or None,
        "unstable": record.unstable,
        "warnings": list(record.warnings),
        "partial": partial_note(record) or None,
        "plausibility": plausibility(record),
        "validity": (lambda v: v.to_dict() if v else None)(
            validity(record, (run.config.get("bench") if run else None))),
        "settings": {"threads": settings.threads,
                     "cpu_affinity": list(settings.placement) if settings.placement else None,
                     "input_shape": list(settings.input) if settings.input else None,
                     "backend": settings.backend, "precision": settings.precision,
                     "affinity_known": settings.placement_known},
        "latency_ms": None if s is None else {
            "n": s.n, "median": s.median, "ci_low": s.ci_low, "ci_high": s.ci_high,
            "ci_level": s.ci_level, "p90": s.p90, "p99": s.p99, "mean": s.mean, "std": s.std,
            "cv": s.cv, "min": s.min, "max": s.max, "trimmed_mean": s.trimmed_mean,
            "outliers": s.outliers, "trial_medians": list(s.trial_medians),
            # ci_low/ci_high: where a repeated run's median falls (between sessions) when
            # `between_sessions`; the interval of these samples alone is `within_session`.
            "between_sessions": s.between_sessions,
            "within_session": {"ci_low": s.within_ci_low, "ci_high": s.within_ci_high,
                               "ci_level": s.within_ci_level},
            "mean_ci": None if s.mean_ci_low is None else {"low": s.mean_ci_low, "high": s.mean_ci_high},
            "session_spread": s.session, "device_prior": s.prior,
        },
        # Another tool's own figures when the record has no samples (harness.store.ToolSummary).
        "tool_summary": record.tool_summary.to_dict() if record.tool_summary else None,
        "memory_only": record.memory_only,
        "load_ms": res.load_ms if res else None,
        "first_inference_ms": res.first_inference_ms if res else None,
        "memory_kb": None if res is None else {
            "model": model_memory_kb(res),
            "process_peak": process_peak_kb(res),
            "peak_load": res.peak_rss_load_kb,
            "peak_inference": res.peak_rss_inference_kb,
            "before_load": res.context.get("rss_before_load_kb"),
            "measured_by": measured_by(res),
        },
        "energy": None if res is None or res.energy.source == "none" else {
            "source": res.energy.source,
            "joules_per_inference": res.energy.joules_per_inference,
            "joules_per_inference_uncertainty": res.energy.joules_per_inference_uncertainty,
            "avg_power_w": res.energy.avg_power_w,
            "avg_power_w_uncertainty": res.energy.avg_power_w_uncertainty,
        },
        "thermal": None if res is None else dataclasses.asdict(res.thermal),
        "runtime_versions": res.runtime_versions if res else {},
        "artifact": {k: record.artifact.get(k) for k in
                     ("sha256", "size_bytes", "status", "numerics", "details", "cached")},
        "model_info": record.model_info,
        # harness.profiles: the profiling trial's table (harness run --profile), or None.
        "operator_profile": res.context.get("operator_profile") if res else None,
        # harness.placement: where each operator ran (stored, or built from what is stored).
        "placement": placement_of(record),
    }
    if samples is not None:
        data["samples_ms"] = samples  # one list per trial, in trial order
    return data


def comparison_json(comparison) -> dict:
    from harness.report.compare import summary_line

    return {
        "run_a": comparison.run_a,
        "run_b": comparison.run_b,
        "threshold": comparison.threshold,
        "alpha": comparison.alpha,
        "cells": [{
            "device_id": c.device_id, "model": c.model, "format": c.format,
            "verdict": c.verdict, "a_median_ms": c.a_median, "b_median_ms": c.b_median,
            "ratio": c.ratio, "ratio_ci": list(c.ratio_ci) if c.ratio_ci else None,
            "p_value": c.p_value, "notes": list(c.notes),
            # Decided on the trials: their counts and the spread between sessions used; the
            # pooled samples' Mann-Whitney p is a within-session figure only.
            "trials": list(c.trials) if c.trials else None, "session_spread": c.spread,
            "trials_needed": c.trials_needed, "within_session_p": c.within_p,
        } for c in comparison.cells],
        "warnings": list(comparison.warnings),
        "regressions": [f"{c.model}/{c.format}" for c in comparison.regressions],
        "summary": summary_line(comparison),
    }


def published_json(published) -> dict | None:
    if published is None:
        return None
    data = dataclasses.asdict(published) if dataclasses.is_dataclass(published) else dict(published)
    return data
