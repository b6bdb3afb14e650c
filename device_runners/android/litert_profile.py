"""benchmark_model's per-operator profile (`--enable_op_profiling=true`) as an operator profile.

With op profiling on, benchmark_model (tflite/tools/benchmark/profiling_listener.cc) prints,
after its timings, two reports of TFLite's StatSummarizer: "Profiling Info for Benchmark
Initialization:" and then the one read here, of the timed runs:

    INFO: Operator-wise Profiling Info for Regular Benchmark Runs:
    ============================== Run Order ==============================
                 [node type]   [first]  [avg ms]     [%]   [cdf%]  [mem KB]  [times called]  [Name]
                    QUANTIZE     0.199     0.203  1.328%   1.328%     0.000               1  [tfl.quantize]:0
    Convolution (NHWC, QC8) GEMM 0.125     0.023  1.944%  10.248%     0.000              13  Delegate/Convolution (NHWC, QC8) GEMM:2
    ...
    ============================== Top by Computation Time ==============================
    ...
    Number of nodes executed: 171
    ============================== Summary by node type ==============================
                 [Node type]  [count]  [avg ms]  [avg %]  [cdf %]  [mem KB]  [times called]
    Convolution (NHWC, QC8) GEMM   62     5.236  34.361%  34.361%     0.000             101
    ...
    Timings (microseconds): count=64 first=15808 curr=14892 min=14470 max=17363 avg=15309.2 std=542

Columns are separated by tabs (TensorFlow 2.x builds, which also print a `[start]` column) or
by runs of spaces (LiteRT builds); either is read, by the header's names, not positions. In the
summary, `[avg ms]` is the time per run of every node of that type together, `[count]` the
nodes and `[times called]` the calls per run. Rows whose name is `Delegate/...` are operators the
XNNPACK delegate reported one by one (only XNNPACK's profiler does); a delegate that reports
none is one node named after its kernel (`TfLiteGpuDelegateV2`, `TfLiteNnapiDelegate`).
"""

from __future__ import annotations

import re

from device_runners.android.litert_benchmark import NUMBER, strip_prefixes
from device_runners.contract import RunRequest
from device_runners.operator_profile import operator_rows, unavailable

SOURCE = "benchmark_model"
SECTION = "Operator-wise Profiling Info for Regular Benchmark Runs"
_TABLE = re.compile(r"^=+\s*(.+?)\s*=+$")
_COLUMNS = re.compile(r"\t+|\s{2,}")
_TIMINGS = re.compile(r"^Timings \(microseconds\): (.*)$")
_FIELD = re.compile(rf"(\w+)=({NUMBER})")
# The kernels of the delegates that run a whole partition as one node.
DELEGATE_KERNELS = {"tflitexnnpackdelegate": "xnnpack", "tflitegpudelegatev2": "gpu",
                    "tflitegpudelegate": "gpu", "tflitennapidelegate": "nnapi",
                    "tflitehexagondelegate": "hexagon"}


def profiling_flags(request: RunRequest) -> list[str]:
    """benchmark_model's flags for a profiling request (none for a timed one)."""
    return ["--enable_op_profiling=true"] if request.profile else []


def _tables(lines: list[str]) -> dict[str, list[dict]]:
    """The tables after the section's header: title -> rows as {column name: text}."""
    tables: dict[str, list[dict]] = {}
    rows: list[dict] | None = None
    header: list[str] = []
    for line in lines:
        if match := _TABLE.match(line):
            rows, header = tables.setdefault(match[1].lower(), []), []
            continue
        if rows is None or not line:
            continue
        cells = [c.strip() for c in _COLUMNS.split(line) if c.strip()]
        if cells and cells[0].startswith("["):
            header = [c.strip("[]").lower() for c in cells]
        elif header and len(cells) == len(header):
            rows.append(dict(zip(header, cells)))
    return tables


def _delegate_of(node_type: str, name: str) -> str:
    kernel = DELEGATE_KERNELS.get(node_type.lower())
    if kernel:
        return kernel
    if name.startswith("Delegate/"):
        return "xnnpack"  # the only delegate that reports its operators to the profiler
    return "delegate" if "delegate" in node_type.lower() else ""


_NODE_INDEX = re.compile(r":(\d+)$")


def _run_order(rows: list[dict]) -> list[dict]:
    """Each node of the Run Order table, in order: its name (`[output tensors]:INDEX`, or
    `Delegate/OPERATOR:N` for XNNPACK's own operators), node type, index and time per run."""
    events = []
    for row in rows:
        name, node_type = row.get("name", ""), row.get("node type", "")
        try:
            ms = float(row["avg ms"])
        except (KeyError, ValueError):
            continue
        match = _NODE_INDEX.search(name)
        delegate = _delegate_of(node_type, name)
        events.append({"name": name, "type": node_type, "delegated": bool(delegate),
                       "delegate": delegate, "ms": ms,
                       "node": int(match[1]) if match and not name.startswith("Delegate/") else None})
    return events


def parse_op_profile(text: str) -> dict:
    """The operator profile in benchmark_model's log (stdout and stderr together), or an
    `unavailable` one saying why there is none."""
    lines = [strip_prefixes(raw)[1] for raw in text.splitlines()]
    starts = [i for i, line in enumerate(lines) if line.startswith(SECTION)]
    if not starts:
        return unavailable(SOURCE, "benchmark_model printed no 'Operator-wise Profiling Info' "
                                   "(a build without --enable_op_profiling?)")
    section = lines[starts[-1] + 1:]
    timings = next((m[1] for line in section if (m := _TIMINGS.match(line))), None)
    tables = _tables(section)
    summary = tables.get("summary by node type")
    if not summary:
        return unavailable(SOURCE, "benchmark_model's profile has no 'Summary by node type' table")
    # The summary names no delegate: a node type is a delegate's when any node of it ran in one.
    delegates: dict[str, str] = {}
    for row in tables.get("run order", []):
        node_type = row.get("node type", "")
        delegates[node_type] = (_delegate_of(node_type, row.get("name", ""))
                                or delegates.get(node_type, ""))
    try:
        rows = [dict(operator=row["node type"],
                     delegate=delegates.get(row["node type"]) or _delegate_of(row["node type"], ""),
                     count=int(float(row["times called"])), total_ms=float(row["avg ms"]))
                for row in summary]
    except (KeyError, ValueError) as exc:
        return unavailable(SOURCE, f"benchmark_model's 'Summary by node type' table is not in "
                                   f"the format this harness reads ({exc})")
    ops = operator_rows(rows)
    profile = {"source": SOURCE, "ops": ops,
               "ops_total_ms": round(sum(r["total_ms"] for r in ops), 6),
               "events": _run_order(tables.get("run order", []))}
    if timings:
        stats = {name: float(value) for name, value in _FIELD.findall(timings)}
        per_run = stats.get("avg", stats.get("curr"))
        profile["iterations"] = int(stats.get("count", 0))
        if per_run is not None:
            profile.update(reference_ms=round(per_run / 1000, 6),
                           reference="benchmark_model's mean of the profiled runs")
    return profile
