"""benchmark_model's output, in the formats it really prints, read by litert_benchmark.py.

The recordings below are benchmark_model logs as published with the tool's users' reports: the
`INFO:`-prefixed output of current builds (a 1.2 s model, so the averages come out in scientific
notation), the unprefixed output of older builds, a logcat capture from the Android app, and a
failed run.
"""

import math

import pytest

from device_runners.contract import RunRequest
from device_runners.android.litert_benchmark import (
    RunStats,
    benchmark_model_argv,
    parse_benchmark_output,
    strip_prefixes,
)

# A current build on a slow CPU: one warm-up run ("count=1 curr=..." with percentiles) and
# averages of a million microseconds or more in scientific notation.
SCIENTIFIC = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Graph: [/usr/share/oob-demo-assets/models/ssd_mobilenet_v2_coco.tflite]
INFO: Signature to run: []
INFO: Use xnnpack: [0]
INFO: Loaded model /usr/share/oob-demo-assets/models/ssd_mobilenet_v2_coco.tflite
INFO: The input model file size (MB): 67.3128
INFO: Initialized session in 5.579ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=1 curr=1357602 p5=1357602 median=1357602 p95=1357602

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=50 first=1249964 curr=1240143 min=1238588 max=1252566 avg=1.24027e+06 std=2565 p5=1238753 median=1239807 p95=1247415

INFO: Inference timings in us: Init: 5579, First inference: 1357602, Warmup (avg): 1.3576e+06, Inference (avg): 1.24027e+06
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=6.36328 overall=109.832
"""

# An older build: no severity prefixes, an empty line after each statistics line.
UNPREFIXED = """\
Loaded model quicknet.tflite
The input model file size (MB): 3.34914
Initialized session in 3.501ms.
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=12 first=156677 curr=33205 min=32578 max=156677 avg=43268.1 std=34197

Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=33228 curr=33130 min=32687 max=33239 avg=33071.8 std=129

Inference timings in us: Init: 3501, First inference: 156677, Warmup (avg): 43268.1, Inference (avg): 33071.8
"""

# The Android benchmark app, read back from logcat, with the periodic peak-memory monitor.
LOGCAT = """\
07-14 13:14:52.190 22838 22838 I tflite  : The input model file size (MB): 3.06409
07-14 13:14:52.190 22838 22838 I tflite  : Initialized session in 92.318ms.
07-14 13:14:52.859 22838 22838 I tflite  : count=3 first=235158 curr=200386 min=199462 max=235158 avg=211669 std=16613 p5=199462 median=200386 p95=235158
07-14 13:14:56.520 22838 22838 I tflite  : count=25 first=187533 curr=140990 min=140071 max=195121 avg=145528 std=13583 p5=140545 median=141253 p95=187533
07-14 13:14:56.521 22838 22838 I tflite  : Inference timings in us: Init: 92318, First inference: 235158, Warmup (avg): 211669, Inference (avg): 145528
07-14 13:14:56.521 22838 22838 I tflite  : Memory footprint delta from the start of the tool (MB): init=54.2852 overall=73.4102
07-14 13:14:56.522 22838 22838 I tflite  : Overall peak memory footprint (MB) via periodic monitoring: 93.2383
"""

# A delegate that cannot take the graph, with the failure benchmark_main prints last.
FAILED = """\
INFO: STARTING!
INFO: Created TensorFlow Lite delegate for GPU.
ERROR: Following operations are not supported by GPU delegate:
ERROR: Failed to apply GPU delegate.
INFO: Initialized session in 130.2ms.
ERROR: Benchmarking failed.
"""


def test_scientific_notation_and_info_prefixes():
    report = parse_benchmark_output(SCIENTIFIC)
    assert report.ok, report.failure()
    assert report.init_us == 5579
    assert report.first_inference_us == 1357602
    assert report.warmup_avg_us == pytest.approx(1.3576e6)
    assert report.inference_avg_us == pytest.approx(1.24027e6)
    assert report.model_size_mb == pytest.approx(67.3128)
    assert (report.footprint_init_mb, report.footprint_overall_mb) == (6.36328, 109.832)
    # One warm-up run prints only "count=1 curr=..." (all runs the same).
    assert report.warmup == RunStats(count=1, first=1357602, curr=1357602, min=1357602,
                                     max=1357602, avg=1357602, std=0.0,
                                     percentiles={"p5": 1357602, "median": 1357602, "p95": 1357602})
    assert report.timed.count == 50
    assert report.timed.avg == pytest.approx(1.24027e6)
    assert report.timed.percentiles == {"p5": 1238753, "median": 1239807, "p95": 1247415}
    assert report.timed_duration_s == pytest.approx(50 * 1.24027)
    assert report.peak_memory_mb is None  # printed only with --report_peak_memory_footprint


def test_unprefixed_output_of_older_builds():
    report = parse_benchmark_output(UNPREFIXED)
    assert report.ok
    assert (report.warmup.count, report.timed.count) == (12, 50)
    assert report.warmup.max == 156677 and report.timed.std == 129
    assert report.inference_avg_us == pytest.approx(33071.8)


def test_logcat_prefixes_and_peak_memory():
    report = parse_benchmark_output(LOGCAT)
    assert report.ok
    assert report.init_us == 92318 and report.timed.count == 25
    assert report.peak_memory_mb == pytest.approx(93.2383)
    assert report.errors == ()
    assert strip_prefixes(LOGCAT.splitlines()[0]) == ("INFO", "The input model file size (MB): 3.06409")


def test_a_failed_run_says_why_in_one_line():
    report = parse_benchmark_output(FAILED)
    assert not report.ok
    assert report.inference_avg_us is None
    why = report.failure()
    assert "\n" not in why
    assert why.startswith("benchmark_model failed: ")
    assert "Failed to apply GPU delegate" in why and "Benchmarking failed" in why


def test_a_warning_is_not_a_failure():
    report = parse_benchmark_output("WARN: Failed to get the input model file size.\n" + SCIENTIFIC)
    assert report.ok and report.errors == ()


def test_non_finite_values_parse_rather_than_crash():
    stats = RunStats.parse("count=2 first=10 curr=12 min=10 max=12 avg=nan std=inf")
    assert stats.count == 2 and math.isnan(stats.avg) and math.isinf(stats.std)


def test_command_line_follows_the_request():
    request = RunRequest(model="m", format="tflite", runtime="litert", artifact_path="/host/m.tflite",
                         artifact_sha256="", input_shape=(1, 3, 8, 8), threads=2,
                         warmup_iterations=10, min_iterations=40, min_duration_s=1.5,
                         max_duration_s=30.0, backend="xnnpack")
    argv = benchmark_model_argv("/data/local/tmp/harness/bin/benchmark_model",
                                "/data/local/tmp/harness/artifacts/m.tflite", request)
    assert argv[0] == "/data/local/tmp/harness/bin/benchmark_model"
    assert set(argv[1:]) == {
        "--graph=/data/local/tmp/harness/artifacts/m.tflite",
        "--num_threads=2",
        "--warmup_runs=11",  # its warm-up includes the first inference
        "--warmup_min_secs=0",
        "--num_runs=40",
        "--min_secs=1.5",
        "--max_secs=30",
        "--report_peak_memory_footprint=true",
        "--use_xnnpack=true",
    }
