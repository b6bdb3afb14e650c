"""Do the verdicts cry wolf? Synthetic sessions through the real store, `compare` and farm code.

Every cell is measured as a phone measures it: `--trials` trials of 300 samples each, lognormal
noise of 3% within a trial, and a lognormal offset per trial (the session: fresh clocks, heat,
background) of the sd given. Records are stored as `harness run` stores them (statistics with the
device's spread from the cells stored before, harness.bench.sessions), then judged by the code the
CLI runs: `compare_runs` and the farm's `check_run`. Printed, per setting:

    compare     the share of unchanged cells called slower or faster (target at 6%, 3 trials:
                at most 2%), and the share of 25% slowdowns caught (target at least 75%)
    coverage    how often one invocation's 95% interval holds the next invocation's median
                (target with 5 trials or more: at least 90%)
    farm        with 7 nights of history: the share of nights an unchanged cell is flagged
                (target at most 1% at 6% and 10% offsets), and how often a 15% step is caught
                within two nights (target at least 90% at 6%; at 10% printed)
    trends      how the nights' series are told apart: a step, a one-night blip, a slow creep

    python benchmarks/verdicts.py            # about 3 minutes on 2 cores
    python benchmarks/verdicts.py --quick    # fewer cells, coarser figures
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from device_runners.contract import DeviceInfo, RunResult  # noqa: E402
from harness.bench.stats import summarize_trials  # noqa: E402
from harness.bench.trials import combine_trials  # noqa: E402
from harness.farm.config import parse_farm  # noqa: E402
from harness.farm.regression import check_run  # noqa: E402
from harness.report.compare import FASTER, SLOWER, compare_runs  # noqa: E402
from harness.store import BenchmarkRecord, Store  # noqa: E402

SAMPLES = 300
WITHIN = 0.03
DEVICE = {"device_id": "sim-phone", "platform": "android"}


def trial(rng, latency_ms: float, offset_sd: float) -> RunResult:
    offset = rng.normal(0.0, offset_sd)
    samples = latency_ms * np.exp(offset + rng.normal(0.0, WITHIN, SAMPLES))
    return RunResult(model="m", format="executorch", status="ok", device=DeviceInfo("sim-phone", "android"),
                     load_ms=5.0, first_inference_ms=latency_ms, samples_ms=tuple(float(v) for v in samples),
                     runtime="executorch", runtime_versions={"executorch": "1.5.1"}, threads=1)


def store_cell(store: Store, run_id: str, model: str, trials: list[RunResult]) -> None:
    """As harness.run stores a cell: its trials combined, its figures with the device's spread."""
    trials = [dataclasses.replace(t, model=model) for t in trials]
    prior = store.session_prior(DEVICE["device_id"], 1, None)
    stats = summarize_trials([t.samples_ms for t in trials], prior=prior)
    store.add_record(BenchmarkRecord(run_id=run_id, model=model, format="executorch",
                                     device_id=DEVICE["device_id"], status="ok", reason="",
                                     artifact={"sha256": "x"}, model_info={}, trials=tuple(trials),
                                     result=combine_trials(trials), stats=stats))


def measure_run(store: Store, rng, latencies: dict[str, float], trials: int, offset_sd: float,
                config: dict | None = None) -> str:
    run = store.begin_run(DEVICE, {"bench": {"threads": 1, "cpu_affinity": None, "trials": trials},
                                   **(config or {})}, "benchmarks/verdicts.py", "abc", "0")
    for model, ms in latencies.items():
        store_cell(store, run, model, [trial(rng, ms, offset_sd) for _ in range(trials)])
    store.finish_run(run)
    return run


def compare_figures(root: Path, rng, cells: int, offset_sd: float, trials: int = 3) -> tuple[float, float]:
    """(share of unchanged cells flagged, share of 25% slowdowns caught)."""
    with Store(root / f"compare-{offset_sd}.db") as store:
        base = {f"m{i}": float(rng.uniform(1.0, 30.0)) for i in range(cells)}
        a = measure_run(store, rng, base, trials, offset_sd)
        same = measure_run(store, rng, base, trials, offset_sd)
        slow = measure_run(store, rng, {m: ms * 1.25 for m, ms in base.items()}, trials, offset_sd)
        unchanged = compare_runs(store, a, same)
        slower = compare_runs(store, a, slow)
    flagged = sum(c.verdict in (SLOWER, FASTER) for c in unchanged.cells) / cells
    caught = sum(c.verdict == SLOWER for c in slower.cells) / cells
    return flagged, caught


def coverage(root: Path, rng, cells: int, offset_sd: float, trials: int) -> float:
    """How often one invocation's interval holds the next invocation's median."""
    with Store(root / f"coverage-{offset_sd}-{trials}.db") as store:
        base = {f"m{i}": float(rng.uniform(1.0, 30.0)) for i in range(cells)}
        first = measure_run(store, rng, base, trials, offset_sd)
        second = measure_run(store, rng, base, trials, offset_sd)
        a = {r.model: r for r in store.records(first)}
        b = {r.model: r for r in store.records(second)}
    held = [a[m].stats.ci_low <= b[m].stats.median <= a[m].stats.ci_high for m in base]
    return sum(held) / len(held)


