"""Devices a service lends to the farm: DeviceFarmer STF against a loopback stand-in of its REST
API (tests/support/stf_sim.py) with the phone behind it on the loopback adb server, and AWS Device Farm
through boto3 with botocore's Stubber, its presigned URLs served on 127.0.0.1
(tests/support/device_farm_sim.py).
"""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from tests.support.adb_sim import AdbSimServer, SimulatedPhone, sandbox_unavailable_reason
from tests.support.paths import TESTS
from device_runners.android.providers.stf import StfError
from device_runners.native.build import build_native_runner
from harness.cli import main
from harness.devices import open_provided_runner
from harness.store import Store
from tests.support.device_farm_sim import PresignedUrls, device_farm_runner, one_trial
from tests.support.stf_sim import StfDevice, StfSim

TINY = f"{TESTS / 'tiny_models.py'}:tiny_convnet"
ADDRESS = "127.0.0.1:7401"  # where STF says the phone's adb daemon listens


@pytest.fixture(scope="module")
def native_runner():
    return build_native_runner("host")


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """An STF with three phones (ours to borrow, someone else's, one not answering) and the
    loopback adb server that `adb connect` reaches the borrowable one through."""
    with SimulatedPhone(ADDRESS, root=tmp_path / "phone") as phone:
        phone.sysfs.set_battery(current_ua=-400_000, voltage_uv=3_900_000, capacity=80)
        phone.set_dumpsys("thermalservice", lambda t: "Thermal Status: 0\n")
        with AdbSimServer([], network=[phone]) as server, StfSim([
            StfDevice("STFPIXEL", ADDRESS), StfDevice("TAKEN", "127.0.0.1:7402", owner="someone@lab"),
            StfDevice("ASLEEP", "127.0.0.1:7403", responsive=False),
        ]) as stf:
            monkeypatch.setenv("ANDROID_ADB_SERVER_HOST", server.host)
            monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(server.port))
            monkeypatch.setenv("STF_TOKEN", stf.token)
            yield stf, server, phone
        assert server.errors == []


def borrow(stf, serial, **spec):
    return open_provided_runner("stf", {"url": stf.url, "serial": serial, **spec})


