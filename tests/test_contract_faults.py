"""Bad numbers never enter as ok: strict JSON both ways, the checks the schema cannot express
(`result_problems`), results for another cell than asked (`answer_mismatch`), and what the
Android runner makes of a runner that prints such results (a stand-in native runner and a
stand-in benchmark_model on the simulated phone, tests/support/adb_sim).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import pytest

from tests.support.adb_sim import AdbSimServer, SimulatedPhone, sandbox_unavailable_reason
from device_runners.android.discovery import open_runner
from device_runners.runner import RunnerSettings
from device_runners.contract import (
    ContractError,
    DeviceInfo,
    EnergyInfo,
    RunRequest,
    RunResult,
    answer_mismatch,
    result_problems,
)

HOST = DeviceInfo("h", "linux")


def _request(**over) -> RunRequest:
    base = dict(model="m", format="executorch", runtime="executorch", artifact_path="/tmp/m.pte",
                artifact_sha256="ab", input_shape=(1, 3, 8, 8))
    return RunRequest(**{**base, **over})


def _ok(**over) -> RunResult:
    base = dict(model="m", format="executorch", runtime="executorch", status="ok", device=HOST,
                load_ms=3.0, first_inference_ms=2.0, warmup_samples_ms=(2.5, 2.0),
                samples_ms=(1.0, 1.5, 0.9))
    return RunResult(**{**base, **over})


def _refused(data: dict) -> str:
    with pytest.raises(ContractError) as caught:
        RunResult.from_dict(data)
    return str(caught.value)


# ----------------------------------------------------------------------------------------------
# Strict JSON


@pytest.mark.parametrize(("token", "shown"), [
    ("NaN", "NaN"), ("Infinity", "infinite"), ("-Infinity", "minus infinity"),
    ("1e999", "infinite"),
])
def test_nan_and_infinity_are_refused_on_reading_with_the_place_named(token, shown):
    text = json.dumps(_ok().to_dict()).replace('"samples_ms": [1.0, 1.5, 0.9]',
                                               f'"samples_ms": [1.0, {token}, 0.9]')
    assert token in text
    with pytest.raises(ContractError) as caught:
        RunResult.from_json(text)
    assert caught.value.detail == f"timed sample 2 is {shown}, which JSON cannot hold"
    assert str(caught.value) == f"RunResult is invalid: {caught.value.detail}"

    # Anywhere, not only in the samples: a request's numbers, a result's context.
    plain = _request().to_json()
    given = f'"min_duration_s": {_request().min_duration_s!r}'
    assert given in plain
    request = plain.replace(given, f'"min_duration_s": {token}')
    with pytest.raises(ContractError, match=f"min_duration_s is {shown}"):
        RunRequest.from_json(request)
    context = json.dumps(_ok().to_dict()).replace('"context": {}', f'"context": {{"x": [{token}]}}')
    with pytest.raises(ContractError, match=f"context/x/0 is {shown}"):
        RunResult.from_json(context)


def test_nan_is_refused_on_writing_with_the_place_named():
    with pytest.raises(ContractError, match="warm-up sample 2 is NaN, which JSON cannot hold"):
        _ok(warmup_samples_ms=(1.0, math.nan)).to_json()
    with pytest.raises(ContractError, match="RunResult cannot be written as JSON: "
                                            "context/cpu/freq is infinite"):
        _ok(context={"cpu": {"freq": math.inf}}).to_json()
    with pytest.raises(ContractError,
                       match="RunRequest cannot be written as JSON: timeout_s is NaN"):
        _request(timeout_s=math.nan).to_json()
    # Sound results still round-trip exactly.
    assert RunResult.from_json(_ok().to_json()) == _ok()


def test_a_nan_a_runner_wrote_as_null_is_named():
    """The C++ runner's JSON writer turns NaN and infinity into null."""
    data = _ok().to_dict()
    data["samples_ms"][1] = None
    assert _refused(data) == ("RunResult is invalid at timed sample 2: null is not a number (a "
                              "runner that writes NaN or infinity as null?)")


def test_text_that_is_not_json_is_a_contract_error():
    with pytest.raises(ContractError, match="RunResult is not JSON"):
        RunResult.from_json('{"model": ')


# ----------------------------------------------------------------------------------------------
# What the schema cannot say


