"""Several independent trials of one cell, combined into the one result a record shows.

Each trial is a complete `RunResult` (a fresh process on the host, a fresh load on a device) and
is stored as it is. The combined result is what reports read beside the latency:

    samples, warm-up samples   every trial's, in trial order (the statistics pool them)
    load, first inference      the median over trials (each trial loads from cold)
    peak memory                the highest over trials (a high-water mark)
    energy                     per inference: weighted by each trial's iterations; power and
                               idle power: weighted by each trial's duration; uncertainties
                               added in quadrature (trials are independent). "none" unless
                               every trial measured it.
    thermal                    the first trial's state before, the last one's after; throttled
                               if any trial throttled; waits added up
    status                     ok only if every trial is ok; otherwise the first failure's,
                               its error naming the trial
"""

from __future__ import annotations

import dataclasses
import math
from statistics import median

from device_runners.contract import STATUS_OK, EnergyInfo, RunResult, ThermalInfo


def _median_or_none(values) -> float | None:
    values = [v for v in values if v is not None]
    return median(values) if values else None


def _max_or_none(values) -> int | None:
    values = [v for v in values if v is not None]
    return max(values) if values else None


def _weighted(pairs) -> float | None:
    """Weighted mean of (value, weight) pairs; None when any value is missing or no weight."""
    pairs = list(pairs)
    if not pairs or any(v is None or w is None for v, w in pairs):
        return None
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total > 0 else None


def _quadrature(pairs) -> float | None:
    """Uncertainty of a weighted mean of independent values: sqrt(sum((w u)^2)) / sum(w)."""
    pairs = list(pairs)
    if not pairs or any(u is None or w is None for u, w in pairs):
        return None
    total = sum(w for _, w in pairs)
    return math.sqrt(sum((u * w) ** 2 for u, w in pairs)) / total if total > 0 else None


def combine_energy(trials: list[RunResult]) -> EnergyInfo:
    infos = [t.energy for t in trials]
    warnings = tuple(dict.fromkeys(w for e in infos for w in e.warnings))
    sources = {e.source for e in infos}
    if len(sources) != 1 or "none" in sources:
        note = () if sources == {"none"} else (
            f"energy was measured in only some trials ({', '.join(sorted(sources))}); not combined.",
        )
        return EnergyInfo(source="none", warnings=warnings + note)
    by_iterations = [(e, len(t.samples_ms)) for e, t in zip(infos, trials)]
    by_duration = [(e, e.duration_s) for e in infos]
    return EnergyInfo(
        source=infos[0].source,
        joules_per_inference=_weighted((e.joules_per_inference, n) for e, n in by_iterations),
        joules_per_inference_uncertainty=_quadrature(
            (e.joules_per_inference_uncertainty, n) for e, n in by_iterations),
        avg_power_w=_weighted((e.avg_power_w, d) for e, d in by_duration),
        avg_power_w_uncertainty=_quadrature((e.avg_power_w_uncertainty, d) for e, d in by_duration),
        idle_power_w=_weighted((e.idle_power_w, d) for e, d in by_duration),
        duration_s=sum(e.duration_s for e in infos) if all(e.duration_s is not None for e in infos) else None,
        warnings=warnings,
    )


def combine_thermal(trials: list[RunResult]) -> ThermalInfo:
    first, last = trials[0].thermal, trials[-1].thermal
    return ThermalInfo(
        before=first.before,
        after=last.after,
        max_temp_c_before=first.max_temp_c_before,
        max_temp_c_after=last.max_temp_c_after,
        throttled=any(t.thermal.throttled for t in trials),
        waited_s=sum(t.thermal.waited_s for t in trials),
    )


# What must be the same for trials to be pooled into one figure (pyperf refuses to add a run
# whose metadata differs): where they ran, with what, in which setting, measured by what.
def _identity(t: RunResult) -> dict:
    return {"device": (t.device.device_id, t.device.product_model, t.device.os_version),
            "runtime versions": tuple(sorted(t.runtime_versions.items())),
            "artifact sha256": t.artifact_sha256, "runtime": t.runtime, "backend": t.backend,
            "precision": t.precision, "threads": t.threads, "CPUs": t.cpu_affinity,
            "measured by": t.measured_by}


def trials_that_belong(trials: list[RunResult]) -> tuple[list[RunResult], list[dict]]:
    """The trials to pool, and the others with what differed: of the trials that succeeded,
    the largest group alike in everything `_identity` names (the first trial's, on a tie);
    failed trials stay (the cell's status comes from them). Each excluded trial is
    {"trial": its number, "differs": ["threads 1 -> 2", ...]}."""
    ok = [t for t in trials if t.ok]
    if len(ok) < 2:
        return list(trials), []
    groups: dict[tuple, list[RunResult]] = {}
    for t in ok:
        groups.setdefault(tuple(_identity(t).values()), []).append(t)
    kept_ok = max(groups.values(), key=len)  # dicts keep insertion order: the first on a tie
    reference = _identity(kept_ok[0])
    kept, excluded = [], []
    for number, t in enumerate(trials, 1):
        if not t.ok or any(t is k for k in kept_ok):
            kept.append(t)
            continue
        mine = _identity(t)
        excluded.append({"trial": number, "differs": [f"{name} {reference[name]} -> {mine[name]}"
                                                       for name in reference if mine[name] != reference[name]]})
    return kept, excluded


def combine_trials(trials: list[RunResult], planned: int | None = None) -> RunResult:
    """One result standing for all `trials` of a cell (see the module docstring).

    `planned` is how many trials were asked for; fewer (a failure, an interrupt) is recorded in
    the context. A single trial is returned unchanged apart from that.
    """
    if not trials:
        raise ValueError("combine_trials needs at least one trial result.")
    planned = planned or len(trials)
    context_note = {"trials": len(trials), "trials_planned": planned}
    if len(trials) == 1:
        only = trials[0]
        error = only.error if only.ok or planned == 1 else f"trial 1 of {planned}: {only.error}"
        return dataclasses.replace(only, error=error, context={**only.context, **context_note})
    first = trials[0]
    failed = next(((i, t) for i, t in enumerate(trials) if t.status != STATUS_OK), None)
    status, error = STATUS_OK, ""
    if failed is not None:
        i, t = failed
        status, error = t.status, f"trial {i + 1} of {planned}: {t.error}"
    return dataclasses.replace(
        first,
        status=status,
        error=error,
        log=failed[1].log if failed is not None else first.log,
        warnings=tuple(dict.fromkeys(w for t in trials for w in t.warnings)),
        load_ms=_median_or_none(t.load_ms for t in trials),
        first_inference_ms=_median_or_none(t.first_inference_ms for t in trials),
        warmup_samples_ms=tuple(v for t in trials for v in t.warmup_samples_ms),
        samples_ms=tuple(v for t in trials for v in t.samples_ms),
        peak_rss_load_kb=_max_or_none(t.peak_rss_load_kb for t in trials),
        peak_rss_inference_kb=_max_or_none(t.peak_rss_inference_kb for t in trials),
        energy=combine_energy(trials),
        # The raw readings stay with each trial; an energy figure here traces back to them.
        energy_samples={},
        thermal=combine_thermal(trials),
        context={**first.context, **context_note},
    )
