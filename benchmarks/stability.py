"""How far apart separate invocations of `harness run` land on the same model.

Runs one model in N separate `harness run` processes, one after another, each with the
harness's own defaults unless told otherwise, into a private database. The default is
mobileformer_26m in ExecuTorch (26M MACs; at present 10-30 ms here, because part of it stays
outside the XNNPACK delegate); `--model tests/tiny_models.py:slow_convnet` is a 0.8 ms model. Prints every invocation's median,
95% CI and CI width, then the spread of the medians: (highest - lowest) / median of medians.
Exits 1 when the spread is above the target (3%).

This is the figure ExecuTorch's device-farm benchmarks failed (run-to-run differences above
10%), and the reason `harness compare` calls nothing below 5% a change. Run it on a quiet
machine: other processes competing for the cores are exactly what it detects.

    python benchmarks/stability.py [--model NAME|file.py:factory] [--format executorch] [--invocations 5]
                                   [--trials 3] [--min-time 1.0] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET_SPREAD = 0.03
ROOT = Path(__file__).resolve().parent.parent


def absolute_reference(model: str) -> str:
    """A `file.py:factory` model reference that still points at the file from another directory."""
    path, sep, factory = model.rpartition(":")
    if sep and path.endswith(".py"):
        return f"{Path(path).resolve()}:{factory}"
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobileformer_26m")
    parser.add_argument("--format", default="executorch")
    parser.add_argument("--invocations", type=int, default=5)
    parser.add_argument("--trials", type=int, default=3, help="trials per invocation")
    parser.add_argument("--min-time", type=float, default=1.0, help="timed seconds per trial")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache-dir", default=None, help="artifact cache (default: the harness's)")
    args = parser.parse_args()

    from harness.export.cache import default_cache_dir
    from harness.store import Store

    # Resolved here: the invocations run in a temporary directory, and the default cache path
    # is relative. The artifact is exported once, by the first invocation, or found cached.
    cache_dir = Path(args.cache_dir or default_cache_dir()).resolve()
    with tempfile.TemporaryDirectory(prefix="harness-stability-") as tmp:
        db = Path(tmp) / "stability.db"
        argv = [sys.executable, "-m", "harness.cli", "run", "--models", absolute_reference(args.model),
                "--formats", args.format, "--trials", str(args.trials),
                "--min-time", str(args.min_time), "--threads", str(args.threads),
                "--db", str(db), "--cache-dir", str(cache_dir),
                "--leaderboard", str(Path(tmp) / "leaderboard.md")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
        medians, widths, intervals, within = [], [], [], []
        for i in range(args.invocations):
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=tmp)
            if proc.returncode != 0:
                print(f"invocation {i + 1} failed:\n{proc.stderr[-2000:]}")
                return 1
            with Store(db) as store:
                [record] = store.records(store.get_run("latest").id)
            if record.stats is None:
                print(f"invocation {i + 1}: {record.status}: {record.reason}")
                return 1
            s = record.stats
            medians.append(s.median)
            widths.append(s.ci_width_fraction)
            intervals.append((s.ci_low, s.ci_high))
            within.append((s.within_ci_low if s.within_ci_low is not None else s.ci_low,
                           s.within_ci_high if s.within_ci_high is not None else s.ci_high))
            spread = f"{s.trial_spread:.1%}" if s.trial_spread is not None else "n/a"
            # The machine's load just before: what explains a median that lands apart.
            load = record.trial_results[0].context.get("loadavg_before", {}).get("1min")
            print(f"invocation {i + 1}: median {s.median:.4f} ms  95% CI [{s.ci_low:.4f}, "
                  f"{s.ci_high:.4f}]  CI width {s.ci_width_fraction:.2%}  trial spread {spread}"
                  f"  n {s.n}  load {load if load is not None else 'n/a'}"
                  + ("  (unstable)" if record.unstable else ""))
            for warning in record.warnings:
                print(f"    {warning}")

    center = statistics.median(medians)
    spread = (max(medians) - min(medians)) / center
    print(f"\n{args.model} / {args.format}, {args.threads} thread(s), {args.invocations} invocations"
          f" of {args.trials} trial(s) x {args.min_time:g} s")
    print(f"median of medians   {center:.4f} ms")
    print(f"spread of medians   {spread:.2%}  (target <= {TARGET_SPREAD:.0%})")
    print(f"CI widths           {min(widths):.2%} .. {max(widths):.2%} of the median")
    # Does one invocation's interval hold the next one's median? The interval between sessions
    # (printed beside every median) should, about 95% of the time; the within-session one,
    # from the pooled samples as if they were independent, mostly does not.
    pairs = list(zip(range(len(medians)), range(1, len(medians))))
    held = sum(intervals[a][0] <= medians[b] <= intervals[a][1] for a, b in pairs)
    held_within = sum(within[a][0] <= medians[b] <= within[a][1] for a, b in pairs)
    print(f"next median held    by the interval between sessions: {held} of {len(pairs)}; "
          f"by the within-session interval: {held_within} of {len(pairs)}")
    return 0 if spread <= TARGET_SPREAD else 1


if __name__ == "__main__":
    sys.exit(main())