def farm_figures(root: Path, rng, cells: int, offset_sd: float, history: int = 7, nights: int = 6,
                 step: float = 0.15) -> tuple[float, float, dict]:
    """(share of unchanged nights flagged, share of steps caught within two nights, trends)."""
    config = parse_farm({"name": "sim", "devices": [{"name": "sim-phone"}], "models": "m",
                         "baseline": {"rolling": history}})
    base = {f"m{i}": float(rng.uniform(1.0, 30.0)) for i in range(cells)}
    stepped = {m for i, m in enumerate(base) if i % 2 == 0}  # half the cells step
    with Store(root / f"farm-{offset_sd}.db") as store:
        runs = []
        for night in range(history + nights):
            latencies = {m: ms * ((1 + step) if (m in stepped and night >= history) else 1.0)
                         for m, ms in base.items()}
            farm = {"farm": {"name": "sim", "run": f"night-{night:02d}", "device": "sim-phone"}}
            runs.append(measure_run(store, rng, latencies, 3, offset_sd, farm))
        verdicts = {}
        for night in range(history, history + nights):
            _, cells_judged = check_run(store, config, "sim-phone", runs[night])
            verdicts[night] = {v.model: v for v in cells_judged}
    unchanged = [verdicts[n][m].verdict in (SLOWER, FASTER) for n in verdicts for m in base if m not in stepped]
    caught = [verdicts[history][m].verdict == SLOWER or verdicts[history + 1][m].verdict == SLOWER
              for m in stepped]
    last = verdicts[history + nights - 1]
    trends = {kind: sum(last[m].trend == kind for m in stepped) for kind in ("step", "creep", "blip")}
    trends["unchanged cells with a trend"] = sum(bool(last[m].trend) for m in base if m not in stepped)
    return Share(sum(unchanged), len(unchanged)), Share(sum(caught), len(caught)), trends


@dataclasses.dataclass(frozen=True)
class Share:
    """k of n, printed with its 95% Clopper-Pearson interval: a share measured on a few hundred
    nights moves by half a percent from one seed to the next, and the reader should see that."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n

    def __str__(self) -> str:
        from scipy.stats import beta

        low = beta.ppf(0.025, self.k, self.n - self.k + 1) if self.k else 0.0
        high = beta.ppf(0.975, self.k + 1, self.n - self.k) if self.k < self.n else 1.0
        return f"{self.value:.2%} ({self.k} of {self.n}, 95% CI {low:.1%}-{high:.1%})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cells: a minute, coarser figures")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    cells = 40 if args.quick else 120
    failed = []

    def target(ok: bool, text: str) -> str:
        if not ok:
            failed.append(text)
        return "ok" if ok else "MISSED"

    with tempfile.TemporaryDirectory(prefix="verdicts-") as tmp:
        root = Path(tmp)
        print(f"compare: {cells} cells a run, 3 trials of {SAMPLES} samples, {WITHIN:.0%} noise within a trial")
        print(f"  {'offset sd':>9}  {'unchanged flagged':>17}  {'25% slowdowns caught':>20}")
        for sd in (0.0, 0.03, 0.06, 0.10, 0.12):
            flagged, caught = compare_figures(root, rng, cells, sd)
            mark = ""
            if sd == 0.06:
                mark = (f"  targets: <= 2% {target(flagged <= 0.02, 'compare false positives at 6%')}, "
                        f">= 75% {target(caught >= 0.75, 'compare catches at 6%')}")
            print(f"  {sd:>9.0%}  {flagged:>17.1%}  {caught:>20.1%}{mark}")
        print("coverage: one invocation's 95% interval holding the next invocation's median (6% offsets)")
        for trials in (3, 5, 7):
            share = coverage(root, rng, cells, 0.06, trials)
            mark = f"  target >= 90% {target(share >= 0.90, f'coverage with {trials} trials')}" if trials >= 5 else ""
            print(f"  {trials} trials: {share:.1%}{mark}")
        farm_cells = 2 * cells  # the false-night share is small: it needs many nights to measure
        print(f"farm: {farm_cells} cells, 7 nights of history, then 6 nights judged; half the cells "
              "step up 15% on the first")
        for sd in (0.06, 0.10):
            false_rate, caught, trends = farm_figures(root, rng, farm_cells, sd)
            if sd == 0.06:
                mark = (f"  targets: <= 1% {target(false_rate.value <= 0.01, 'farm false nights at 6%')}, "
                        f">= 90% {target(caught.value >= 0.90, 'farm steps caught at 6%')}")
            else:
                mark = f"  target <= 1% {target(false_rate.value <= 0.01, 'farm false nights at 10%')} (steps: printed)"
            print(f"  offsets {sd:.0%}:{mark}")
            print(f"    unchanged nights flagged {false_rate}")
            print(f"    15% steps caught within two nights {caught}")
            print(f"    on the last night, of the stepped cells: {trends}")
    print("all targets met" if not failed else f"targets missed: {', '.join(failed)}")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
