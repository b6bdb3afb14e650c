"""XCTest mode (opt-in): trials measured by a team's own XCTest performance tests.

For teams whose iOS app already has `measure(metrics:)` tests of their models. A trial runs

    xcodebuild test-without-building -xctestrun FILE -destination id=UDID
        -only-testing:TEST -resultBundlePath BUNDLE.xcresult

where TEST comes from a template (`--xctest-test 'BenchTests/BenchTests/test_{model}_{format}'`,
with `{model}`, `{format}` and `{runtime}` filled in), then reads every iteration's value of the
metrics from the result bundle, `xcrun xcresulttool get test-results metrics --path BUNDLE
--test-id TEST` (Xcode 16.3 and later: a JSON list of tests, each with `testRuns[].metrics[]`
holding `identifier`, `displayName`, `unitOfMeasurement` and `measurements`). Where that
command does not exist, the values come from the log line XCTest prints per metric,

    <file>:<line>: Test Case '-[Module.Class test]' measured [Clock Monotonic Time, s] average:
    0.004, relative standard deviation: 17.201%, values: [0.005643, 0.004422, ...], ...

and never from `average:`, which XCTest rounds to 3 decimals (12.4 ms and 12.0 ms read alike),
nor from the test name (`iPhone15_4` is the model identifier iPhone15,4, not iOS 15.4).

XCTest reports no load time and no first inference apart from the iterations: the result says so
(`context["not_measured"]`), every iteration is a timed sample (in ms), and the peak physical
memory comes from `Memory Peak Physical` when the test measures it. XCTest's kB is 1000 bytes
(its memory figures move in steps of 16.384 kB: one 16,384-byte page), so a figure in kB is
1000/1024 of the KiB a result's `*_kb` fields hold (`kib_from_kb`).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from device_runners.contract import STATUS_OK, STATUS_RUN_FAILED, DeviceInfo, RunRequest, RunResult
from device_runners.ios.transport import IosDeviceError, TransportError, last_line, run_tool

CLOCK_ID = "com.apple.dt.XCTMetric_Clock.time.monotonic"
CLOCK_NAME = "Clock Monotonic Time"
PEAK_MEMORY_NAME = "Memory Peak Physical"
_MEASURED = re.compile(
    r"Test Case '-\[(?P<test>[^\]]+)\]' measured \[(?P<name>[^,\]]+), (?P<unit>[^\]]+)\] "
    r".*?values: \[(?P<values>[^\]]*)\](?:, performanceMetricID:(?P<id>[^,\s]+))?")
_SECONDS = {"s": 1000.0, "ms": 1.0}


@dataclass(frozen=True)
class Metric:
    name: str  # XCTest's display name: "Clock Monotonic Time"
    unit: str  # "s", "kB", ...
    values: tuple[float, ...]
    identifier: str = ""  # "com.apple.dt.XCTMetric_Clock.time.monotonic", when the source gives it


@dataclass(frozen=True)
class TestRunMetrics:
    """One test on one device and test-plan configuration, as xcresulttool reports it."""

    test: str  # "Class/method()"
    device_name: str
    device_id: str
    configuration: str
    metrics: dict[str, Metric]


def kib_from_kb(kb: float) -> int:
    """XCTest's kB (1000 bytes) as whole KiB, the unit of a result's `*_kb` fields."""
    return round(kb * 1000 / 1024)


def parse_log(text: str) -> dict[str, dict[str, Metric]]:
    """{test ("Module.Class testName"): {metric name: Metric}} from an xcodebuild log."""
    tests: dict[str, dict[str, Metric]] = {}
    for match in _MEASURED.finditer(text):
        values = tuple(float(v) for v in match["values"].split(",") if v.strip())
        tests.setdefault(match["test"], {})[match["name"]] = Metric(
            match["name"], match["unit"].strip(), values, match["id"] or "")
    return tests


def parse_metric_runs(data: list) -> list[TestRunMetrics]:
    """Every test run of `xcresulttool get test-results metrics` with its device, configuration
    and metrics (by display name, identifier kept); a run without measurements is left out."""
    runs = []
    for test in data or []:
        for run in test.get("testRuns") or []:
            metrics = {}
            for metric in run.get("metrics") or []:
                values = tuple(float(v) for v in metric.get("measurements") or ())
                if values:
                    name = metric.get("displayName") or metric.get("identifier") or ""
                    metrics[name] = Metric(name, metric.get("unitOfMeasurement") or "", values,
                                           metric.get("identifier") or "")
            if metrics:
                device = run.get("device") or {}
                config = run.get("testPlanConfiguration") or {}
                runs.append(TestRunMetrics(test.get("testIdentifier") or "",
                                           device.get("deviceName") or "",
                                           device.get("deviceId") or "",
                                           config.get("configurationName") or "", metrics))
    return runs


def parse_metrics(data: list) -> dict[str, dict[str, Metric]]:
    """{test identifier: {metric name: Metric}} from `xcresulttool get test-results metrics`;
    the first test run with measurements (one per device or test plan configuration)."""
    tests: dict[str, dict[str, Metric]] = {}
    for run in parse_metric_runs(data):
        tests.setdefault(run.test, run.metrics)
    return tests


def find_test(tests: dict[str, dict[str, Metric]], wanted: str) -> dict[str, Metric] | None:
    """The metrics of `wanted` (Target/Class/method) whatever form the source names it in:
    "Target/Class/method()" (xcresulttool) or "Module.Class method" (the log)."""
    key = _class_and_method(wanted)
    return next((m for name, m in tests.items() if _class_and_method(name) == key), None)


def _class_and_method(name: str) -> tuple[str, str]:
    name = name.replace("()", "").strip()
    if " " in name:  # the log's "Module.Class testName"
        cls, method = name.split(" ", 1)
        return cls.split(".")[-1].lower(), method.strip().lower()
    parts = [p for p in name.split("/") if p]
    return (parts[-2].lower() if len(parts) > 1 else ""), parts[-1].lower()


class XCTestMode:
    """Runs one trial as one XCTest performance test (see the module docstring)."""

    def __init__(self, xctestrun: str | Path, test_template: str, udid: str, timeout_s: float = 1800.0):
        self.xctestrun = Path(xctestrun)
        self.template = test_template
        self.udid = udid
        self.timeout_s = timeout_s

    def test_id(self, request: RunRequest) -> str:
        return self.template.format(model=request.model, format=request.format.replace("-", "_"),
                                    runtime=request.runtime)

    def run(self, request: RunRequest, device: DeviceInfo) -> RunResult:
        test = self.test_id(request)
        with tempfile.TemporaryDirectory(prefix="harness-xctest-") as tmp:
            bundle = Path(tmp) / "trial.xcresult"
            proc = run_tool(["xcodebuild", "test-without-building", "-xctestrun", str(self.xctestrun),
                             "-destination", f"id={self.udid}", f"-only-testing:{test}",
                             "-resultBundlePath", str(bundle)], min(self.timeout_s, request.timeout_s + 300))
            if proc.returncode != 0 and "** TEST SUCCEEDED **" not in proc.stdout:
                raise IosDeviceError(f"xcodebuild test-without-building of {test} failed: "
                                     f"{last_line(proc.stdout) or last_line(proc.stderr)}")
            metrics, source = self._metrics(bundle, test, proc.stdout)
        clock = metrics.get(CLOCK_NAME) if metrics else None
        if clock is None or not clock.values:
            return RunResult.failed(request, device, STATUS_RUN_FAILED,
                                    f"the XCTest {test} measured no {CLOCK_NAME} (is it a measure "
                                    "block with XCTClockMetric?)")
        scale = _SECONDS.get(clock.unit, 1000.0)
        samples = tuple(v * scale for v in clock.values)
        memory = metrics.get(PEAK_MEMORY_NAME)
        return RunResult(
            model=request.model, format=request.format, runtime=request.runtime, status=STATUS_OK,
            device=device, backend=request.backend, precision=request.precision,
            artifact_sha256=request.artifact_sha256, threads=request.threads,
            load_ms=None, first_inference_ms=None, samples_ms=samples,
            peak_rss_inference_kb=kib_from_kb(max(memory.values)) if memory and memory.unit == "kB" else None,
            measured_by="XCTest",
            context={"xctest": {"test": test, "source": source,
                                                    "metrics": sorted(metrics)},
                     "not_measured": {"load_ms": "XCTest reports no load time",
                                      "first_inference_ms": "XCTest reports every iteration alike"}},
        )

    def _metrics(self, bundle: Path, test: str, log: str) -> tuple[dict[str, Metric] | None, str]:
        """From the result bundle (xcresulttool, Xcode 16.3+), else from the log."""
        try:
            proc = run_tool(["xcrun", "xcresulttool", "get", "test-results", "metrics", "--path",
                             str(bundle), "--test-id", test, "--compact"], 120.0)
            if proc.returncode == 0:
                found = find_test(parse_metrics(json.loads(proc.stdout or "[]")), test)
                if found:
                    return found, "xcresulttool"
        except (TransportError, ValueError, subprocess.SubprocessError):
            pass
        return find_test(parse_log(log), test), "xcodebuild log (values, not the rounded average)"
