"""`harness farm run` on one host: farm.yaml checked key by key, a night measured and compared
with the nights before it, a planted regression found, JUnit XML / summary / digest written and
POSTed to a webhook on 127.0.0.1, a device that keeps failing quarantined, an unavailable
device stored as skipped rows, and a farm run continued when run again.
"""

from __future__ import annotations

import http.server
import json
import threading
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.farm.config import FarmConfigError, parse_farm
from harness.store import Store
from tests.support.ios_sim import IosSim

FAST = {"trials": 3, "warmup": 2, "iterations": 30, "min_time": 0.3}
LIGHT = "import torch.nn as nn\n\n\ndef net():\n    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())\n"
# The same model name (farm_net_net) with about 16x the work: the planted regression.
HEAVY = ("import torch.nn as nn\n\n\ndef net():\n    return nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), "
         "nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Conv2d(64, 8, 3))\n")
SHAPE = "\nnet.input_shape = (1, 3, 48, 48)\n"


def write_farm(tmp_path, *, devices=("host",), formats=("eager",), models=None, extra="", **settings):
    import yaml

    data = {"name": "nightly", "devices": [{"name": d} for d in devices],
            "models": models or f"{tmp_path / 'farm_net.py'}:net", "formats": list(formats),
            "settings": {**FAST, **settings},
            "results": {"db": str(tmp_path / "h.db"), "out": str(tmp_path / "out")}}
    path = tmp_path / "farm.yaml"
    path.write_text(yaml.safe_dump(data) + extra)
    return path


def farm(path, run, cache):
    return CliRunner().invoke(main, ["farm", "run", str(path), "--run", run, "--cache-dir", str(cache)],
                              catch_exceptions=False)


# ----------------------------------------------------------------------------------------------
# farm.yaml


@pytest.mark.parametrize("data, line", [
    ({"devices": [{"name": "host"}], "models": "m"}, "(top level): 'name' is a required property"),
    ({"name": "n", "devices": [{"name": "host"}], "models": "m", "settings": {"threads": 0}},
     "settings.threads: 0 is less than the minimum of 1"),
    ({"name": "n", "devices": [{"name": "host"}], "models": "m", "cell": {"retires": 2}},
     "cell: Additional properties are not allowed ('retires' was unexpected)"),
    ({"name": "n", "devices": [{"name": "host"}, {"serial": "x"}], "models": "m"},
     "devices[1]: 'name' is a required property"),
    ({"name": "n", "devices": [{"name": "host"}], "models": "m", "baseline": {"rolling": 2, "run": "r"}},
     "baseline: give either rolling or run, not both"),
    ({"name": "n", "devices": [{"name": "host"}, {"name": "host"}], "models": "m"},
     "devices: 'host' is listed twice"),
    ({"name": "n", "devices": [{"name": "host"}], "models": "m", "notify": {"webhook": "ftp://x"}},
     "notify.webhook: 'ftp://x' does not match"),
])
def test_farm_yaml_problems_are_one_line_with_their_key_path(data, line):
    with pytest.raises(FarmConfigError) as error:
        parse_farm(data, "farm.yaml")
    message = str(error.value)
    assert message.startswith("farm.yaml: ") and line in message and "\n" not in message


def test_a_bad_farm_file_is_a_usage_error_before_any_work(tmp_path):
    (tmp_path / "farm.yaml").write_text("name: n\ndevices: [{name: host}\nmodels: m\n")
    out = CliRunner().invoke(main, ["farm", "run", str(tmp_path / "farm.yaml")])
    assert out.exit_code == 2 and "line 3, column 1: not YAML" in out.output
    write_farm(tmp_path, models="no_such_model")
    out = CliRunner().invoke(main, ["farm", "check", str(tmp_path / "farm.yaml")])
    assert out.exit_code == 2 and "Unknown model 'no_such_model'" in out.output
    assert not (tmp_path / "h.db").exists()  # nothing ran


def test_farm_yaml_s_database_wins_over_the_environment_s(tmp_path, monkeypatch):
    """The command line, then farm.yaml, then $HARNESS_DB (docs/farm.md): a farm.yaml says where
    that farm's results go, whatever the shell that starts it exports."""
    path = write_farm(tmp_path)
    Store(tmp_path / "h.db").close()  # farm.yaml's database, with no run in it
    monkeypatch.setenv("HARNESS_DB", str(tmp_path / "from-the-shell.db"))
    out = CliRunner().invoke(main, ["farm", "report", str(path), "--run", "nightly-x",
                                    "--out", str(tmp_path / "out")])
    assert out.exit_code == 0, out.output  # read farm.yaml's database: an empty night
    assert not (tmp_path / "from-the-shell.db").exists()
    other = tmp_path / "given.db"
    out = CliRunner().invoke(main, ["farm", "report", str(path), "--run", "nightly-x", "--db", str(other),
                                    "--out", str(tmp_path / "out")])
    assert out.exit_code == 1 and f"No results database at {other}" in out.output  # --db wins


def test_the_example_farm_file_is_valid():
    out = CliRunner().invoke(main, ["farm", "check", "examples/farm.yaml"])
    assert out.exit_code == 0, out.output
    assert "3 model(s) x 2 format(s) = 6 cells" in out.output


# ----------------------------------------------------------------------------------------------
# Nights


