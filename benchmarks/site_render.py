"""How long `harness site` takes over a database holding whole-zoo host runs (target: 10 s).

    python benchmarks/site_render.py                  # builds a synthetic database, then times
    python benchmarks/site_render.py --db results/harness.db   # times a real database instead

THE RECORDS ARE SYNTHETIC. Measuring the whole zoo on this host takes hours per run, and the
figure wanted is the renderer's cost, which depends on how many runs, cells and samples the
database holds, not on what the samples say. So the database is filled through the Store's
public API (`begin_run`, `add_record`) with records built the way harness/run.py builds them
(a RunResult per trial, combined by `combine_trials`, statistics by `summarize_trials`, the
warnings by `measurement_warnings`): the 31 models of the zoo x every format x RUNS runs on
this host, with raw samples in the numbers a real run stores (3 trials of at least 50 samples
and 1 s each: 50 to 1,000 samples per trial), latencies scaled from each model's MACs, the
three Apple-only formats and the Android-GPU one `unsupported` as on a real Linux host, one cell
failing to export.
The git sha and harness version of each run are made up and say so.

It then runs `harness site --db DB --out DIR` in a fresh process, twice (the second render must
give the same bytes), and prints the wall time of each with the machine's load average.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from device_runners.contract import DeviceInfo, RunResult  # noqa: E402
from harness.bench.stats import measurement_warnings, summarize_trials  # noqa: E402
from harness.bench.trials import combine_trials  # noqa: E402
from harness.export.base import all_formats  # noqa: E402
from harness.store import RUN_COMPLETE, BenchmarkRecord, Store  # noqa: E402
from harness.zoo.index import zoo_index  # noqa: E402

RUNS = 3
TRIALS = 3
# Formats a Linux host cannot run: its cells are `unsupported`, with the runner's reason.
NOT_ON_THIS_HOST = {"coreml": "the coreml runtime runs on Apple platforms only",
                    "coreml-fp32": "the coreml runtime runs on Apple platforms only",
                    "executorch-coreml": "the coreml delegate runs on Apple platforms only",
                    "executorch-vulkan": "ExecuTorch's pip wheel has no Vulkan backend"}
# How much slower or faster each format runs than fp32 ExecuTorch (XNNPACK), roughly as on this
# host; the portable kernels have no delegate.
FORMAT_FACTOR = {"executorch": 1.0, "executorch-int8": 0.55, "executorch-portable": 9.0,
                 "tflite": 1.05, "tflite-fp16": 1.05, "tflite-int8": 0.6, "onnx": 1.2,
                 "eager": 2.5}


def _device() -> DeviceInfo:
    return DeviceInfo(device_id="host", platform="linux", product_model="synthetic-host",
                      soc="x86_64", cpu="AMD EPYC (synthetic)", os_version="Linux",
                      cpu_count=2, kind="host")


def _artifact(model: str, fmt, status: str = "ok", reason: str = "") -> dict:
    sha = hashlib.sha256(f"{model}/{fmt.name}".encode()).hexdigest()
    details = {}
    if fmt.runtime == "executorch" and fmt.backend == "xnnpack":
        details = {"delegation": {"backend": "XnnpackBackend", "delegated_nodes": 118,
                                  "total_nodes": 121, "not_delegated_ops": {"getitem": 3}}}
    elif fmt.name == "onnx":
        details = {"operators": {"Conv": 40, "Add": 20, "Gelu": 12}}
    numerics = None
    if status == "ok" and fmt.name not in NOT_ON_THIS_HOST:
        numerics = {"max_abs_error": 2e-5, "cosine": 0.999999 if fmt.precision == "fp32" else 0.995,
                    "top5_agreement": 1.0, "inputs": 3, "passed": True, "min_cosine": 0.99,
                    "min_top5": 0.8, "nonfinite": 0}
    return {"model": model, "format": fmt.name, "status": status, "cache_key": sha[:16],
            "path": f"/synthetic/{sha[:16]}{fmt.suffix}" if status == "ok" else None,
            "sha256": sha if status == "ok" else "", "size_bytes": 5_000_000 if status == "ok" else 0,
            "export_s": 12.0, "backend": fmt.backend, "precision": fmt.precision,
            "runtime": fmt.runtime, "exporter_versions": {"synthetic": "1"},
            "numerics": numerics, "details": details, "reason": reason, "cached": False,
            "notes": []}


def _model_info(entry) -> dict:
    pub = entry.published
    published = dataclasses.asdict(pub) if pub else None
    return {"family": entry.family, "input_size": entry.input_size,
            "params": int(pub.params_m * 1e6) if pub and pub.params_m else None,
            "macs": int(pub.macs_g * 1e9) if pub and pub.macs_g else None, "published": published}


def _trial(model, fmt, device, rng, base_ms, run_shift) -> RunResult:
    median = base_ms * run_shift * rng.uniform(0.98, 1.02)
    n = int(max(50, min(1000, 1000.0 / median)))
    samples = median * rng.lognormal(0.0, 0.03, n)
    return RunResult(
        model=model, format=fmt.name, status="ok", device=device, runtime=fmt.runtime,
        backend=fmt.backend, precision=fmt.precision, runtime_versions={"synthetic": "1"},
        threads=1, load_ms=float(base_ms * 8 + 20), first_inference_ms=float(median * 3),
        warmup_samples_ms=tuple(float(v) for v in samples[:10] * 1.1),
        samples_ms=tuple(float(v) for v in samples),
        peak_rss_load_kb=60_000, peak_rss_inference_kb=64_000,
        context={"rss_before_load_kb": 40_000, "runtime_import_ms": 150.0, "synthetic": True})


def fill(db: Path, runs: int = RUNS, seed: int = 0) -> int:
    """A database of `runs` synthetic whole-zoo host runs; returns the number of records."""
    rng = np.random.default_rng(seed)
    device = _device()
    formats = all_formats()
    entries = zoo_index()
    stored = 0
    with Store(db) as store:
        for run_index in range(runs):
            run_id = store.begin_run(
                device=dataclasses.asdict(device),
                config={"bench": {"threads": 1, "cpu_affinity": None, "trials": TRIALS,
                                  "warmup_iterations": 10, "min_iterations": 50,
                                  "min_duration_s": 1.0},
                        "models": [e.name for e in entries], "formats": [f.name for f in formats],
                        "synthetic": True},
                argv="benchmarks/site_render.py (synthetic records)",
                git_sha=f"synthetic{run_index:031d}", harness_version="synthetic",
                run_id=f"synthetic-run-{run_index + 1}")
            shift = 1.0 + 0.04 * run_index  # each run a little slower: the history shows it
            for entry in entries:
                info = _model_info(entry)
                base = 2.0 + 18.0 * (entry.published.macs_g if entry.published and
                                     entry.published.macs_g else 1.0)
                for fmt in formats:
                    if fmt.name in NOT_ON_THIS_HOST:
                        record = BenchmarkRecord(
                            run_id=run_id, model=entry.name, format=fmt.name, device_id="host",
                            status="unsupported", artifact=_artifact(entry.name, fmt),
                            model_info=info, reason=NOT_ON_THIS_HOST[fmt.name])
                    elif entry.name == "mobileformer_26m" and fmt.name == "tflite-int8":
                        record = BenchmarkRecord(
                            run_id=run_id, model=entry.name, format=fmt.name, device_id="host",
                            status="export_failed", model_info=info,
                            artifact=_artifact(entry.name, fmt, "export_failed", "synthetic failure"),
                            reason="synthetic failure: the converter rejected an operator")
                    else:
                        trials = [_trial(entry.name, fmt, device, rng,
                                         base * FORMAT_FACTOR[fmt.name], shift)
                                  for _ in range(TRIALS)]
                        result = combine_trials(trials, TRIALS)
                        stats = summarize_trials([t.samples_ms for t in trials])
                        record = BenchmarkRecord(
                            run_id=run_id, model=entry.name, format=fmt.name, device_id="host",
                            status="ok", reason="", artifact=_artifact(entry.name, fmt),
                            model_info=info, result=result, stats=stats,
                            warnings=tuple(measurement_warnings(stats, result, trials)),
                            trials=tuple(trials))
                    store.add_record(record)
                    stored += 1
            store.finish_run(run_id, RUN_COMPLETE)
            time.sleep(1.1)  # distinct start times, in order
    return stored


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="time this database instead of a synthetic one")
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        db = args.db
        if db is None:
            db = tmp / "synthetic.db"
            started = time.perf_counter()
            n = fill(db, args.runs)
            print(f"synthetic database: {n} records ({args.runs} runs x {len(zoo_index())} models "
                  f"x {len(all_formats())} formats) in {time.perf_counter() - started:.0f} s, "
                  f"{db.stat().st_size / 1e6:.0f} MB")
        times, trees = [], []
        for i in range(2):
            out = tmp / f"site{i}"
            started = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "harness.cli", "site", "--db", str(db),
                                   "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
            times.append(time.perf_counter() - started)
            if proc.returncode:
                print(proc.stdout, proc.stderr)
                return 1
            trees.append(_tree_bytes(out))
        size = sum(len(b) for b in trees[0].values())
        load = os.getloadavg()
        print(f"harness site: {times[0]:.1f} s, then {times[1]:.1f} s (target 10 s), "
              f"{len(trees[0])} files, {size / 1e6:.1f} MB; the two renders "
              f"{'are identical' if trees[0] == trees[1] else 'DIFFER'}; load average "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
        return 0 if trees[0] == trees[1] else 1


if __name__ == "__main__":
    sys.exit(main())
