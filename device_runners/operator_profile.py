"""Per-operator profiles: where one inference's time goes, operator by operator.

A profile travels in a result's `context["operator_profile"]` (the contract's schema is not
changed: its context is free-form), in one shape whatever measured it:

    {"source": "etdump" | "benchmark_model",
     "iterations": 10,                       # profiled inferences the figures are taken over
     "ops": [{"operator": "Convolution (NHWC, F32) IGEMM", "delegate": "xnnpack",
              "count": 2, "total_ms": 0.71, "avg_ms": 0.355}, ...],   # by total_ms, largest first
     "ops_total_ms": 0.76,                   # the sum of the rows: one inference, as profiled
     "reference_ms": 0.80,                   # the tool's own time per profiled inference
     "reference": "Method::execute median",  # what reference_ms is
     "events": [{"name": "Convolution (NHWC, F32) IGEMM #2", "delegated": true,
                 "instruction": 0, "ms": 0.35}, ...]}   # every event, in execution order
    or {"source": ..., "unavailable": "one line saying why there is none"}

`events` (ETDump: each event with the program instruction it ran in, a delegate's operators
before its DELEGATE_CALL; benchmark_model: each node of its Run Order with its node index) lets
the time reach the model's graph node by node (harness/placement/node_times.py).

`count` is calls per inference, `total_ms` their time per inference (summed over calls),
`avg_ms` = total_ms / count. `delegate` is the backend that ran the operator, or "" for the
runtime's own kernels (ExecuTorch's portable/optimized kernels, TFLite's builtin ones).

ETDump (ExecuTorch's event trace, written by the native runner's separate profiling pass) is
read with `executorch.devtools.Inspector`, which imports torch and ExecuTorch's exir (5 s).
That happens in a child process (`python -m device_runners.operator_profile ETDUMP`), once per
profiled cell, after its timed trials; the harness process and every read-only command stay
free of torch. `benchmark_model`'s op profiling is read by device_runners/android/litert_profile.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from statistics import median

# Events of the ETDump that are not operators: the method around everything, and the calls
# that wrap operators (OPERATOR_CALL around a kernel, DELEGATE_CALL around a delegate's ops).
METHOD_EVENT = "Method::execute"
OPERATOR_CALL = "OPERATOR_CALL"
DELEGATE_CALL = "DELEGATE_CALL"
# A delegate call whose operators the delegate did not report one by one (a delegate without
# its own profiler) is one row of this name; the part of a call its reported operators do not
# cover (the delegate's own bookkeeping) is a row of the other.
WHOLE_DELEGATE_CALL = "delegate call (operators not reported)"
DELEGATE_OVERHEAD = "delegate call overhead"
# The XNNPACK delegate numbers its operators ("Convolution (NHWC, F32) IGEMM #2"); one row per
# kind of operator, the calls counted.
_INSTANCE_SUFFIX = re.compile(r"\s+#\d+$")
_KERNEL_PREFIX = "native_call_"
# Importing the Inspector takes 5-6 s here; a damaged ETDump must not hang a run.
READ_TIMEOUT_S = 300.0


def unavailable(source: str, why: str) -> dict:
    return {"source": source, "unavailable": why}


def operator_rows(rows: list[dict]) -> list[dict]:
    """Rows {operator, delegate, count, total_ms} merged by (operator, delegate), with avg_ms,
    the largest total first."""
    merged: dict[tuple[str, str], dict] = {}
    for row in rows:
        key = (row["operator"], row["delegate"])
        into = merged.setdefault(key, {"operator": key[0], "delegate": key[1], "count": 0,
                                       "total_ms": 0.0})
        into["count"] += row["count"]
        into["total_ms"] += row["total_ms"]
    # Rounded to the nanosecond: finer digits are float noise of the sums, not measurements.
    out = [{**r, "total_ms": round(r["total_ms"], 6),
            "avg_ms": round(r["total_ms"] / r["count"], 6) if r["count"] else 0.0}
           for r in merged.values()]
    return sorted(out, key=lambda r: -r["total_ms"])


def summarize_events(events: list[tuple], delegate: str) -> dict:
    """A profile from the Execute events of an ETDump, in the order the Inspector lists them
    (each one after the events it encloses): (name, delegated?, backend name or "", the event's
    time in ms in each profiled run[, the instruction it ran in]). An event's time per
    inference is its median over the runs, so the first run after the load (XNNPACK sets up its
    workspace then) counts for nothing. `delegate` names delegated operators when the ETDump
    does not (it names none without an ETRecord)."""
    rows: list[dict] = []
    pending: list[float] = []  # delegated operators since the last DELEGATE_CALL
    execute: list[float] = []
    timeline: list[dict] = []
    runs = 0
    for name, delegated, backend, times, *where in events:
        if not times:
            continue
        runs = max(runs, len(times))
        t = median(times)
        if name not in (METHOD_EVENT, OPERATOR_CALL):
            timeline.append({"name": name, "delegated": bool(delegated),
                             "instruction": where[0] if where else None, "ms": round(t, 6)})
        if name == METHOD_EVENT:
            execute.append(t)
        elif name == OPERATOR_CALL:
            continue  # wraps the native_call_ event just before it
        elif name == DELEGATE_CALL:
            if pending:
                rest = t - sum(pending)
                if rest > 0:
                    rows.append(dict(operator=DELEGATE_OVERHEAD, delegate=backend or delegate,
                                     count=1, total_ms=rest))
            else:
                rows.append(dict(operator=WHOLE_DELEGATE_CALL, delegate=backend or delegate,
                                 count=1, total_ms=t))
            pending = []
        elif delegated:
            pending.append(t)
            rows.append(dict(operator=_INSTANCE_SUFFIX.sub("", name), delegate=backend or delegate,
                             count=1, total_ms=t))
        else:
            rows.append(dict(operator=name.removeprefix(_KERNEL_PREFIX), delegate="", count=1,
                             total_ms=t))
    if not rows:
        return unavailable("etdump", "the ETDump holds no operator events")
    ops = operator_rows(rows)
    profile = {"source": "etdump", "iterations": runs, "ops": ops,
               "ops_total_ms": round(sum(r["total_ms"] for r in ops), 6), "events": timeline}
    if execute:
        profile.update(reference_ms=round(sum(execute), 6), reference="Method::execute median")
    return profile


def read_etdump(path: str | Path, delegate: str = "") -> dict:
    """The profile of an ETDump file, read with ExecuTorch's Inspector (imports torch: call it
    in a child process, as `etdump_profile` does)."""
    from executorch.devtools import Inspector

    inspector = Inspector(etdump_path=str(path))
    events = []
    for block in inspector.event_blocks:
        if block.name != "Execute":  # "Default" holds Method::init and Program::load_method
            continue
        for event in block.events:
            raw = list(event.perf_data.raw) if event.perf_data is not None else []
            # The instruction an event ran in has no public accessor in ExecuTorch 1.5.1 (the
            # version pinned); without it the overlays cannot place times on graph nodes.
            events.append((event.name, bool(event.is_delegated_op),
                           event.delegate_backend_name or "", raw,
                           getattr(event, "_instruction_id", None)))
    return summarize_events(events, delegate)


def etdump_profile(profiling: dict | None, delegate: str, env: dict | None = None,
                   timeout_s: float = READ_TIMEOUT_S) -> dict:
    """The profile of the ETDump the native runner wrote (its `context["profiling"]`), read in a
    child process; an `unavailable` profile saying why when there is none."""
    if not profiling:
        return unavailable("etdump", "the native runner did not run its profiling pass")
    if profiling.get("status") != "ok":
        return unavailable("etdump", f"the native runner's profiling pass {profiling.get('status')}: "
                                     f"{profiling.get('reason', '')}")
    argv = [sys.executable, "-m", "device_runners.operator_profile", str(profiling["etdump_path"]),
            "--delegate", delegate]
    if env is None:  # the child imports this very package, wherever it was imported from
        root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, errors="replace",
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return unavailable("etdump", f"reading the ETDump took over {timeout_s:.0f} s")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = " | ".join(line.strip() for line in proc.stderr.splitlines()[-2:] if line.strip())
        return unavailable("etdump", f"ExecuTorch's Inspector could not read the ETDump: {tail}")
    return {**json.loads(lines[-1]), "iterations_requested": profiling.get("iterations")}


def main(argv: list[str] | None = None) -> int:
    """`python -m device_runners.operator_profile ETDUMP [--delegate NAME]`: the profile as one
    JSON line on stdout (the Inspector's own chatter goes to stderr)."""
    import argparse
    import contextlib

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("etdump")
    parser.add_argument("--delegate", default="")
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):
        profile = read_etdump(args.etdump, args.delegate)
    print(json.dumps(profile, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