def test_times_that_cannot_be_measurements_are_refused_with_the_problem_named():
    assert result_problems(_ok()) == []
    assert result_problems(_ok(load_ms=-1.5)) == ["load_ms is -1.5 ms, below 0"]
    assert result_problems(_ok(load_ms=math.nan, first_inference_ms=None)) == [
        "load_ms is NaN", "first_inference_ms is missing"]
    assert result_problems(_ok(first_inference_ms=-math.inf)) == [
        "first_inference_ms is minus infinity"]
    # The schema refuses a negative time too, naming the field.
    assert "load_ms" in _refused(_ok(load_ms=-1.5).to_dict())
    # A NaN passes a JSON schema's "minimum" (NaN < 0 is false); result_problems does not.
    assert _refused(_ok(first_inference_ms=math.nan).to_dict()) == (
        "RunResult is invalid: first_inference_ms is NaN")


def test_nan_negative_and_all_zero_samples_are_refused_with_the_sample_named():
    assert result_problems(_ok(samples_ms=(1.0, 1.1, math.nan))) == ["timed sample 3 is NaN"]
    assert result_problems(_ok(samples_ms=(math.nan, -2.0, math.inf, 1.0))) == [
        "timed sample 1 is NaN (and 2 more of 4 are NaN, infinite or negative)"]
    assert result_problems(_ok(warmup_samples_ms=(1.0, -0.25))) == [
        "warm-up sample 2 is -0.25 ms, below 0"]
    assert result_problems(_ok(samples_ms=(0.0,) * 20)) == [
        "all 20 timed samples are 0 ms: the runner's clock did not advance"]
    assert result_problems(_ok(samples_ms=(0.0,))) == [
        "the only timed sample is 0 ms: the runner's clock did not advance"]
    assert result_problems(_ok(samples_ms=(0.0, 0.0, 0.001))) == []  # some did advance
    error = _refused(_ok(samples_ms=(0.0,) * 5, load_ms=math.nan).to_dict())
    assert error == ("RunResult is invalid: load_ms is NaN; all 5 timed samples are 0 ms: the "
                     "runner's clock did not advance")


def test_energy_figures_are_finite_in_any_result():
    failed = RunResult.failed(_request(), HOST, "run_failed", "why")
    assert result_problems(failed) == []  # no times needed where nothing was measured
    hot = EnergyInfo(source="rapl", avg_power_w=math.inf, joules_per_inference=math.nan)
    assert result_problems(dataclasses.replace(failed, energy=hot)) == [
        "energy joules_per_inference is NaN", "energy avg_power_w is infinite"]
    # Negative energy per inference is a finding (idle power above active), not a fault.
    assert result_problems(_ok(energy=EnergyInfo(source="rapl", joules_per_inference=-0.001))) == []


def test_results_of_contract_version_1_still_read():
    data = _ok(load_ms=0.0, first_inference_ms=0.0).to_dict()
    data["schema_version"] = 1
    del data["runtime"]
    old = RunResult.from_dict(data)
    assert (old.runtime, old.load_ms, old.samples_ms) == ("", 0.0, (1.0, 1.5, 0.9))
    assert answer_mismatch(old, _request()) is None  # a version-1 result names no runtime


def test_a_result_for_another_cell_is_named():
    request = _request()
    assert answer_mismatch(_ok(), request) is None
    assert answer_mismatch(_ok(model="resnet18"), request) == (
        "the result is for another cell than the request: model 'resnet18' where 'm' was asked")
    assert answer_mismatch(_ok(format="tflite", runtime="litert"), request) == (
        "the result is for another cell than the request: format 'tflite' where 'executorch' "
        "was asked, runtime 'litert' where 'executorch' was asked")
    # A failed result names the cell it failed for: the same check applies.
    assert answer_mismatch(RunResult.failed(_request(model="x"), HOST, "run_failed", "?"),
                           request) is not None


# ----------------------------------------------------------------------------------------------
# On a (simulated) phone: stand-in runners that print such results

SERIAL = "SIMPIXEL7"
on_a_phone = pytest.mark.needs(sandbox_unavailable_reason())


def stand_in_runner(path, result_text: str):
    """A native runner that writes `result_text` as its result, and one line to its log."""
    path.write_text(
        "#!/system/bin/sh\n"
        'while [ $# -gt 0 ]; do [ "$1" = --result ] && out=$2; shift; done\n'
        'echo "stand-in runner: this result is canned" >&2\n'
        f"cat > \"$out\" <<'HARNESS_CANNED_EOF'\n{result_text}\nHARNESS_CANNED_EOF\n"
    )
    path.chmod(0o755)
    return path


