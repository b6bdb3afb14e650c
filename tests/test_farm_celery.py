"""A farm across hosts, for real: a private Redis broker, Celery workers in their own processes,
each bound to a device of its own (the `lab` kind of tests/support/lab_kind.py, joined through
HARNESS_DEVICE_KINDS as a lab's own kind would be), and `harness farm submit --wait`.

Checked: every cell stored exactly once, each device's cells never overlapping in time, each
cell measured on the device it was routed to; a worker killed with SIGKILL in the middle of a
cell, and the cell measured and stored once after a worker for that device comes back; the
broker restarted in the middle of the matrix, and the matrix completes; `farm status` counts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import yaml

from tests.support.paths import ROOT, TESTS
from harness.store import Store
from tests.support.redis_server import RedisServer
from tests.support.wait import wait_until

MODELS = f"{TESTS / 'tiny_models.py'}:tiny_convnet,{TESTS / 'tiny_models.py'}:slow_convnet"


@pytest.fixture
def broker(tmp_path):
    with RedisServer(tmp_path / "redis") as server:
        yield server


def farm_file(tmp_path, broker, *, devices=("lab-a", "lab-b"), models=MODELS, formats=("eager", "tflite"),
              min_time=0.2, trials=2, cell_timeout=60, visibility=None) -> str:
    cell = {"timeout": cell_timeout, "retries": 0}
    if visibility:
        cell["visibility_timeout"] = visibility
    data = {"name": "lab", "devices": [{"name": d} for d in devices], "models": models,
            "formats": list(formats),
            "settings": {"trials": trials, "warmup": 1, "iterations": 5, "min_time": min_time, "jobs": 1},
            "cell": cell, "broker": broker.url,
            "results": {"db": str(tmp_path / "h.db"), "cache": str(tmp_path / "cache"),
                        "out": str(tmp_path / "out")}}
    path = tmp_path / "farm.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT),
            "HARNESS_DEVICE_KINDS": "tests.support.lab_kind:KIND", "PYTHONUNBUFFERED": "1"}


def harness(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], env=env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


class Workers:
    """`harness farm worker` processes, stopped at the end of the test."""

    def __init__(self, farm: str, log_dir):
        self.farm, self.log_dir, self.procs = farm, log_dir, {}

    def start(self, device: str) -> subprocess.Popen:
        log = open(self.log_dir / f"worker-{device}-{len(self.procs)}.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "farm", "worker", self.farm,
                                 "--device", device], env=env(), cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[f"{device}-{len(self.procs)}"] = proc
        return proc

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.log_dir.glob("worker-*.log")))


@pytest.fixture
def workers(tmp_path):
    made = []

    def make(farm):
        w = Workers(farm, tmp_path)
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop()


def drained(client, device: str) -> bool:
    """The broker holds nothing for `device`: its queue (kombu's list) is empty, no message is
    delivered and unacknowledged (kombu's `unacked` hash), no worker is in a cell of it."""
    return (client.llen(f"harness.device.{device}") == 0 and client.hlen("unacked") == 0
            and not client.keys(f"harness:farm:*:running:{device}"))


def stored(tmp_path) -> dict[str, list]:
    with Store(tmp_path / "h.db", readonly=True) as store:
        return {run.id: store.records(run.id) for run in store.runs()}


@pytest.mark.slow
def test_two_workers_measure_every_cell_once_each_on_its_own_device(tmp_path, broker, workers):
    farm = farm_file(tmp_path, broker)
    pool = workers(farm)
    for device in ("lab-a", "lab-b"):
        pool.start(device)
    out = harness("farm", "submit", farm, "--run", "lab-1", "--wait", "--timeout", "400")
    assert out.returncode == 0, out.stdout + out.stderr + pool.logs()
    runs = stored(tmp_path)
    assert sorted(runs) == ["lab-1-lab-a", "lab-1-lab-b"]
    for run_id, records in runs.items():
        device = run_id.rsplit("-", 2)[-2] + "-" + run_id.rsplit("-", 1)[-1]
        cells = [(r.model, r.format) for r in records]
        assert len(cells) == len(set(cells)) == 4, cells  # every cell exactly once
        assert all(r.status == "ok" for r in records), [(r.model, r.format, r.reason) for r in records]
        assert {r.device_id for r in records} == {device}  # routed to its own device ...
        assert {r.trials[0].context["lab_device"] for r in records} == {device}  # ... and measured there
        windows = sorted((t.context["timed_start_unix"], t.context["timed_end_unix"])
                         for r in records for t in r.trials)
        for (_, end), (start, _) in zip(windows, windows[1:]):
            assert start >= end, f"{device}: two measurements overlap in time"
        assert len({r.trials[0].context["lab_pid"] for r in records}) == 1  # one worker process
    status = harness("farm", "status", farm, "--run", "lab-1")
    assert status.returncode == 0, status.stderr
    rows = {line.split()[0]: line.split() for line in status.stdout.splitlines() if line.startswith("lab-")}
    assert rows["lab-a"][1:] == ["4", "0", "-", "4", "0"] and rows["lab-b"][1:] == ["4", "0", "-", "4", "0"]
    summary = json.loads((tmp_path / "out" / "lab-1" / "summary.json").read_text())
    assert summary["counts"]["new"] == 8 and not summary["failed"]


@pytest.mark.slow
def test_a_cell_lost_with_its_killed_worker_is_measured_once_when_a_worker_returns(tmp_path, broker, workers):
    # One device, two cells of about 3 s each; the broker gives an unacknowledged cell to
    # another consumer after the visibility timeout (set low here, above the longest cell).
    farm = farm_file(tmp_path, broker, devices=("lab-a",), models=f"{TESTS / 'tiny_models.py'}:slow_convnet",
                     min_time=2.5, trials=1, cell_timeout=12, visibility=15)
    pool = workers(farm)
    first = pool.start("lab-a")
    submitted = harness("farm", "submit", farm, "--run", "lab-1")
    assert submitted.returncode == 0, submitted.stderr
    import redis

    client = redis.Redis.from_url(broker.url)
    # The worker has taken the cell (it says so in Redis): kill it, wherever in the cell it is.
    wait_until(lambda: client.get("harness:farm:lab-1:running:lab-a"), 120, what=pool.logs())
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert not stored(tmp_path).get("lab-1-lab-a")  # nothing was stored by the killed worker
    pool.start("lab-a")  # the device's worker comes back
    wait_until(lambda: len(stored(tmp_path).get("lab-1-lab-a", [])) >= 2, 180, poll_s=0.5,
               what=pool.logs())
    # Nothing can be stored twice once the broker holds nothing for the device: its queue is
    # empty, no delivered message is unacknowledged, and no worker is in a cell.
    wait_until(lambda: drained(client, "lab-a"), 60, what="the broker to hold nothing more")
    records = stored(tmp_path)["lab-1-lab-a"]
    assert [(r.model, r.format, r.status) for r in sorted(records, key=lambda r: r.format)] == [
        ("tiny_models_slow_convnet", "eager", "ok"), ("tiny_models_slow_convnet", "tflite", "ok")]


@pytest.mark.slow
def test_the_matrix_completes_across_a_broker_restart(tmp_path, broker, workers):
    farm = farm_file(tmp_path, broker, devices=("lab-a",), min_time=1.0, trials=1)
    pool = workers(farm)
    pool.start("lab-a")
    submitted = harness("farm", "submit", farm, "--run", "lab-1")
    assert submitted.returncode == 0, submitted.stderr
    wait_until(lambda: stored(tmp_path).get("lab-1-lab-a"), 120, poll_s=0.2, what=pool.logs())
    broker.restart()  # same port, same append-only file: the queue survives
    wait_until(lambda: len(stored(tmp_path).get("lab-1-lab-a", [])) >= 4, 240, poll_s=0.5,
               what=pool.logs())
    records = stored(tmp_path)["lab-1-lab-a"]
    assert len({(r.model, r.format) for r in records}) == len(records) == 4
    assert all(r.status == "ok" for r in records)
    report = harness("farm", "report", farm, "--run", "lab-1")
    assert report.returncode == 0, report.stderr
    assert "4 cells: 4 new" in report.stdout
