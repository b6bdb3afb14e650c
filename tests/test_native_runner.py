"""The native runner: harness_runner built against the ExecuTorch wheel, run on a real .pte.

Nothing is skipped: a machine without cmake >= 3.28 or the executorch wheel fails the build
fixture, which is the point of the test.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import subprocess
from pathlib import Path

import pytest

from device_runners.contract import RunRequest, RunResult
from device_runners.native.build import NativeBuildError, build_native_runner, find_native_runner

INPUT_SHAPE = (1, 3, 32, 32)


@pytest.fixture(scope="module")
def runner() -> Path:
    # The default build directory, so a second session rebuilds only what changed.
    binary = build_native_runner("host")
    assert find_native_runner("host") == binary
    return binary


@pytest.fixture(scope="module")
def tiny_pte(tmp_path_factory) -> Path:
    """A two-conv network lowered to XNNPACK: small, but every runner code path is real."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, stride=2),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 4),
    ).eval()
    exported = torch.export.export(model, (torch.randn(INPUT_SHAPE),))
    program = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    path = tmp_path_factory.mktemp("pte") / "tiny.pte"
    path.write_bytes(program.to_executorch().buffer)
    return path


def _request(pte: Path, **overrides) -> RunRequest:
    fields = dict(
        model="tiny_conv",
        format="executorch",
        runtime="executorch",
        artifact_path=str(pte),
        artifact_sha256="0" * 64,
        input_shape=INPUT_SHAPE,
        warmup_iterations=3,
        min_iterations=20,
        min_duration_s=0.0,
        max_duration_s=30.0,
        backend="xnnpack",
    )
    fields.update(overrides)
    return RunRequest(**fields)


def _run(runner: Path, tmp_path: Path, request_text: str):
    """Runs the binary on `request_text`; returns the process and where the result goes."""
    request_path = tmp_path / "request.json"
    result_path = tmp_path / "result.json"
    request_path.write_text(request_text)
    completed = subprocess.run(
        [str(runner), "--request", str(request_path), "--result", str(result_path)],
        capture_output=True, text=True, timeout=120,
    )
    return completed, result_path


def _measure(runner: Path, tmp_path: Path, request: RunRequest) -> RunResult:
    completed, result_path = _run(runner, tmp_path, request.to_json())
    assert completed.returncode == 0, completed.stderr
    return RunResult.from_json(result_path.read_text())  # validates against the schema


def test_result_is_valid_and_complete(runner, tiny_pte, tmp_path):
    result = _measure(runner, tmp_path, _request(tiny_pte))

    assert result.ok, result.error
    assert (result.model, result.format, result.backend) == ("tiny_conv", "executorch", "xnnpack")
    assert result.artifact_sha256 == "0" * 64
    # min_duration_s is 0, so the iteration floor alone ends the timed loop.
    assert len(result.samples_ms) == 20
    assert len(result.warmup_samples_ms) == 3
    assert all(s > 0 for s in result.samples_ms)
    assert result.load_ms > 0 and result.first_inference_ms > 0
    assert result.peak_rss_load_kb > 0 and result.peak_rss_inference_kb > 0
    assert result.peak_rss_load_kb >= result.context["rss_before_load_kb"]
    assert result.context["peak_rss_reset"] == "ok" or result.context["peak_rss_reset"].startswith(
        "failed: "
    )
    assert result.device.device_id == "native"
    assert result.device.platform == "linux"
    assert result.device.cpu_count == os.cpu_count()
    wheel_version = importlib.metadata.version("executorch")
    assert result.runtime_versions["executorch"].startswith(wheel_version)
    (output,) = result.context["outputs"]
    assert output["shape"] == [1, 4] and math.isfinite(output["sum"])
    assert result.context["timed_stop_reason"] == "minimums_met"


def test_duration_floor_keeps_timing_past_the_iteration_floor(runner, tiny_pte, tmp_path):
    result = _measure(runner, tmp_path, _request(tiny_pte, min_iterations=2, min_duration_s=0.3))

    assert result.ok, result.error
    assert result.context["timed_duration_s"] >= 0.3
    assert len(result.samples_ms) > 2  # a ~0.1 ms model needs far more than 2 runs for 0.3 s
    assert sum(result.samples_ms) <= result.context["timed_duration_s"] * 1000


def test_max_iterations_bounds_the_duration_floor(runner, tiny_pte, tmp_path):
    request = _request(tiny_pte, min_iterations=5, max_iterations=5, min_duration_s=20.0)
    result = _measure(runner, tmp_path, request)

    assert len(result.samples_ms) == 5
    assert result.context["timed_stop_reason"] == "max_iterations"
    assert result.context["timed_duration_s"] < 20.0


def test_threads_and_affinity_are_applied(runner, tiny_pte, tmp_path):
    result = _measure(runner, tmp_path, _request(tiny_pte, threads=2, cpu_affinity=(0,)))

    assert result.ok, result.error
    assert result.threads == 2 and result.cpu_affinity == (0,)
    assert result.context["thread_pool_size"] == 2
    assert result.context["cpu_affinity_effective"] == [0]


def test_impossible_affinity_is_a_run_failure(runner, tiny_pte, tmp_path):
    result = _measure(runner, tmp_path, _request(tiny_pte, cpu_affinity=(1000,)))

    assert result.status == "run_failed"
    assert "cpu_affinity [1000] could not be applied" in result.error


