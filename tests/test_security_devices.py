"""Trust boundaries, what devices send back and what names become (issue 26, points 12, 14, 16;
docs/security.md).

- AWS Device Farm's artifacts are device output: a zip bomb, a result.json named twice, a
  download larger than any trial's are a failed trial in one line, read within bounds.
- A model name holding the here-document terminator of a phone's trial script is measured like
  any other (the terminator is one no line of the request holds), on the simulated phone.
- A model factory named with `/` or `..` is refused in one line before anything is written.
"""

from __future__ import annotations

import io
import json
import subprocess
import zipfile

import pytest
from click.testing import CliRunner

from device_runners.android.measure import measurement_script, no_sensor
from device_runners.android.providers import aws_device_farm as adf
from device_runners.contract import RunRequest
from harness.cli import main
from harness.store import Store
from tests.support.adb_sim import (
    AdbSimServer,
    SimulatedPhone,
    sandbox_unavailable_reason,
)
from tests.support.cli import harness_cli, one_line
from tests.support.device_farm_sim import one_trial

TERMINATOR = "HARNESS_REQUEST_EOF"


def _zip(entries: list[tuple[str, bytes]], method=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


def _request(tmp_path) -> RunRequest:
    artifact = tmp_path / "m.pte"
    artifact.write_bytes(b"not run here")
    return RunRequest(model="m", format="executorch", runtime="executorch",
                      artifact_path=str(artifact), artifact_sha256="0" * 64,
                      input_shape=(1, 3, 8, 8), timeout_s=60)


def _trial_with_artifacts(tmp_path, served: bytes):
    runner_file = tmp_path / "harness_runner"
    runner_file.write_bytes(b"#!/bin/sh\n")
    return one_trial(tmp_path, runner_file, _request(tmp_path), served=served)[0]


RESULT = b'{"not": "read"}'
LOG = "Host_Machine_Files/$DEVICEFARM_LOG_DIR/"


@pytest.mark.parametrize("entries, words", [
    # 24 MB of zeros inflate from a 24 KB zip: read up to the limit, never whole.
    ([(LOG + "result.json", b"0" * (24 * 2**20))], "its result.json is larger than 16 MB"),
    ([(LOG + "result.json", RESULT), ("elsewhere/result.json", RESULT)],
     "its artifacts hold result.json more than once (2 entries)"),
], ids=["zip bomb", "two results"])
def test_hostile_device_farm_artifacts_are_a_failed_trial_in_one_line(tmp_path, entries, words):
    served = _zip(entries)
    assert len(served) < 100_000
    result = _trial_with_artifacts(tmp_path, served)
    assert result.status == "run_failed" and words in result.error and "\n" not in result.error


def test_a_download_beyond_any_trial_s_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(adf, "MAX_ARTIFACTS_BYTES", 4096)
    result = _trial_with_artifacts(tmp_path, _zip([(LOG + "runner.log", bytes(range(256)) * 64)],
                                                  zipfile.ZIP_STORED))
    assert result.status == "run_failed" and "\n" not in result.error
    assert "are larger than 4,096 bytes" in result.error and "not read" in result.error


# ----------------------------------------------------------------------------------------------
# The here-document of a phone's trial


def test_a_request_holding_the_terminator_still_writes_whole(tmp_path):
    """The trial script's here-document, run by a real shell: the request comes out whole,
    whatever line of it equals the old terminator."""
    request = json.dumps({"model": f"{TERMINATOR}_build"}) + f"\n{TERMINATOR}\n{TERMINATOR}_1\n"
    script = measurement_script(workdir=str(tmp_path), trial="1", command=["true"],
                                sensor=no_sensor("none"), interval_s=1, idle_s=0, timeout_s=None,
                                cpu_mask=None, thermal_command="true", request_json=request)
    subprocess.run(["sh", "-c", script], capture_output=True, timeout=30, check=False)
    assert (tmp_path / "trial" / "1" / "request.json").read_text() == request + "\n"


@pytest.mark.slow  # the here-document stays in the default tier through the test above
@pytest.mark.needs(sandbox_unavailable_reason())
def test_a_model_named_like_the_terminator_is_measured_on_a_phone(tmp_path, shared_cache):
    from device_runners.native.build import build_native_runner

    native = build_native_runner("host")
    (tmp_path / f"{TERMINATOR}.py").write_text("from tests.tiny_models import tiny_convnet as build\n")
    with SimulatedPhone("SIMPIXEL7", root=tmp_path / "phone") as phone:
        phone.sysfs.set_battery(current_ua=-420_000, voltage_uv=3_910_000, capacity=76)
        phone.set_dumpsys("thermalservice", lambda t: "Thermal Status: 0\n")
        with AdbSimServer([phone]) as server:
            env = {"ANDROID_ADB_SERVER_HOST": server.host, "ANDROID_ADB_SERVER_PORT": str(server.port),
                   "HARNESS_DB": str(tmp_path / "h.db"), "HARNESS_CACHE": str(shared_cache)}
            out = CliRunner().invoke(main, [
                "run", "--device", "SIMPIXEL7", "--models", f"{tmp_path / TERMINATOR}.py:build",
                "--formats", "executorch", "--native-runner", str(native), "--warmup", "1",
                "--iterations", "5", "--min-time", "0.05", "--trials", "1",
                "--leaderboard", str(tmp_path / "lb.md")], env=env)
    assert out.exit_code == 0, out.output
    with Store(tmp_path / "h.db", readonly=True) as store:
        [record] = store.records(store.get_run("latest").id)
    assert record.model == f"{TERMINATOR}_build" and record.status == "ok", record.reason


# ----------------------------------------------------------------------------------------------
# Names that become paths


def test_a_factory_named_as_a_path_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    (tmp_path / "net.py").write_text("from tests.tiny_models import tiny_convnet as _t\n"
                                     "globals()['../../escape'] = _t\nglobals()['a/b'] = _t\n")
    env = {"HARNESS_DB": str(tmp_path / "h.db"), "HARNESS_CACHE": str(tmp_path / "cache")}
    out = harness_cli("run", "--models", "net.py:../../escape", "--formats", "eager", env=env,
                      cwd=tmp_path, check=2)
    assert "a factory is a Python name" in one_line(out.stderr)
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(main, ["run", "--models", "net.py:a/b", "--formats", "eager"], env=env)
    assert out.exit_code == 2 and "a factory is a Python name" in one_line(out.output)
    assert not (tmp_path / "cache").exists() and not list(tmp_path.rglob("*escape*"))
    with Store(tmp_path / "h.db", readonly=True) as store:
        assert store.runs() == []
