"""How long the read-only commands take on a database the size of a nightly farm's.

Builds, in a temporary directory, a database of 1,000 records of 3 trials of 2,000 timed samples
(and 20 warm-up samples) each: 10 runs of 100 cells (50 models in 2 formats), two runs on each
of 5 devices, the second with 10 cells 20% slower. Records go in through `Store.add_record`, as
`harness run` stores them, from synthetic results (no model runs). Then times each command as a
user runs it, a fresh `python -m harness.cli` process, so imports count, and prints the median of
`--repeat` runs beside its target:

    harness report                 the leaderboard of the newest record of every cell   <= 3 s
    harness show RUN               one run of 100 records                                <= 0.5 s
    harness compare RUN_A RUN_B    two runs of one device, 100 cells in common          <= 1 s

and, without a target, `harness --help` (the interpreter, click and the harness's imports: what
every command pays before it reads anything), `show --recompute` (every figure recomputed from
60 MB of samples), and `Store.records()` / `latest_records()` in this process. Exits 1 when a
command misses its target. Run it on a quiet machine; it prints the load average.

`--db postgresql://...` builds the database in an empty PostgreSQL database instead of an SQLite
file (docs/store.md), and times the same commands reading it over the network connection;
`python -m tests.support.pg_server` starts a private server and prints such a URL.

    python benchmarks/store_scale.py [--records 1000] [--trials 3] [--samples 2000] [--repeat 3]
                                     [--keep DIR] [--db URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEVICES = 5
CELLS_PER_RUN = 100
FORMATS = ("executorch", "tflite")
SLOWED_CELLS = 10  # in the second run of each device, by SLOWDOWN
SLOWDOWN = 1.2
TARGETS_S = {"report": 3.0, "show": 0.5, "compare": 1.0}


def synthetic_record(run_id: str, device: str, model: str, fmt: str, trials: int, samples: int,
                     base: float, rng: np.random.Generator):
    """One cell as `harness run` would store it: `trials` results of samples around `base` ms
    (2% lognormal noise), and their statistics."""
    from device_runners.contract import DeviceInfo, EnergyInfo, RunResult, ThermalInfo
    from harness.bench.stats import summarize_trials
    from harness.bench.trials import combine_trials
    from harness.store import BenchmarkRecord

    info = DeviceInfo(device, "android", product_model="Pixel 8", soc="Tensor G3", cpu_count=9,
                      kind="android")
    results = [
        RunResult(model=model, format=fmt, status="ok", device=info, runtime=fmt, threads=1,
                  runtime_versions={fmt: "1.0"}, load_ms=float(rng.uniform(5, 50)),
                  first_inference_ms=base * 1.5,
                  warmup_samples_ms=tuple((base * rng.lognormal(0.05, 0.05, 20)).tolist()),
                  samples_ms=tuple((base * rng.lognormal(0.0, 0.02, samples)).tolist()),
                  peak_rss_load_kb=40_000, peak_rss_inference_kb=52_000,
                  energy=EnergyInfo("odpm", joules_per_inference=0.01, avg_power_w=2.5,
                                    duration_s=5.0),
                  thermal=ThermalInfo("none", "light", 38.0, 41.0),
                  context={"loadavg_before": {"1min": 0.3}, "pid": t,
                           "warmup": {"mode": "count", "iterations": 20}})
        for t in range(trials)]
    return BenchmarkRecord(
        run_id=run_id, model=model, format=fmt, device_id=device, status="ok", reason="",
        artifact={"sha256": f"{model}-{fmt}", "model": model, "format": fmt, "status": "ok"},
        model_info={"params": 5_000_000, "macs": 600_000_000, "family": "synthetic"},
        result=combine_trials(results), trials=tuple(results),
        stats=summarize_trials([r.samples_ms for r in results]))


def build(db: Path | str, records: int, trials: int, samples: int) -> dict:
    """The database; returns the ids of the runs, by device, in order."""
    from harness.store import Store

    runs_count = records // CELLS_PER_RUN
    models = [f"model_{i:02d}" for i in range(CELLS_PER_RUN // len(FORMATS))]
    rng = np.random.default_rng(0)
    runs: dict[str, list[str]] = {}
    with Store(db) as store:
        if store.runs():
            raise SystemExit(f"{store.location} holds runs already; give --db an empty database.")
        # Each record is still its own transaction; this only spares the fsync of each commit,
        # which measures the disk, not the harness (a server's is its own configuration).
        if store.dialect == "sqlite":
            store.conn.execute("PRAGMA synchronous=NORMAL")
        for r in range(runs_count):
            device = f"phone-{r % DEVICES}"
            second = device in runs
            run_id = store.begin_run({"device_id": device, "platform": "android"}, {},
                                     "harness run (synthetic)", None, "0.1",
                                     run_id=f"20260101-{r:06d}-{r:04x}")
            for cell, (model, fmt) in enumerate((m, f) for m in models for f in FORMATS):
                # A cell's latency depends on the cell only, so a device's two runs agree on it
                # but for the cells slowed in the second; the noise is each run's own.
                base = float(np.random.default_rng([r % DEVICES, cell]).uniform(1.0, 40.0))
                if second and cell < SLOWED_CELLS:
                    base *= SLOWDOWN
                store.add_record(synthetic_record(run_id, device, model, fmt, trials, samples,
                                                  base, rng))
            store.finish_run(run_id)
            runs.setdefault(device, []).append(run_id)
    return runs


def time_command(args: list[str], repeat: int, ok_codes=(0,)) -> list[float]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "harness.cli", *args], env=env,
                              capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        if proc.returncode not in ok_codes:
            raise SystemExit(f"`harness {' '.join(args)}` exited {proc.returncode}:\n"
                             f"{proc.stderr[-2000:] or proc.stdout[-2000:]}")
    return times


def database_mb(db: Path | str, where: Path) -> float:
    """The database's size on disk: the SQLite file and its WAL, or the server's database."""
    if isinstance(db, Path):
        return sum(p.stat().st_size for p in where.glob("harness.db*")) / 1e6
    import psycopg

    with psycopg.connect(db) as conn:
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 1e6


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--samples", type=int, default=2000, help="timed samples per trial")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command")
    parser.add_argument("--keep", type=Path, default=None, help="build the database here, and keep it")
    parser.add_argument("--db", default=None, metavar="URL",
                        help="an empty PostgreSQL database (postgresql://...) to build it in instead")
    args = parser.parse_args()
    if args.records % CELLS_PER_RUN or args.records // CELLS_PER_RUN < 2 * DEVICES:
        parser.error(f"--records must be a multiple of {CELLS_PER_RUN}, at least {2 * DEVICES * CELLS_PER_RUN}.")

    print(f"load average at start: {load()} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="harness-store-scale-") as tmp:
        where = args.keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        db = args.db or where / "harness.db"
        if args.db is None and db.exists():
            raise SystemExit(f"{db} exists already; give --keep an empty directory.")
        start = time.perf_counter()
        runs = build(db, args.records, args.trials, args.samples)
        built_s = time.perf_counter() - start
        size_mb = database_mb(db, where)
        print(f"backend: {'PostgreSQL' if args.db else 'SQLite'}")
        n = args.records * args.trials * args.samples
        print(f"database: {args.records} records x {args.trials} trials x {args.samples} samples "
              f"({n:,} timed samples), {sum(map(len, runs.values()))} runs of {CELLS_PER_RUN} "
              f"cells on {DEVICES} devices; {size_mb:.1f} MB; built in {built_s:.0f} s")

        run_a, run_b = runs["phone-0"][:2]
        db_arg = ["--db", str(db)]
        rows = [
            ("harness --help (startup and imports)", None, ["--help"], (0,)),
            (f"harness report ({DEVICES * CELLS_PER_RUN} cells)", "report",
             ["report", "--out", str(where / "leaderboard.md"), *db_arg], (0,)),
            (f"harness show RUN ({CELLS_PER_RUN} records)", "show", ["show", run_b, *db_arg], (0,)),
            (f"harness compare A B ({CELLS_PER_RUN} cells)", "compare",
             ["compare", run_a, run_b, *db_arg], (0, 3)),  # 3: some cells got slower
            ("harness show RUN --recompute", None, ["show", run_b, "--recompute", *db_arg], (0,)),
        ]
        missed = []
        print(f"\n{'command':<42} {'median':>8} {'runs (s)':<22} target")
        for label, target_key, argv, ok in rows:
            times = time_command(argv, args.repeat, ok)
            median = statistics.median(times)
            target = TARGETS_S.get(target_key)
            verdict = ""
            if target is not None:
                verdict = f"<= {target:g} s " + ("ok" if median <= target else "MISSED")
                if median > target:
                    missed.append(label)
            runs_text = " ".join(f"{t:.2f}" for t in times)
            print(f"{label:<42} {median:>6.2f} s {runs_text:<22} {verdict}")

        from harness.store import Store

        with Store(db, readonly=True) as store:
            start = time.perf_counter()
            store.records(run_b)
            one_run = time.perf_counter() - start
            start = time.perf_counter()
            latest = store.latest_records()
            every = time.perf_counter() - start
        print(f"\nin this process: Store.records(run) of {CELLS_PER_RUN} records {one_run:.3f} s; "
              f"latest_records() of {len(latest)} cells {every:.3f} s")
    print(f"load average at end: {load()}")
    if missed:
        print(f"Missed: {', '.join(missed)}.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