def test_missing_pte_is_a_run_failure_with_the_reason(runner, tmp_path):
    missing = tmp_path / "missing.pte"
    result = _measure(runner, tmp_path, _request(missing))

    assert result.status == "run_failed"
    assert result.error == f"artifact not found: {missing}"
    assert result.samples_ms == ()


def test_wrong_input_shape_names_both_shapes(runner, tiny_pte, tmp_path):
    result = _measure(runner, tmp_path, _request(tiny_pte, input_shape=(1, 3, 64, 64)))

    assert result.status == "run_failed"
    assert "[1, 3, 64, 64]" in result.error and "[1, 3, 32, 32]" in result.error


def test_it_dispatches_on_the_runtime_not_the_format_name(runner, tiny_pte, tmp_path):
    other_runtime = _measure(runner, tmp_path, _request(tiny_pte, format="tflite", runtime="litert"))
    assert other_runtime.status == "unsupported"
    assert "'litert'" in other_runtime.error and other_runtime.runtime == "litert"

    # Any ExecuTorch format is a .pte it loads: the format name is only carried through.
    renamed = _measure(runner, tmp_path, _request(tiny_pte, format="executorch-portable"))
    assert renamed.status == "ok", renamed.error
    assert (renamed.format, renamed.runtime) == ("executorch-portable", "executorch")


def test_profile_writes_an_etdump_with_operator_events(runner, tiny_pte, tmp_path):
    from executorch.devtools import Inspector

    result = _measure(runner, tmp_path, _request(tiny_pte, profile=True))

    profiling = result.context["profiling"]
    assert profiling["status"] == "ok", profiling
    inspector = Inspector(etdump_path=profiling["etdump_path"])
    names = {event.name for block in inspector.event_blocks for event in block.events}
    # The XNNPACK delegate reports its own operators, not only one opaque delegate call.
    assert any("Convolution" in name for name in names), names
    assert "DELEGATE_CALL" in names


def test_json_reader_takes_every_construct(runner, tiny_pte, tmp_path):
    # Escapes of every kind, a character outside the BMP (a surrogate pair once escaped), and
    # unknown fields holding nested arrays, objects, booleans, null and exponents.
    name = 'tiny "conv"\\/\n\t\u00e9\u4e2d\U0001f600'
    request = _request(tiny_pte, model=name).to_dict()
    request["extra"] = {"nested": [1, -2.5e-3, 1E+2, True, False, None, {"a": []}], "s": "\u0001"}
    text = json.dumps(request, ensure_ascii=True, indent=2)
    completed, result_path = _run(runner, tmp_path, text)

    assert completed.returncode == 0, completed.stderr
    result = RunResult.from_json(result_path.read_text())
    assert result.model == name


@pytest.mark.parametrize(
    "request_text, message",
    [
        (None, "cannot read"),
        ('{"schema_version": 3, "model": ', "not valid JSON: line 1"),
        ('{"schema_version": 3, "model": "m"} trailing', "not valid JSON"),
        ('{"schema_version": 3, "model": "m"}', "missing required field 'format'"),
        ('{"schema_version": 1, "model": "m"}', "schema_version must be 3"),
        ("NO_RUNTIME", "missing required field 'runtime'"),
        ("THREADS_ZERO", "field 'threads' must be >= 1"),
    ],
)
def test_bad_request_exits_2_with_one_line(runner, tiny_pte, tmp_path, request_text, message):
    if request_text == "THREADS_ZERO":
        request_text = json.dumps({**_request(tiny_pte).to_dict(), "threads": 0})
    if request_text == "NO_RUNTIME":  # a version-1 request under the version-2 number
        request_text = json.dumps({k: v for k, v in _request(tiny_pte).to_dict().items() if k != "runtime"})
    result_path = tmp_path / "result.json"
    args = [str(runner), "--request", str(tmp_path / "request.json"), "--result", str(result_path)]
    if request_text is not None:
        (tmp_path / "request.json").write_text(request_text)
    completed = subprocess.run(args, capture_output=True, text=True, timeout=60)

    assert completed.returncode == 2
    (line,) = completed.stderr.splitlines()
    assert line.startswith("harness_runner: bad request:") and message in line
    assert not result_path.exists()


def test_android_build_names_what_is_missing(tmp_path, monkeypatch):
    for var in ("ANDROID_NDK", "ANDROID_NDK_HOME", "EXECUTORCH_ANDROID_DIR"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(NativeBuildError, match="ANDROID_NDK"):
        build_native_runner("android-arm64", build_dir=tmp_path / "build")

    ndk = tmp_path / "ndk"
    (ndk / "build" / "cmake").mkdir(parents=True)
    (ndk / "build" / "cmake" / "android.toolchain.cmake").write_text("")
    with pytest.raises(NativeBuildError, match="EXECUTORCH_ANDROID_DIR"):
        build_native_runner("android-arm64", build_dir=tmp_path / "build", android_ndk=ndk)
    with pytest.raises(NativeBuildError, match="is not an ExecuTorch install"):
        build_native_runner(
            "android-arm64", build_dir=tmp_path / "build", android_ndk=ndk,
            executorch_android_dir=tmp_path,
        )