@pytest.fixture
def phone_runner(tmp_path, monkeypatch):
    """Opens an AndroidRunner on a simulated phone with the given runner options."""
    opened = []
    with SimulatedPhone(SERIAL, root=tmp_path / "phone") as phone, AdbSimServer([phone]) as server:
        phone.sysfs.set_battery(current_ua=-420_000, voltage_uv=3_910_000, capacity=76)
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)

        def open_with(**options):
            runner = open_runner(SERIAL, RunnerSettings(), options)
            opened.append(runner)
            return runner

        yield open_with
        for runner in opened:
            runner.close()
        assert server.errors == []


def _phone_request(tmp_path, **over) -> RunRequest:
    artifact = tmp_path / "tiny.pte"
    artifact.write_bytes(b"not read by the stand-in runner")
    sha256 = hashlib.sha256(artifact.read_bytes()).hexdigest()
    base = dict(model="tiny", format="executorch", runtime="executorch",
                artifact_path=str(artifact), artifact_sha256=sha256, input_shape=(1, 3, 8, 8),
                min_iterations=3, min_duration_s=0.0, timeout_s=60.0)
    return RunRequest(**{**base, **over})


def _canned(request: RunRequest, **over) -> str:
    """A result as a sloppy runner would print it: Python's json, NaN tokens and all."""
    cell = dict(model=request.model, format=request.format, runtime=request.runtime)
    result = _ok(**{**cell, "device": DeviceInfo("phone", "android"), **over})
    return json.dumps(result.to_dict())


@on_a_phone
@pytest.mark.parametrize(("canned", "reason"), [
    (dict(samples_ms=(1.0, 1.2, math.nan, 1.1)),
     "the native runner's result is invalid: timed sample 3 is NaN, which JSON cannot hold"),
    (dict(load_ms=-4.0),
     "the native runner's result is invalid: load_ms: -4.0 is less than the minimum of 0"),
    (dict(samples_ms=(0.0, 0.0, 0.0)),
     "the native runner's result is invalid: all 3 timed samples are 0 ms: the runner's clock "
     "did not advance"),
])
def test_a_native_runner_printing_no_measurement_gives_a_failed_trial_with_its_log(
    phone_runner, tmp_path, canned, reason
):
    request = _phone_request(tmp_path)
    runner = phone_runner(native_runner=stand_in_runner(tmp_path / "harness_runner",
                                                        _canned(request, **canned)))
    result = runner.run(request)
    assert result.status == "run_failed"
    assert result.error == reason
    assert "stand-in runner: this result is canned" in (result.log or "")
    assert result.context["android"]["serial"] == SERIAL  # the session context is still there


@on_a_phone
def test_a_result_for_another_model_comes_back_as_it_was_and_answer_mismatch_names_it(
    phone_runner, tmp_path
):
    request = _phone_request(tmp_path)
    text = _canned(request, model="mobilenet_v2")
    runner = phone_runner(native_runner=stand_in_runner(tmp_path / "harness_runner", text))
    result = runner.run(request)
    # The runner measures and reports; turning this into a failed cell is the harness's call.
    assert result.status == "ok" and result.model == "mobilenet_v2"
    assert result.samples_ms == (1.0, 1.5, 0.9)
    assert answer_mismatch(result, request) == (
        "the result is for another cell than the request: model 'mobilenet_v2' where 'tiny' "
        "was asked")


NAN_BENCHMARK_MODEL = """\
#!/system/bin/sh
echo "INFO: Initialized session in 2.21ms."
echo "INFO: count=3 first=15120 curr=9016 min=9016 max=15120 avg=11050.5 std=2880"
echo "INFO: count=40 first=nan curr=nan min=nan max=nan avg=nan std=nan"
echo "INFO: Inference timings in us: Init: 2210, First inference: 15120, Warmup (avg): 11050.5, Inference (avg): nan"
"""


@on_a_phone
def test_benchmark_model_printing_nan_gives_a_failed_trial_with_its_log(phone_runner, tmp_path):
    tool = tmp_path / "benchmark_model"
    tool.write_text(NAN_BENCHMARK_MODEL)
    tool.chmod(0o755)
    runner = phone_runner(benchmark_model=tool)
    result = runner.run(_phone_request(tmp_path, format="tflite", runtime="litert"))
    assert result.status == "run_failed"
    assert result.error == "benchmark_model's figures are invalid: timed sample 1 is NaN"
    assert "Inference (avg): nan" in (result.log or "")
