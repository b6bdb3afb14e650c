"""Trust boundaries, forged work (issue 26, points 4-6 and 17; docs/security.md): whoever can
write to the farm's broker, or name a farm run, steers nothing the farm.yaml does not say.

- A task message names a cell, and a worker acts only on cells of its own farm.yaml, with that
  file's settings and providers: a message carrying a provider (an STF URL and the name of an
  environment variable to send it), another model file, or anything else, is refused in one line,
  and a stored failed row where it names one of the worker's cells; the token is sent nowhere
  and the file never runs.
- A farm run's name is a name: `--run ../../x` is refused before anything is written.
- A device failing with adb's own error (not a DeviceError) still leaves a row for every cell.
- The webhook's redirect is said, not followed; `farm check` refuses a matrix no broker would
  hold comfortably.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from harness.cli import main
from harness.export.base import resolve_formats
from harness.farm.cell import CellTask, Matrix, TaskRefused, accept_task, measure_cell
from harness.farm.config import load_farm
from harness.store import Store
from harness.zoo import resolve_models
from tests.support.cli import harness_cli, one_line
from tests.support.http_recorder import Recorder
from tests.support.paths import ROOT, TINY
from tests.support.redis_server import RedisServer
from tests.support.wait import wait_until

SECRET = "aws-s3cret-key"
MODEL = "tiny_models_tiny_convnet"
FLAKY = {"HARNESS_DEVICE_KINDS": "tests.support.flaky_kind:KIND"}
EVIL = "import pathlib\npathlib.Path(__file__).with_name('RAN').write_text('the file ran')\n" \
       "import torch.nn as nn\n\n\ndef build():\n    return nn.Conv2d(3, 8, 3)\n"


def _farm(tmp_path, cache, devices=("host",), **extra) -> str:
    data = {"name": "lab", "devices": [{"name": d} for d in devices], "models": TINY,
            "formats": ["eager"],
            "settings": {"trials": 1, "warmup": 1, "iterations": 5, "min_time": 0.05, "jobs": 1},
            "cell": {"timeout": 60, "retries": 0},
            "results": {"db": str(tmp_path / "h.db"), "cache": str(cache), "out": str(tmp_path / "out")},
            **extra}
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "farm.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _forged(tmp_path, stf_url: str) -> list:
    """Messages an attacker with the broker's password could write, after the old task format
    and beyond it."""
    (tmp_path / "evil.py").write_text(EVIL)
    cell = {"farm": "lab", "farm_run": "lab-1", "device": "host", "model": MODEL, "format": "eager"}
    return [
        {**cell, "device_slug": "host", "provider": ["stf", {"url": stf_url, "serial": "X",
                                                              "token_env": "AWS_SECRET_ACCESS_KEY"}],
         "settings": {"threads": 64}, "device_options": {"native_runner": "/bin/sh"}},
        {**cell, "model": f"{tmp_path / 'evil.py'}:build"},
        {**cell, "farm_run": "../../../tmp/x"},
        {**cell, "device": "someone-else"},
        {**cell, "model": ["not", "a", "name"]},
        "not a task",
        {**cell, **{f"key-{i}" * 20: "x" * 1000 for i in range(1000)}},
    ]


def test_a_worker_takes_only_the_names_of_a_cell_of_its_own_farm_yaml(tmp_path, shared_cache):
    config = load_farm(_farm(tmp_path, shared_cache))
    matrix = Matrix(config, resolve_models(config.models), resolve_formats(config.formats))
    [task] = matrix.tasks("lab-1")
    assert set(task.to_dict()) == {"farm", "farm_run", "device", "model", "format"}
    cell = accept_task(task.to_dict(), config.devices[0], matrix)
    assert cell.key == f"lab-1-host/{MODEL}/eager" and cell.config.settings.trials == 1
    with Recorder() as stf:
        forged = _forged(tmp_path, stf.url())
        refusals = []
        for payload in forged:
            with pytest.raises(TaskRefused) as refused:
                accept_task(payload, config.devices[0], matrix)
            refusals.append(refused.value)
    lines = [str(r) for r in refusals]
    assert all("\n" not in line and line.startswith("task refused: ") and len(line) < 500
               for line in lines), lines
    assert "carries device_options, device_slug, provider, settings" in lines[0]
    assert "which" in lines[1] and "does not list" in lines[1]
    assert "a farm run's name" in lines[2] and "serves 'host'" in lines[3]
    # Only the first names a cell of this farm (its own device, model and format, a run name):
    # its refusal is stored as that cell's failed row; the others name none.
    assert [r.cell is not None for r in refusals] == [True, False, False, False, False, False, True]
    assert "and 995 more" in lines[-1]
    assert stf.requests == [] and not (tmp_path / "RAN").exists()


def test_a_farm_run_s_name_is_a_name_not_a_path(tmp_path, shared_cache, monkeypatch):
    farm = _farm(tmp_path / "farm", shared_cache)
    out = harness_cli("farm", "run", farm, "--run", "../../escaped", cwd=tmp_path, check=2)
    assert "--run '../../escaped': a farm run's name" in one_line(out.stderr)
    monkeypatch.chdir(tmp_path)
    for command in (["report"], ["status", "--broker", "redis://127.0.0.1:9/0"], ["submit"]):
        out = CliRunner().invoke(main, ["farm", *command, farm, "--run", "a/../../b"])
        assert out.exit_code == 2 and "a farm run's name" in one_line(out.output), out.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["farm"]  # nothing made beside it
    assert not (tmp_path / "farm" / "out").exists()


def test_adb_s_own_errors_still_leave_a_row_for_every_cell(tmp_path, shared_cache, monkeypatch):
    """A worker whose device fails with adbutils.AdbError, at open or mid-trial (not a
    DeviceError): the cell is a stored row, never lost with the task. (The default tier's test
    of `measure_cell`; about 5 s when it exports the tiny model first.)"""
    from harness import devices
    from tests.support.flaky_kind import KIND

    monkeypatch.setattr(devices, "KINDS", [*devices.KINDS, KIND])
    config = load_farm(_farm(tmp_path, shared_cache, devices=("flaky-open", "flaky-run")))
    matrix = Matrix(config, resolve_models(config.models), resolve_formats(config.formats))
    from harness.export.cache import ArtifactCache

    with Store(tmp_path / "h.db") as store:
        for device in config.devices:
            [task] = [t for t in matrix.tasks("lab-1") if t.device == device.name]
            cell = accept_task(task.to_dict(), device, matrix)
            assert measure_cell(cell, store, ArtifactCache(shared_cache)) in ("failed", "skipped: unavailable")
        rows = {r.device_id: (r.status, r.reason) for run in store.runs() for r in store.records(run.id)}
    assert rows["flaky-open"] == ("skipped", "device unavailable: AdbError: device 'flaky-open' not found")
    assert rows["flaky-run"][0] == "run_failed" and "AdbError: device 'flaky-run' not found" in rows["flaky-run"][1]


@pytest.mark.slow  # adb's errors and the webhook stay in the default tier through the tests above and below
def test_farm_run_with_failing_phones_and_a_redirecting_webhook(tmp_path, shared_cache):
    with Recorder() as elsewhere, \
            Recorder(lambda r: (302, {"Location": elsewhere.url("/stolen")}, b"")) as hook:
        url = hook.url("/hook").replace("http://", "http://bot:hook-pw@")
        farm = _farm(tmp_path, shared_cache, devices=("flaky-open", "flaky-run"),
                     notify={"webhook": url})
        out = harness_cli("farm", "run", farm, "--run", "lab-1", env=FLAKY, cwd=tmp_path, check=3)
    assert "Traceback" not in out.stderr
    warning = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "HTTP 302" in warning[0] and "not followed" in warning[0]
    assert "hook-pw" not in out.stderr + out.stdout and "/hook" not in warning[0]
    assert [r.method for r in hook.requests] == ["POST"] and elsewhere.requests == []
    assert hook.requests[0].headers["Authorization"].startswith("Basic ")  # the URL's user, as auth
    with Store(tmp_path / "h.db", readonly=True) as store:
        rows = {run.id: [(r.model, r.status) for r in store.records(run.id)] for run in store.runs()}
    assert rows == {"lab-1-flaky-open": [(MODEL, "skipped")], "lab-1-flaky-run": [(MODEL, "run_failed")]}


def test_the_webhook_s_redirect_is_said_and_not_followed():
    from harness.farm.reports import FarmOutcome, post_webhook

    with Recorder() as elsewhere, \
            Recorder(lambda r: (303, {"Location": elsewhere.url("/x")}, b"")) as hook:
        problem = post_webhook(hook.url("/T0/B0/secret-token"), FarmOutcome("f", "f-1", []), 0)
    assert "HTTP 303" in problem and "not followed" in problem and "secret-token" not in problem
    assert [r.method for r in hook.requests] == ["POST"] and elsewhere.requests == []


def test_farm_check_refuses_a_matrix_no_broker_holds_comfortably(tmp_path):
    devices = [{"name": f"phone-{i:04d}"} for i in range(1100)]  # x 31 models x 3 formats
    path = tmp_path / "farm.yaml"
    path.write_text(yaml.safe_dump({"name": "big", "devices": devices, "models": "all",
                                    "formats": "eager,onnx,tflite"}))
    line = one_line(harness_cli("farm", "check", path, cwd=tmp_path, check=2).stderr)
    assert "102,300 cells" in line and "more than the 100,000 tasks a farm queues" in line
    path.write_text(yaml.safe_dump({"name": "long", "devices": [{"name": "p" * 3000}],
                                    "models": "repvit_m0_9"}))
    out = CliRunner().invoke(main, ["farm", "check", str(path)])
    assert out.exit_code == 2 and "more than the 2,048 a task may be" in one_line(out.output)


# ----------------------------------------------------------------------------------------------
# A real worker, a real broker, forged messages


@pytest.mark.slow  # the task's checks stay in the default tier through the first test above
def test_a_worker_refuses_forged_messages_and_measures_the_genuine_cell(tmp_path, shared_cache):
    with RedisServer(tmp_path / "redis") as broker, Recorder() as stf:
        farm = _farm(tmp_path, shared_cache, broker=broker.url)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_SECRET_ACCESS_KEY": SECRET,
               "PYTHONUNBUFFERED": "1"}
        with open(tmp_path / "worker.log", "w") as log:
            worker = subprocess.Popen([sys.executable, "-m", "harness.cli", "farm", "worker", farm,
                                       "--device", "host"], env=env, cwd=tmp_path, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        try:
            from harness.farm.queue import TASK_NAME, make_app

            app = make_app(broker.url, 60)
            forged = _forged(tmp_path, stf.url())
            for payload in forged:
                app.send_task(TASK_NAME, args=[payload], queue="harness.device.host")
            app.send_task(TASK_NAME, args=[{"x": 1}, 2], kwargs={"provider": "stf"},
                          queue="harness.device.host")
            harness_cli("farm", "submit", farm, "--run", "lab-1", cwd=tmp_path, check=0)

            def measured():
                if not (tmp_path / "h.db").exists():
                    return False
                with Store(tmp_path / "h.db", readonly=True) as store:
                    runs = [r.id for r in store.runs()]
                    return "lab-1-host" in runs and [r.status for r in store.records("lab-1-host")] == ["ok"]

            wait_until(measured, 300, poll_s=0.5, what=(tmp_path / "worker.log").read_text)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        text = (tmp_path / "worker.log").read_text()
    refused = [line for line in text.splitlines() if "task refused: " in line]
    assert len(refused) == len(forged) + 1, text  # one line per forged message
    assert "Traceback" not in text and SECRET not in text
    assert stf.requests == [] and not (tmp_path / "RAN").exists()
    with Store(tmp_path / "h.db", readonly=True) as store:
        [record] = store.records("lab-1-host")  # the forged row replaced by the genuine cell's
    assert record.model == MODEL and record.status == "ok"
    assert record.result.threads == 1  # farm.yaml's settings, not the message's 64


def test_a_genuine_task_is_names_only():
    task = CellTask(farm="f", farm_run="f-1", device="d", model="m", format="eager")
    assert json.loads(json.dumps(task.to_dict())) == {"farm": "f", "farm_run": "f-1", "device": "d",
                                                      "model": "m", "format": "eager"}