class Hook(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", Hook.received
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_a_planted_regression_is_slower_in_the_junit_xml_and_the_digest(tmp_path, shared_cache, webhook):
    url, received = webhook
    (tmp_path / "farm_net.py").write_text(LIGHT + SHAPE)
    path = write_farm(tmp_path, formats=("eager", "coreml"), extra=f"notify: {{webhook: '{url}'}}\n")
    first = farm(path, "nightly-1", shared_cache)
    assert first.exit_code == 0, first.output  # nothing to compare with: new, and unsupported
    summary = json.loads((tmp_path / "out" / "nightly-1" / "summary.json").read_text())
    verdicts = {c["format"]: c["verdict"] for c in summary["devices"][0]["cells"]}
    assert verdicts == {"eager": "new", "coreml": "unsupported"}

    (tmp_path / "farm_net.py").write_text(HEAVY + SHAPE)  # the same model name, 16x the work
    second = farm(path, "nightly-2", shared_cache)
    assert second.exit_code == 3, second.output  # a regression fails the night

    junit = ET.parse(tmp_path / "out" / "nightly-2" / "junit.xml").getroot()
    cases = {c.get("name"): c for c in junit.iter("testcase")}
    failure = cases["eager"].find("failure")
    assert failure is not None and failure.get("type") == "slower"
    assert cases["coreml"].find("skipped") is not None and cases["coreml"].find("failure") is None
    assert junit.find("testsuite").get("failures") == "1" and junit.find("testsuite").get("name") == "host"
    digest = (tmp_path / "out" / "nightly-2" / "digest.md").read_text()
    row = next(line for line in digest.splitlines() if line.startswith("| farm_net_net | eager |"))
    assert "**slower**" in row and "artifact changed" in row
    ratio = json.loads((tmp_path / "out" / "nightly-2" / "summary.json").read_text())["devices"][0]["cells"]
    eager = next(c for c in ratio if c["format"] == "eager")
    assert eager["ratio"] > 2 and eager["ratio_ci"][0] > 1.05 and eager["p_value"] < 0.01
    assert "Baseline: the last 1 run of farm nightly on host" in digest

    # The digest went to the webhook each night, as JSON with a `text` for chat tools.
    assert [r[0] for r in received] == ["application/json"] * 2
    assert received[1][1]["text"] == digest and received[1][1]["summary"]["failed"] is True


def test_a_farm_run_run_again_continues_it(tmp_path, shared_cache):
    (tmp_path / "farm_net.py").write_text(LIGHT + SHAPE)
    path = write_farm(tmp_path, trials=1)
    assert farm(path, "nightly-1", shared_cache).exit_code == 0
    again = farm(path, "nightly-1", shared_cache)
    assert again.exit_code == 0, again.output
    with Store(tmp_path / "h.db", readonly=True) as store:
        runs = store.runs()
        assert [r.id for r in runs] == ["nightly-1-host"]  # not measured twice
        assert len(store.records("nightly-1-host")) == 1
        assert runs[0].config["farm"] == {"name": "nightly", "run": "nightly-1", "device": "host",
                                          "config": runs[0].config["farm"]["config"]}


@pytest.mark.slow  # the farm on a device stays in the default tier through the resume test
def test_an_unavailable_device_is_skipped_rows_and_the_others_measure(tmp_path, shared_cache, monkeypatch):
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "9")  # nothing listens: no phones
    (tmp_path / "farm_net.py").write_text(LIGHT + SHAPE)
    path = write_farm(tmp_path, devices=("pixel7", "host"), trials=1)
    out = farm(path, "nightly-1", shared_cache)
    assert out.exit_code == 3, out.output  # the phone's cells are new and failed tonight
    with Store(tmp_path / "h.db", readonly=True) as store:
        [phone] = store.records("nightly-1-pixel7")
        [host] = store.records("nightly-1-host")
    assert phone.status == "skipped" and phone.reason.startswith("device unavailable: No device matches 'pixel7'")
    assert host.status == "ok"
    assert "**Unavailable**: No device matches 'pixel7'" in out.output


@pytest.mark.slow  # the farm on a device stays in the default tier through the resume and unavailable tests
def test_a_device_failing_cell_after_cell_is_quarantined_for_the_night(tmp_path, shared_cache):
    """A locked iPhone: every trial fails to run (and is retried once); after two cells in a
    row the rest of its cells are skipped, not tried, and the night says why."""
    udid = "00008101-000A1B2C3D4E5F60"
    (tmp_path / "farm_net.py").write_text(LIGHT + SHAPE)
    models = ",".join([f"{tmp_path / 'farm_net.py'}:net", "tests/tiny_models.py:tiny_convnet",
                       "tests/tiny_models.py:slow_convnet"])
    extra = "health: {quarantine_after: 2}\ncell: {retries: 1}\n"
    path = write_farm(tmp_path, devices=("iphone12",), formats=("tflite",), models=models, trials=1, extra=extra)
    with IosSim(tmp_path / "ios") as sim:
        sim.add_phone(udid, product_type="iPhone13,2")
        sim.set(udid, locked=True)
        out = farm(path, "nightly-1", shared_cache)
        trials = [c for c in sim.commands() if "launch" in c and "--harness-request" in " ".join(c)]
    assert out.exit_code == 3, out.output
    with Store(tmp_path / "h.db", readonly=True) as store:
        records = {r.model: r for r in store.records("nightly-1-iphone12")}
    failed = [records["farm_net_net"], records["tiny_models_tiny_convnet"]]
    assert all(r.status == "run_failed" and "is locked" in r.reason for r in failed)
    assert all("retried 1 time after" in r.reason for r in failed)
    skipped = records["tiny_models_slow_convnet"]
    assert skipped.status == "skipped" and skipped.reason.startswith("device quarantined for the night: 2 cells")
    assert not trials  # a locked phone never runs a trial: each says so at once
    assert "Quarantined for the night" in out.output
