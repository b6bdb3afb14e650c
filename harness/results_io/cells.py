"""What a reader of a foreign results file returns: `ImportedCell`s, one per model, format and
device the file measured, and the one error every reader raises, naming the file, the line and
what was expected.

A cell carries what the file says and no more:

- Where a tool kept every iteration (XCTest's `values:`, xcresulttool's `measurements`, a v3
  record's several `benchmark_values`), those are the samples.
- Where it printed only its own summary (benchmark_model's count/mean/min/max/std, AI Hub's one
  inference time, the ExecuTorch app's average), the cell has no samples and carries that
  summary as the tool's (`summary`, harness.store.ToolSummary's fields): a mean is never filed
  as a median, nor one figure as a distribution of one.
- Where it measured memory and no latency (XCTest's memory tests, a `peak_*_mem_usage(mb)`
  record), the cell is a measured memory figure with no latency.
- What the file does not say (threads, the precision, the device) stays unknown: `threads` is
  None, `precision` "unknown", and a file naming no device gets a device of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from device_runners.contract import DeviceInfo
from harness.errors import HarnessError

EVERY_ITERATION = "every iteration"
UNKNOWN = "unknown"
# The kind of the device an import makes up for a file that names none (importer.file_device):
# readers replace it with the device the file itself names, where it names one.
UNNAMED_KIND = "unnamed"


@dataclass(frozen=True)
class ImportLimits:
    """What one import may store (`results import --max-cells`, `--max-samples`): far more than
    any of these tools writes for one run, far less than a hostile file could make a database
    hold (a YAML alias bomb once wrote 287 MB from 716 bytes)."""

    cells: int = 10_000
    samples: int = 10_000_000


class ImportFileError(HarnessError):
    """A file that cannot be imported: `FILE, line N: expected ...` or `FILE, at KEY.PATH:
    expected ...`. Nothing is stored."""

    def __init__(self, path, line: int | None, expected: str, at: str | None = None):
        where = f"{path}, line {line}" if line else str(path)
        if at:
            where += f", at {at}"
        super().__init__(f"{where}: expected {expected}; nothing was stored.")


@dataclass(frozen=True)
class ImportedCell:
    """One measurement read from a foreign file (see the module docstring)."""

    model: str  # as the file names it; harness.results_io.importer matches it to the zoo
    format: str  # the harness's name where one fits (`tflite`, `executorch`), else the tool's
    device: DeviceInfo
    samples_ms: tuple[float, ...] = ()
    samples_are: str = EVERY_ITERATION  # what the samples are, or why there are none
    summary: dict | None = None  # the tool's own figures (harness.store.ToolSummary fields)
    status: str = "ok"  # or "run_failed", with `reason`
    reason: str = ""
    runtime: str = ""
    backend: str = ""
    precision: str = UNKNOWN
    threads: int | None = None  # as the file says; None when it does not
    load_ms: float | None = None
    first_inference_ms: float | None = None
    peak_load_kb: int | None = None
    peak_inference_kb: int | None = None
    delegation: dict | None = None  # {"backend", "delegated_nodes", "total_nodes"} when known
    versions: dict[str, str] = field(default_factory=dict)
    details: dict = field(default_factory=dict)  # the tool's own figures, kept as it gave them

    @property
    def measured(self) -> bool:
        """Latency (samples or the tool's summary) or memory: something the file measured."""
        return self.status == "ok" and bool(
            self.samples_ms or self.summary
            or self.peak_inference_kb is not None or self.peak_load_kb is not None)


def precision_of(config: str, dtype: str = "") -> str:
    """A precision from what a tool names it or its configuration (`xnnpack_q8`, `coreml_fp16`):
    int8 for q8/int8 configurations, fp16/fp32 where named, AI Hub's `float` as it says;
    "unknown" otherwise (`8da4w` too), never a guessed fp32."""
    for text in (dtype, config):
        low = (text or "").lower()
        if not low:
            continue
        if any(k in low for k in ("q8", "int8", "qs8", "qu8", "w8a8")):
            return "int8"
        for name in ("fp16", "fp32", "bf16", "int4", "w8a16", "w4a16", "float16", "float32"):
            if name in low:
                return {"float16": "fp16", "float32": "fp32"}.get(name, name)
        if low == "float":  # AI Hub's word for unquantized: fp32 or fp16 is its compiler's choice
            return "float"
    return UNKNOWN


def scaled(value: float, factor: float) -> float:
    """`value` as printed, times a unit's factor, by decimal arithmetic: XCTest's 1.905808042 s
    is 1905.808042 ms, not 1905.8080420000001 (the float product): a figure stays the figure
    the tool printed."""
    return float(Decimal(repr(float(value))) * Decimal(repr(float(factor))))