@pytest.mark.needs(sandbox_unavailable_reason())
def test_a_farm_night_on_a_phone_borrowed_from_stf(lab, tmp_path, native_runner, shared_cache):
    stf, server, phone = lab
    farm = {"name": "stf", "models": TINY, "formats": ["executorch"],
            "devices": [{"name": "lab-pixel", "options": {"--native-runner": str(native_runner)},
                         "provider": {"stf": {"url": stf.url, "serial": "STFPIXEL"}}}],
            "settings": {"trials": 1, "warmup": 1, "iterations": 5, "min_time": 0.1},
            "results": {"db": str(tmp_path / "h.db"), "out": str(tmp_path / "out")}}
    (tmp_path / "farm.yaml").write_text(yaml.safe_dump(farm))
    out = CliRunner().invoke(main, ["farm", "run", str(tmp_path / "farm.yaml"), "--run", "stf-1",
                                    "--cache-dir", str(shared_cache)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    with Store(tmp_path / "h.db", readonly=True) as store:
        [record] = store.records("stf-1-lab-pixel")
    assert record.status == "ok" and record.device_id == ADDRESS, record.reason
    order = [(m, p.split("/api/v1")[1]) for m, p in stf.calls if m != "GET"]
    assert order == [("POST", "/user/devices"), ("POST", "/user/devices/STFPIXEL/remoteConnect"),
                     ("DELETE", "/user/devices/STFPIXEL/remoteConnect"), ("DELETE", "/user/devices/STFPIXEL")]
    assert stf.devices["STFPIXEL"].owner is None  # given back
    assert not phone.connected  # and `adb disconnect`ed


@pytest.mark.parametrize("serial, token, line", [
    ("TAKEN", None, "device TAKEN is in use by someone else or not available on STF: wait, or "
                    "farm another phone (HTTP 403: Device is being used or not available)."),
    ("NOSUCH", None, "STF has no device NOSUCH: check the serial in STF's device list (HTTP 404: "
                     "Device not found)."),
    ("ASLEEP", None, "device ASLEEP is not responding on STF (its provider did not answer in 5 s): "
                     "check the phone and its STF provider (HTTP 504: Device is not responding)."),
    ("STFPIXEL", "stale", "STF refused the access token: make a new one in STF's Settings > Keys "
                          "(HTTP 401: Requires authentication)."),
])
def test_stf_refusals_are_one_line_and_leave_nothing_borrowed(lab, monkeypatch, serial, token, line):
    stf, _, _ = lab
    if token:
        monkeypatch.setenv("STF_TOKEN", token)
    with pytest.raises(StfError) as error:
        borrow(stf, serial)
    assert str(error.value) == line
    assert all(d.owner in (None, "someone@lab") for d in stf.devices.values())


def test_a_phone_adb_cannot_reach_is_given_back_to_stf(lab):
    stf, _, _ = lab
    stf.devices["STFPIXEL"].address = "127.0.0.1:9"  # STF answers an address adb cannot connect to
    with pytest.raises(StfError, match=r"adb could not connect to STFPIXEL at 127.0.0.1:9: failed to "
                                       r"connect to '127.0.0.1:9': Connection refused\."):
        borrow(stf, "STFPIXEL")
    assert stf.devices["STFPIXEL"].owner is None
    assert ("DELETE", "/api/v1/user/devices/STFPIXEL") in stf.calls


def test_an_unreachable_stf_and_a_missing_token_are_one_line(lab, monkeypatch):
    with pytest.raises(StfError, match=r"^Cannot reach STF at http://127.0.0.1:9 .*check the url"):
        open_provided_runner("stf", {"url": "http://127.0.0.1:9", "serial": "X"})
    monkeypatch.delenv("STF_TOKEN")
    with pytest.raises(StfError, match=r"^STF needs an access token in \$STF_TOKEN"):
        open_provided_runner("stf", {"url": lab[0].url, "serial": "STFPIXEL"})


def test_farm_yaml_checks_the_provider_before_any_work(tmp_path):
    from harness.farm.config import FarmConfigError, parse_farm

    base = {"name": "n", "models": "m"}
    with pytest.raises(FarmConfigError, match=r"devices\[0\]\.provider: no provider 'openstf'; known: aws_device_farm, stf\."):
        parse_farm({**base, "devices": [{"name": "p", "provider": {"openstf": {"url": "u"}}}]})
    with pytest.raises(FarmConfigError, match=r"devices\[0\]\.provider\.stf: 'serial' is required\."):
        parse_farm({**base, "devices": [{"name": "p", "provider": {"stf": {"url": "u"}}}]})


# ----------------------------------------------------------------------------------------------
# AWS Device Farm


@pytest.fixture
def tiny_pte(tmp_path, shared_cache):
    from harness.export.cache import ArtifactCache
    from harness.export.isolated import export_all
    from harness.export.base import resolve_formats
    from harness.zoo import resolve_models

    [spec] = resolve_models(TINY)
    exports = export_all([spec], lambda s: resolve_formats("executorch"), ArtifactCache(shared_cache),
                         jobs=1, seed=0)
    artifact = exports[spec.name].artifacts["executorch"]
    assert artifact.measurable, artifact.reason
    return artifact


def request_for(entry):
    from device_runners.contract import RunRequest

    return RunRequest(model=entry.model, format="executorch", runtime="executorch",
                      artifact_path=str(entry.path), artifact_sha256=entry.sha256,
                      input_shape=(1, 3, 32, 32), warmup_iterations=1, min_iterations=5,
                      min_duration_s=0.05, timeout_s=60)


def test_a_trial_on_aws_device_farm_goes_up_as_a_test_package_and_comes_back_measured(tmp_path, native_runner, tiny_pte):
    result, urls = one_trial(tmp_path, native_runner, request_for(tiny_pte))
    assert result.status == "ok", result.error
    assert len(result.samples_ms) >= 5 and result.device.product_model == "Pixel 7"
    assert result.context["aws_device_farm"]["run_arn"].endswith("run:p/r1")
    spec = urls.uploads["/spec"].decode()
    assert "adb -s $DEVICEFARM_DEVICE_UDID push" in spec and "$DEVICEFARM_LOG_DIR/result.json" in spec
    assert urls.uploads["/app"].startswith(b"PK")


def test_device_farm_failures_are_failed_rows_with_one_line(tmp_path, native_runner, tiny_pte):
    urls = PresignedUrls(tmp_path, run_package=False)
    try:
        runner, _ = device_farm_runner(tmp_path, native_runner, urls, upload_status="FAILED")
        rejected = runner.run(request_for(tiny_pte))
        runner, _ = device_farm_runner(tmp_path, native_runner, urls)
        no_result = runner.run(request_for(tiny_pte))
        litert = runner.run(request_for(tiny_pte).__class__(**{**request_for(tiny_pte).__dict__, "runtime": "litert"}))
    finally:
        urls.close()
    assert rejected.status == "run_failed"
    assert rejected.error == 'Device Farm rejected app.apk: {"errorMessage": "not a zip"}.'
    assert no_result.status == "run_failed" and "ended PASSED without a result: no run" in no_result.error
    assert litert.status == "unsupported" and "only ExecuTorch" in litert.error
