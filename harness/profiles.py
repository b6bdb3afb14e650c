"""The profiling pass of `harness run --profile`, and the top operators `harness show --ops` prints.

After a cell's timed trials (all of them ok), one more trial runs with `profile: true`, in a
fresh process like every trial: the native runner adds its ETDump pass, benchmark_model its op
profiling. That trial is never one of the cell's trials: its samples are dropped, since the
tracer's overhead is in them, and they must not enter the cell's statistics. What it keeps is
the runner's `context["operator_profile"]` (device_runners/operator_profile.py describes its
shape), stored with the record's combined result as `result.context["operator_profile"]`, with
`trial` saying under what the profile was taken. A cell whose profile could not be taken is
still measured and stored; its reason says "no operator profile: <why>".

Nothing here imports torch: `show --ops` only reads what the run stored.
"""

from __future__ import annotations

import dataclasses

from device_runners.contract import RunRequest, RunResult

# Timed iterations of the profiling trial: its samples are thrown away, so it times as few as
# the protocol allows. benchmark_model profiles its timed runs, so they are what it averages
# over; the native runner profiles 10 inferences of its own after them.
PROFILE_ITERATIONS = 10

# Why a runner returned no profile at all, by runtime, when it did not say itself.
NO_PROFILER = {
    "executorch": "ExecuTorch profiles only in the native runner (ETDump); this trial ran "
                  "elsewhere (--executorch-runner python, or no native runner could be built)",
    "litert": "LiteRT profiles per operator only in benchmark_model on a phone "
              "(--enable_op_profiling); the host's Python interpreter has no per-operator profiler",
}


def profile_request(request: RunRequest) -> RunRequest:
    """The request of the profiling trial: the cell's own, with `profile` on, the fewest timed
    iterations, and no check inputs (the numerics were checked in the timed trials)."""
    iterations = min(PROFILE_ITERATIONS, request.max_iterations)
    return dataclasses.replace(request, profile=True, min_iterations=iterations,
                               min_duration_s=0.0, check_inputs_path="")


def profile_from_trial(result: RunResult, request: RunRequest) -> dict:
    """What a record keeps of its profiling trial: the runner's profile (or why there is none),
    with what the trial ran under."""
    if not result.ok:
        return {"unavailable": f"the profiling trial failed: {result.error}"}
    profile = result.context.get("operator_profile")
    if not profile:
        profile = {"unavailable": NO_PROFILER.get(
            request.runtime, f"this device's runner does not profile {request.runtime}")}
    trial = {"loadavg_before": result.context.get("loadavg_before"),
             "samples_dropped": len(result.samples_ms)}
    return {**profile, "trial": trial}


def missing_reason(profile: dict | None) -> str:
    """"no operator profile: <why>", or "" for a profile with operators."""
    if profile is None or profile.get("ops"):
        return ""
    return f"no operator profile: {profile.get('unavailable') or 'the profile holds no operators'}"


def stored_profile(record) -> dict | None:
    """The operator profile stored with a record, or None."""
    result = record.result
    return result.context.get("operator_profile") if result is not None else None


def ops_table(records, top: int):
    """The `top` operators of every profiled cell, largest total first: one table, a row per
    operator, with its share of the profiled inference; and the lines under it."""
    from harness.report.figures import fmt_latency
    from harness.report.text import Column, TextTable

    table = TextTable([Column("model", key=True), Column("format", key=True), Column("operator"),
                       Column("delegate", hide=2), Column("calls", "right"),
                       Column("total ms", "right"), Column("avg ms", "right", hide=1),
                       Column("share", "right")])
    after = []
    for record in records:
        profile = stored_profile(record)
        if not profile:
            continue
        if not profile.get("ops"):
            after.append(f"{record.model} {record.format}: {missing_reason(profile)}")
            continue
        total = profile["ops_total_ms"] or 0.0
        for op in profile["ops"][:top]:
            share = f"{100 * op['total_ms'] / total:.1f}%" if total > 0 else "n/a"
            table.add_row(record.model, record.format, op["operator"], op["delegate"] or "-",
                          str(op["count"]), f"{op['total_ms']:.4f}", f"{op['avg_ms']:.4f}", share)
        hidden = len(profile["ops"]) - top
        after.append(f"{record.model} {record.format}: operators total {total:.4f} ms per "
                     f"inference over {profile.get('iterations', '?')} profiled runs "
                     f"({profile['source']}); {_reference_text(profile)}; timed median "
                     f"{fmt_latency(record)}"
                     + (f"; {hidden} smaller operators not shown" if hidden > 0 else ""))
    return table, after


def _reference_text(profile: dict) -> str:
    if profile.get("reference_ms") is None:
        return "no whole-inference time from the profiler"
    return f"{profile.get('reference', 'profiler')} {profile['reference_ms']:.4f} ms"
