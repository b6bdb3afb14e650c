"""What a reader of a foreign results file returns: `ImportedCell`s, one per model, format and
device the file measured, and the one error every reader raises, naming the file, the line and
what was expected.

A cell carries what the file says and no more. Where a tool kept every iteration (XCTest's
`values:`, a v3 record's `benchmark_values`), those are the samples; where it printed only its
own summary (benchmark_model's mean, AI Hub's inference time, the ExecuTorch app's average),
that one figure is the only sample, as the Android runner already stores benchmark_model's
(device_runners/android/litert_benchmark.py), and `samples_are` says so. The stability checks
then flag such a cell (one sample is not a distribution) rather than print a confident CI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from device_runners.contract import DeviceInfo
from harness.errors import HarnessError

EVERY_ITERATION = "every iteration"


class ImportFileError(HarnessError):
    """A file that does not parse: `FILE, line N: expected ...`. Nothing is stored."""

    def __init__(self, path, line: int | None, expected: str):
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"{where}: expected {expected}; nothing was stored.")


@dataclass(frozen=True)
class ImportedCell:
    """One measurement read from a foreign file (see the module docstring)."""

    model: str  # as the file names it; harness.results_io.importer matches it to the zoo
    format: str  # the harness's name where one fits (`tflite`, `executorch`), else the tool's
    device: DeviceInfo
    samples_ms: tuple[float, ...] = ()
    samples_are: str = EVERY_ITERATION  # or what the one figure is: "benchmark_model's mean ..."
    status: str = "ok"  # or "run_failed", with `reason`
    reason: str = ""
    runtime: str = ""
    backend: str = ""
    precision: str = ""
    load_ms: float | None = None
    first_inference_ms: float | None = None
    peak_load_kb: int | None = None
    peak_inference_kb: int | None = None
    delegation: dict | None = None  # {"backend", "delegated_nodes", "total_nodes"} when known
    versions: dict[str, str] = field(default_factory=dict)
    details: dict = field(default_factory=dict)  # the tool's own figures, kept as it gave them
