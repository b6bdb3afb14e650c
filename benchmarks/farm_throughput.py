"""How fast the farm across hosts gets through a matrix, and what it costs per cell itself.

A private Redis on 127.0.0.1 (Debian's redis-server, as the tests start it), the two loopback
boards of tests/support/lab_kind.py (they measure with this host's worker), and tiny models: the matrix
is 2 models x 3 formats per device. Exports are built before the clock starts (a farm's
`submit` builds them first too). Then, for one worker (one board) and for two workers (two
boards, one worker each, in separate processes):

    cells per minute  cells stored / wall time from `submit` returning to the last cell stored
    overhead per cell (wall time of one worker's cells - the time its device spent in its
                      trials, lab_run_s) / cells: Celery's dispatch, opening the device, the
                      gate, the store's resume and writes. Target: under 0.2 s.

Two workers on two cores share the cores with their trials, so their cells per minute is not
twice the one-worker figure here; on a farm each worker has its own host.

    python benchmarks/farm_throughput.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
sys.path[:0] = [str(ROOT)]
MODELS = ",".join(f"{TESTS / 'tiny_models.py'}:{m}" for m in ("tiny_convnet", "slow_convnet"))
FORMATS = ["eager", "tflite", "onnx"]
TARGET_OVERHEAD_S = 0.2


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT),
            "HARNESS_DEVICE_KINDS": "tests.support.lab_kind:KIND"}


def write_farm(tmp: Path, broker: str, devices: list[str], name: str) -> Path:
    data = {"name": name, "devices": [{"name": d} for d in devices], "models": MODELS, "formats": FORMATS,
            "settings": {"trials": 1, "warmup": 2, "iterations": 20, "min_time": 0.2, "jobs": 1},
            "cell": {"timeout": 60, "retries": 0}, "broker": broker,
            "results": {"db": str(tmp / "h.db"), "cache": str(tmp / "cache"), "out": str(tmp / "out")}}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def stored(db: Path, run_ids: list[str]) -> list:
    from harness.store import Store

    with Store(db, readonly=True) as store:
        have = {r.id for r in store.runs()}
        return [rec for rid in run_ids if rid in have for rec in store.records(rid)]


def one_matrix(tmp: Path, broker: str, devices: list[str], name: str) -> dict:
    farm = write_farm(tmp, broker, devices, name)
    workers = [subprocess.Popen([sys.executable, "-m", "harness.cli", "farm", "worker", str(farm),
                                 "--device", d], env=env(), cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=open(tmp / f"worker-{name}-{d}.log", "w"), start_new_session=True)
               for d in devices]
    try:
        time.sleep(8)  # the workers import the harness and connect before the clock starts
        run = f"{name}-1"
        submit = subprocess.run([sys.executable, "-m", "harness.cli", "farm", "submit", str(farm), "--run", run],
                                env=env(), cwd=ROOT, capture_output=True, text=True)
        if submit.returncode != 0:
            raise SystemExit(f"submit failed: {submit.stdout}{submit.stderr}")
        started = time.monotonic()
        run_ids = [f"{run}-{d}" for d in devices]
        cells = 2 * len(FORMATS) * len(devices)
        while True:
            records = stored(tmp / "h.db", run_ids)
            if len(records) >= cells:
                break
            if time.monotonic() - started > 900:
                raise SystemExit(f"only {len(records)} of {cells} cells stored after 900 s; see {tmp}")
            time.sleep(0.1)
        wall = time.monotonic() - started
    finally:
        for w in workers:
            os.killpg(w.pid, signal.SIGTERM)
            w.wait(timeout=30)
    bad = [(r.model, r.format, r.reason) for r in records if r.status != "ok"]
    if bad:
        raise SystemExit(f"cells failed: {bad}")
    trial_s = sum(t.context["lab_run_s"] for r in records for t in r.trials)
    per_device_wall = wall  # the devices work in parallel; each did cells/len(devices) cells
    overhead = (per_device_wall * len(devices) - trial_s) / cells
    return {"cells": cells, "wall_s": wall, "cells_per_min": cells / wall * 60,
            "trial_s": trial_s, "overhead_s": overhead}


def main() -> int:
    from tests.support.redis_server import RedisServer

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="farm-throughput-") as tmp_dir:
        tmp = Path(tmp_dir)
        with RedisServer(tmp / "redis") as redis:
            # Build the exports once, outside the clock, through the same cache the workers read.
            warm = write_farm(tmp, redis.url, ["lab-a"], "warm")
            done = subprocess.run([sys.executable, "-m", "harness.cli", "farm", "submit", str(warm), "--run", "warm-0"],
                                  env=env(), cwd=ROOT, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"building the exports failed: {done.stdout}{done.stderr}")
            subprocess.run(["redis-cli", "-p", str(redis.port), "flushall"], capture_output=True)
            one = one_matrix(tmp, redis.url, ["lab-a"], "one")
            two = one_matrix(tmp, redis.url, ["lab-a", "lab-b"], "two")
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"matrix: 2 tiny models x {len(FORMATS)} formats per device, 1 trial of >= 0.2 s per cell")
    for label, r in (("1 worker ", one), ("2 workers", two)):
        print(f"{label}: {r['cells']} cells in {r['wall_s']:.1f} s = {r['cells_per_min']:.1f} cells/min; "
              f"trials {r['trial_s']:.1f} s; farm's own cost {r['overhead_s']:.3f} s per cell")
    verdict = "met" if one["overhead_s"] < TARGET_OVERHEAD_S else "NOT met"
    print(f"target: farm's own cost under {TARGET_OVERHEAD_S} s per cell (1 worker): {verdict}")
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    raise SystemExit(main())
