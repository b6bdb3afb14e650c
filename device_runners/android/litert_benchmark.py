"""TensorFlow Lite's `benchmark_model` on a phone: its command line and its output.

`benchmark_model` (tensorflow/lite/tools/benchmark, now google-ai-edge/LiteRT
tflite/tools/benchmark) loads a `.tflite`, runs the warm-up and the timed runs, and logs:

    INFO: The input model file size (MB): 4.87
    INFO: Initialized session in 21.432ms.
    INFO: Running benchmark for at least 11 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
    INFO: count=11 first=91020 curr=55300 min=54900 max=91020 avg=60125.5 std=11800
    INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
    INFO: count=50 first=31500 curr=30900 min=30718 max=36410 avg=31118.1 std=1323 p5=30750 median=31002 p95=33950
    INFO: Inference timings in us: Init: 21432, First inference: 91020, Warmup (avg): 60125.5, Inference (avg): 31118.1
    INFO: Memory footprint delta from the start of the tool (MB): init=4.25 overall=11.75
    INFO: Overall peak memory footprint (MB) via periodic monitoring: 18.0352

Older builds print no `INFO: ` prefix, the Android app prints logcat prefixes, and doubles go
through `std::ostream`, so anything of a million or more comes out in scientific notation
(`avg=1.23457e+06`, `Inference (avg): 1.5e+06`). The parser accepts all of these.

Versions differ in what they print around those lines (docs/results-io.md has the samples read):
`--percentiles` (the default since TF 2.13) adds `p5=... median=... p95=...` to each `count=`
line; parameters are printed only when set (`Use xnnpack: [1]` is absent when XNNPACK is the
default delegate), while the delegate's own lines say what it took:
`Explicitly applied XNNPACK delegate, and the model graph will be completely executed by the
delegate`, `VERBOSE: Replacing 58 out of 58 node(s) with delegate (TfLiteXNNPackDelegate) node,
yielding 1 partitions ...` (older: `Replacing 269 node(s) with delegate (...) node`). LiteRT's
own `benchmark_model` (litert/tools, 2025) keeps the `count=` lines but ends with a
`BENCHMARK RESULTS` block instead of `Inference timings in us`:

    INFO: [./litert/tools/benchmark_litert_model.h:82] Model initialization: 4.48 ms
    INFO: [./litert/tools/benchmark_litert_model.h:84] Warmup (first):       1.03 ms
    INFO: [./litert/tools/benchmark_litert_model.h:114] Init footprint:       8.94 MB
    INFO: [./litert/tools/benchmark_litert_model.h:116] Overall footprint:    11.51 MB

What it cannot give: the tool prints statistics of its runs, never the runs themselves (checked
against benchmark_model.cc: `Stat::OutputToStream` and `BenchmarkLoggingListener`). A result
from it therefore carries one sample per trial, the mean of that trial's timed runs, and the
tool's own statistics in `context["benchmark_model"]`. Its warm-up includes the first
inference, so `--warmup_runs` is the request's warm-up count plus one.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from device_runners.contract import STATUS_OK, DeviceInfo, RunRequest, RunResult

NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"

# A logcat line's prefix ("07-14 13:14:56.521 22838 22838 I tflite  : "), then TFLite's own
# severity prefix ("INFO: ", "WARN: ", ...).
_LOGCAT_PREFIX = re.compile(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+([VDIWEF])\s+[^:]*:\s?")
_SEVERITY_PREFIX = re.compile(r"^(INFO|WARN|WARNING|ERROR|VERBOSE|DEBUG|FATAL): ")
_TIMINGS = re.compile(
    rf"Inference timings in us: Init: (?P<init>{NUMBER}), First inference: (?P<first>{NUMBER}), "
    rf"Warmup \(avg\): (?P<warmup>{NUMBER}), Inference \(avg\): (?P<inference>{NUMBER})",
    re.IGNORECASE,
)
_RUNNING = re.compile(r"^Running benchmark for at least (\d+) iterations")
_STAT_LINE = re.compile(r"^count=\d+")
_STAT_FIELD = re.compile(rf"(\w+)=({NUMBER})", re.IGNORECASE)
_MODEL_SIZE = re.compile(rf"The input model file size \(MB\): ({NUMBER})")
_FOOTPRINT = re.compile(
    rf"(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
    rf"init=({NUMBER}) overall=({NUMBER})"
)
_PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({NUMBER})")
_FAILED = "Benchmarking failed"  # benchmark_main.cc's last words when Run() fails
# What a delegate took, in the tool's words (tflite/tools/delegates): all of the graph, part of
# it (with how many delegate kernels), or none; and the interpreter's node count per delegate.
_APPLIED = re.compile(r"Explicitly applied (?P<delegate>\w+) delegate, and the model graph will be "
                      r"(?P<how>completely|partially) executed by the delegate"
                      r"(?: w/ (?P<kernels>\d+) delegate kernels)?")
_NOT_APPLIED = re.compile(r"Though (?P<delegate>\w+) delegate is explicitly applied, the model graph "
                          r"will not be executed by the delegate")
_REPLACING = re.compile(r"Replacing (?P<taken>\d+)(?: out of (?P<total>\d+))? node\(s\) with "
                        r"delegate \((?P<kernel>\w+)\) node")
# LiteRT's own benchmark_model: its results block, in ms and MB (module docstring).
_LITERT_FIGURES = {
    "init_us": re.compile(rf"Model initialization:\s+({NUMBER}) ms"),
    "first_inference_us": re.compile(rf"Warmup \(first\):\s+({NUMBER}) ms"),
    "warmup_avg_us": re.compile(rf"Warmup \(avg\):\s+({NUMBER}) ms"),
    "inference_avg_us": re.compile(rf"Inference \(avg\):\s+({NUMBER}) ms"),
}
_LITERT_MEMORY = {
    "footprint_init_mb": re.compile(rf"Init footprint:\s+({NUMBER}) MB"),
    "footprint_overall_mb": re.compile(rf"Overall footprint:\s+({NUMBER}) MB"),
}
# The request's backend -> benchmark_model's flag for it. "xnnpack" (the .tflite formats' own) and
# "cpu" are the CPU; gpu and nnapi are the delegates a phone's LiteRT offers.
DELEGATE_FLAGS = {"xnnpack": "--use_xnnpack=true", "cpu": "--use_xnnpack=true",
                  "gpu": "--use_gpu=true", "nnapi": "--use_nnapi=true"}


def _number(text: str) -> float:
    return float(text)  # float() reads "1.23457e+06", "nan" and "inf" as printed


@dataclass(frozen=True)
class RunStats:
    """One `count=... first=... curr=...` line: benchmark_model's summary of a phase, in µs."""

    count: int
    first: float | None = None
    curr: float | None = None
    min: float | None = None
    max: float | None = None
    avg: float | None = None
    std: float | None = None
    percentiles: dict[str, float] = field(default_factory=dict)  # p5, median, p95 when printed

    @classmethod
    def parse(cls, line: str) -> "RunStats":
        values = {name.lower(): _number(value) for name, value in _STAT_FIELD.findall(line)}
        count = int(values.pop("count"))
        if count and "avg" not in values and "curr" in values:
            # "count=5 curr=1000(all same)": every run took the same time.
            same = values["curr"]
            values.update(first=same, min=same, max=same, avg=same, std=0.0)
        known = {name: values.pop(name) for name in ("first", "curr", "min", "max", "avg", "std")
                 if name in values}
        return cls(count=count, percentiles=values, **known)


