import json

import pytest

from device_runners.contract import (
    ContractError,
    DeviceInfo,
    EnergyInfo,
    RunRequest,
    RunResult,
)


def _request(**over):
    base = dict(model="m", format="executorch", runtime="executorch", artifact_path="/tmp/m.pte", artifact_sha256="ab",
                input_shape=(1, 3, 8, 8))
    base.update(over)
    return RunRequest(**base)


def test_request_round_trips_through_json_and_schema():
    req = _request(cpu_affinity=(0, 1), threads=2)
    again = RunRequest.from_json(req.to_json())
    assert again == req
    assert again.input_shape == (1, 3, 8, 8)


def test_request_schema_rejects_bad_values_with_the_field_named():
    data = _request().to_dict()
    data["threads"] = 0
    with pytest.raises(ContractError, match="threads"):
        RunRequest.from_dict(data)
    data = _request().to_dict()
    del data["artifact_path"]
    with pytest.raises(ContractError, match="artifact_path"):
        RunRequest.from_dict(data)


def test_request_constructor_refuses_inconsistent_bounds():
    with pytest.raises(ContractError):
        _request(min_iterations=10, max_iterations=5)


def test_result_round_trip_keeps_every_sample():
    device = DeviceInfo(device_id="host", platform="linux")
    result = RunResult(model="m", format="tflite", status="ok", device=device, load_ms=3.0,
                       first_inference_ms=2.0, samples_ms=(1.0, 1.5, 0.9),
                       energy=EnergyInfo(source="rapl", joules_per_inference=0.01, warnings=("w",)))
    again = RunResult.from_json(result.to_json())
    assert again.samples_ms == (1.0, 1.5, 0.9)
    assert again.energy.source == "rapl" and again.energy.warnings == ("w",)
    assert again.device == device


def test_ok_result_without_samples_is_invalid():
    data = RunResult(model="m", format="f", status="ok", device=DeviceInfo("h", "linux"),
                     load_ms=1.0, first_inference_ms=1.0).to_dict()
    with pytest.raises(ContractError, match="samples_ms"):
        RunResult.from_dict(data)


def test_unknown_status_and_energy_source_are_refused():
    with pytest.raises(ContractError):
        RunResult(model="m", format="f", status="great", device=DeviceInfo("h", "linux"))
    data = RunResult(model="m", format="f", status="run_failed", device=DeviceInfo("h", "linux")).to_dict()
    data["energy"]["source"] = "guess"
    with pytest.raises(ContractError, match="energy"):
        RunResult.from_dict(data)


def test_a_request_names_its_runtime():
    with pytest.raises(ContractError, match="runtime"):
        _request(runtime="")
    data = _request().to_dict()
    del data["runtime"]
    with pytest.raises(ContractError, match="runtime"):
        RunRequest.from_dict(data)


def test_results_of_contract_version_1_still_read():
    """A result stored before the runtime field existed reads, with the runtime left empty."""
    data = RunResult(model="m", format="executorch", status="ok", device=DeviceInfo("h", "linux"),
                     load_ms=1.0, first_inference_ms=1.0, samples_ms=(1.0,)).to_dict()
    data["schema_version"] = 1
    del data["runtime"]
    old = RunResult.from_dict(data)
    assert old.runtime == "" and old.samples_ms == (1.0,)
    failed = RunResult.failed(_request(), DeviceInfo("h", "linux"), "run_failed", "why")
    assert failed.runtime == "executorch" and failed.schema_version == 3


def test_schema_file_is_valid_json_schema():
    import jsonschema

    from device_runners.contract import SCHEMA_PATH

    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))


def test_every_context_key_the_harness_reads_is_declared_in_the_schema():
    """The result's context is a declared part of the contract: a key the harness reads by name
    (`context.get("x")`, `context["x"]`, `ctx.get("x")`) is in $defs/ResultContext with a type."""
    import re

    from device_runners.contract import schema
    from tests.support.paths import ROOT

    declared = set(schema()["$defs"]["ResultContext"]["properties"])
    pattern = re.compile(r"\b(?:context|ctx)(?:\.get\(|\[)\"([a-z_]+)\"")
    read = {}
    for path in (ROOT / "harness").rglob("*.py"):
        for key in pattern.findall(path.read_text()):
            read.setdefault(key, []).append(str(path.relative_to(ROOT)))
    assert read, "the scan found nothing: the pattern is wrong"
    undeclared = {k: v for k, v in read.items() if k not in declared}
    assert not undeclared, undeclared