@dataclass(frozen=True)
class BenchmarkModelReport:
    """Everything benchmark_model printed that a result needs; None where it printed nothing."""

    init_us: float | None = None
    first_inference_us: float | None = None
    warmup_avg_us: float | None = None
    inference_avg_us: float | None = None
    warmup: RunStats | None = None
    timed: RunStats | None = None
    model_size_mb: float | None = None
    footprint_init_mb: float | None = None
    footprint_overall_mb: float | None = None
    peak_memory_mb: float | None = None
    # Per delegate applied: {"delegate": "GPU", "graph": "complete" | "partial" | "none",
    # "kernels": n or None, "nodes": taken or None, "total_nodes": n or None}.
    delegates: tuple[dict, ...] = ()
    # Every `Replacing N out of M node(s) with delegate (KERNEL)` line, in order:
    # {"kernel": "TfLiteXNNPackDelegate", "nodes": N, "total_nodes": M or None}. Recent versions
    # print these for the default XNNPACK delegate and no `Explicitly applied` line.
    replaced: tuple[dict, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return (
            self.inference_avg_us is not None
            and self.timed is not None
            and self.timed.count > 0
            and not self.errors
        )

    @property
    def timed_duration_s(self) -> float | None:
        """Time spent in the timed runs themselves (their count times their mean)."""
        if self.timed is None or self.timed.avg is None:
            return None
        return self.timed.count * self.timed.avg / 1e6

    def failure(self) -> str:
        """Why there is no measurement, in one line."""
        if self.errors:
            return "benchmark_model failed: " + " | ".join(self.errors[-3:])
        return "benchmark_model printed no 'Inference timings' line"

    def to_context(self) -> dict:
        data = asdict(self)
        data["samples"] = (
            "benchmark_model prints statistics, not runs: samples_ms holds the mean of this "
            "trial's timed runs; warmup and timed hold its own statistics in microseconds"
        )
        return data


def strip_prefixes(line: str) -> tuple[str, str]:
    """(severity, message) of one log line: "ERROR", "INFO", ... or "" when unprefixed."""
    severity = ""
    line = line.rstrip("\r")
    if match := _LOGCAT_PREFIX.match(line):
        severity = {"E": "ERROR", "F": "FATAL", "W": "WARN"}.get(match[1], "INFO")
        line = line[match.end():]
    if match := _SEVERITY_PREFIX.match(line):
        severity = match[1]
        line = line[match.end():]
    return severity, line.strip()


def parse_benchmark_output(text: str) -> BenchmarkModelReport:
    """Read benchmark_model's log (stdout and stderr together, in any of its formats)."""
    fields: dict = {}
    phases: list[RunStats] = []
    errors: list[str] = []
    delegates: list[dict] = []
    replaced: list[re.Match] = []
    for raw in text.splitlines():
        severity, line = strip_prefixes(raw)
        if not line:
            continue
        if _STAT_LINE.match(line):
            phases.append(RunStats.parse(line))
        elif match := _TIMINGS.search(line):
            fields.update(
                init_us=_number(match["init"]),
                first_inference_us=_number(match["first"]),
                warmup_avg_us=_number(match["warmup"]),
                inference_avg_us=_number(match["inference"]),
            )
        elif match := _MODEL_SIZE.search(line):
            fields["model_size_mb"] = _number(match[1])
        elif match := _FOOTPRINT.search(line):
            fields["footprint_init_mb"] = _number(match[1])
            fields["footprint_overall_mb"] = _number(match[2])
        elif match := _PEAK.search(line):
            fields["peak_memory_mb"] = _number(match[1])
        elif match := _APPLIED.search(line):
            delegates.append({"delegate": match["delegate"],
                              "graph": "complete" if match["how"] == "completely" else "partial",
                              "kernels": int(match["kernels"]) if match["kernels"] else None})
        elif match := _NOT_APPLIED.search(line):
            delegates.append({"delegate": match["delegate"], "graph": "none", "kernels": 0})
        elif match := _REPLACING.search(line):
            replaced.append(match)
        elif _litert_figure(line, fields):
            pass
        elif severity in ("ERROR", "FATAL") or line.startswith(_FAILED):
            errors.append(line)
    # The warm-up phase is logged first, the timed phase second (BenchmarkModel::Run).
    if phases:
        fields["warmup"] = phases[0] if len(phases) > 1 else None
        fields["timed"] = phases[-1]
    # "Replacing 49 out of 49 node(s) with delegate (TfLiteGpuDelegateV2)" comes before the
    # delegate's "Explicitly applied" line, in the order the delegates were applied.
    for entry, match in zip((d for d in delegates if d["graph"] != "none"), replaced):
        entry.update(nodes=int(match["taken"]),
                     total_nodes=int(match["total"]) if match["total"] else None)
    # LiteRT's results block rounds to 10 µs; the timed phase's own `avg=` is exact.
    if fields.get("litert") and fields.get("timed") is not None and fields["timed"].avg is not None:
        fields["inference_avg_us"] = fields["timed"].avg
    fields.pop("litert", None)
    return BenchmarkModelReport(
        errors=tuple(errors), delegates=tuple(delegates), **fields,
        replaced=tuple({"kernel": m["kernel"], "nodes": int(m["taken"]),
                        "total_nodes": int(m["total"]) if m["total"] else None} for m in replaced))


def _litert_figure(line: str, fields: dict) -> bool:
    """Read one line of LiteRT's results block into `fields` (µs and MB); False for any other."""
    for name, pattern in _LITERT_FIGURES.items():
        if match := pattern.search(line):
            fields[name] = _number(match[1]) * 1000.0
            fields["litert"] = True
            return True
    for name, pattern in _LITERT_MEMORY.items():
        if match := pattern.search(line):
            fields[name] = _number(match[1])
            return True
    return False


def us_to_ms(value: float | None) -> float | None:
    """µs as printed -> ms, by decimal arithmetic: 464.545 µs is 0.464545 ms, not
    0.46454500000000004 (the float the binary division gives)."""
    if value is None:
        return None
    return float(Decimal(repr(float(value))) / 1000)


def tool_summary(report: BenchmarkModelReport) -> dict | None:
    """The timed phase's `count=` line as the tool's own summary, in ms, in the shape of
    harness.store.ToolSummary (a plain dict: device_runners does not import harness). The tool
    prints statistics of its runs, never the runs: these are its figures, not samples."""
    timed = report.timed
    if timed is None or timed.avg is None or not timed.count:
        return None

    percentiles = {k: us_to_ms(v) for k, v in timed.percentiles.items()}
    median = percentiles.pop("median", None)
    ms = us_to_ms
    return {"tool": "benchmark_model", "statistic": "mean", "value_ms": ms(timed.avg),
            "n": timed.count, "mean_ms": ms(timed.avg), "std_ms": ms(timed.std),
            "min_ms": ms(timed.min), "max_ms": ms(timed.max), "median_ms": median,
            "first_ms": ms(timed.first), "curr_ms": ms(timed.curr),
            "percentiles_ms": percentiles, "other_ms": {},
            "note": f"benchmark_model's own summary of its {timed.count} timed runs (it prints "
                    "no runs)"}


def benchmark_model_argv(binary: str, graph: str, request: RunRequest) -> list[str]:
    """The command line measuring `graph` (a path on the phone) as `request` asks.

    `max_iterations` has no counterpart: the tool stops on `--max_secs` only.
    """
    argv = [
        binary,
        f"--graph={graph}",
        f"--num_threads={request.threads}",
        f"--warmup_runs={request.warmup_iterations + 1}",
        "--warmup_min_secs=0",
        f"--num_runs={request.min_iterations}",
        f"--min_secs={request.min_duration_s:g}",
        f"--max_secs={request.max_duration_s:g}",
        "--report_peak_memory_footprint=true",
    ]
    if request.backend in DELEGATE_FLAGS:
        argv.append(DELEGATE_FLAGS[request.backend])
    return argv


def delegate_note(report: BenchmarkModelReport, backend: str) -> str:
    """One line on what a GPU or NNAPI delegate took of the graph, "" for the CPU: a delegate that
    took part of it (or none) measures LiteRT's CPU kernels too, and the cell must say so."""
    if backend not in ("gpu", "nnapi"):
        return ""
    if not report.delegates:
        return f"benchmark_model did not say whether the {backend} delegate took the graph"
    entry = report.delegates[0]
    nodes = (f" ({entry['nodes']} of {entry['total_nodes']} nodes)"
             if entry.get("nodes") is not None else "")
    if entry["graph"] == "complete":
        return ""
    if entry["graph"] == "none":
        return f"the {backend} delegate took none of the graph: this is LiteRT on the CPU"
    return (f"the {backend} delegate took part of the graph{nodes}, "
            f"{entry['kernels'] or 'some'} delegate kernels; the rest ran on the CPU")


def result_from_report(request: RunRequest, device: DeviceInfo, report: BenchmarkModelReport,
                       tool_sha256: str) -> RunResult:
    """The RunResult of one benchmark_model trial: one sample, the mean of its timed runs."""
    return RunResult(
        model=request.model,
        format=request.format,
        status=STATUS_OK,
        device=device,
        backend=request.backend,
        precision=request.precision,
        artifact_sha256=request.artifact_sha256,
        runtime=request.runtime,
        runtime_versions={"benchmark_model": f"sha256:{tool_sha256[:16]}"},
        measured_by="benchmark_model",
        threads=request.threads,
        load_ms=report.init_us / 1000,
        first_inference_ms=report.first_inference_us / 1000,
        samples_ms=(report.inference_avg_us / 1000,),
        peak_rss_inference_kb=(round(report.peak_memory_mb * 1024)
                               if report.peak_memory_mb is not None else None),
    )


def parse_delegates(text: str | None) -> tuple[str, ...]:
    """`--litert-delegates gpu,nnapi`: the LiteRT delegates measured beside the CPU."""
    names = tuple(dict.fromkeys(filter(None, (d.strip().lower() for d in (text or "").split(",")))))
    unknown = [d for d in names if d not in DELEGATE_FLAGS or d in ("xnnpack", "cpu")]
    if unknown:
        raise ValueError(f"--litert-delegates: {', '.join(unknown)} is not a LiteRT delegate "
                         "here; give gpu and/or nnapi (the CPU is always measured).")
    return names
