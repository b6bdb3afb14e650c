"""Export the zoo to every format twice: a cold pass into an empty cache, then a cached pass.

Prints, per format, how many cells are ok / numerics_failed / failed and their export seconds
(each cell's own, stored with its artifact), every failed cell's one-line reason, and the cached
pass's time as a share of the cells' cold export time (so a matrix filled by earlier invocations
into `--cache-dir` is judged the same way). Exits 1 when a cell fails in a way no pinned known limit
(harness/export/known_limits.py) explains, or when that share is above the target (5%): a cached pass must only hash
sources and read metadata, never build a model or run a converter. A cell whose model or
exporter source changed while the first pass ran is exported again, as the cache must; it is
listed, and its time is not counted as the cache's.

    python benchmarks/export_matrix.py [--models all] [--formats all] [--cache-dir DIR]
    python benchmarks/export_matrix.py --jobs 1,2 [--models ...] [--formats ...]

Without --cache-dir the cache is a fresh temporary directory, removed at the end. Full traces of
converter errors go to the log file named at the end.

With `--jobs 1,2` it measures instead what parallel exports buy: the same cold matrix built the
way `harness export --jobs N` builds it (one child process per model, N at a time) into a fresh
cache per N, and each one's wall time beside the one-job time.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

TARGET_SHARE = 0.05


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/export_matrix.py")
    parser.add_argument("--models", default="all")
    parser.add_argument("--formats", default="all")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="Cache to fill (must be empty for a cold first pass); default: a temporary one.")
    parser.add_argument("--log", type=Path, default=Path("results") / "logs" / "export-matrix.log")
    parser.add_argument("--jobs", default=None,
                        help="Comma list of job counts to compare cold matrix times for, e.g. 1,2.")
    args = parser.parse_args(argv)
    if args.jobs:
        return compare_jobs(args, [int(j) for j in args.jobs.split(",")])

    from harness.export.base import resolve_formats
    from harness.export.cache import ArtifactCache
    from harness.export.pipeline import export_matrix
    from harness.report.export_matrix import format_totals, summary_line, unexplained
    from harness.zoo import resolve_models

    args.log.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(args.log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)  # converters' warnings too, not the terminal
    logging.getLogger("harness").setLevel(logging.INFO)
    logging.captureWarnings(True)

    specs = resolve_models(args.models)
    formats = resolve_formats(args.formats)
    temporary = tempfile.TemporaryDirectory(prefix="export-matrix-") if args.cache_dir is None else None
    cache = ArtifactCache(args.cache_dir or Path(temporary.name))
    if cache.listing():
        print(f"note: {cache.root} is not empty; cells already in it are served from it, and their "
              "export times are the ones stored when they were built", file=sys.stderr)
    cells = len(specs) * len(formats)
    print(f"{len(specs)} models x {len(formats)} formats = {cells} cells, cache {cache.root}", flush=True)

    def progress(artifact):
        print(f"  {artifact.model:<24} {artifact.format:<20} {artifact.status:<16} "
              f"{artifact.export_s:7.1f} s  {artifact.reason}", flush=True)

    t0 = time.perf_counter()
    first = export_matrix(specs, formats, cache, on_cell=progress)
    first_s = time.perf_counter() - t0
    # Each cell's time in the cached pass, so cells exported again (their model or exporter
    # source changed while the first pass ran) are told apart from the cache's own cost.
    second_cell_s: list[float] = []
    last = [time.perf_counter()]

    def clock(artifact):
        now = time.perf_counter()
        second_cell_s.append(now - last[0])
        last[0] = now

    t0 = last[0] = time.perf_counter()
    second = export_matrix(specs, formats, cache, on_cell=clock)
    second_s = time.perf_counter() - t0

    print(f"\n{'format':<22}{'ok':>5}{'numerics':>10}{'failed':>8}{'export s':>11}")
    for t in format_totals(first):
        print(f"{t.format:<22}{t.ok:>5}{t.numerics_failed:>10}{t.failed:>8}{t.export_s:>11.1f}")
    failures = [a for a in first if a.status != "ok"]
    new = unexplained(first)
    if failures:
        print("\nCells that are not ok (pinned: a known limit in harness/export/known_limits.py):")
        for a in failures:
            mark = "NEW" if a in new else "pinned"
            print(f"  [{mark}] {a.model} / {a.format}: {a.status}: {a.reason}")
    hits_s = sum(t for t, a in zip(second_cell_s, second) if a.cached)
    rebuilt = [(a, t) for t, a in zip(second_cell_s, second) if not a.cached]
    # The cold cost is what every cell's export took when it was built (stored with the
    # artifact), so a matrix filled over several invocations is judged like a cold one.
    cold_s = sum(a.export_s for a in first)
    share = hits_s / cold_s if cold_s else 0.0
    cached_first = sum(a.cached for a in first)
    print(f"\nfirst pass {first_s:.1f} s ({summary_line(first)}); the cells' own export times "
          f"add up to {cold_s:.1f} s" + (f" ({cached_first} were already cached)" if cached_first else ""))
    print(f"cached pass {second_s:.2f} s; its {len(second) - len(rebuilt)} cache hits took {hits_s:.2f} s "
          f"= {share:.2%} of the cold export time (target <= {TARGET_SHARE:.0%})")
    for a, t in rebuilt:
        print(f"  exported again ({t:.1f} s): {a.model} / {a.format}: a source or exporter changed "
              "during the first pass (see `harness cache ls`)")
    print(f"log {args.log}")
    if new:
        print(f"{len(new)} cell(s) failed in a way no known limit explains: see above and the log")
    if temporary is not None:
        temporary.cleanup()
    return 0 if share <= TARGET_SHARE and not new else 1


def compare_jobs(args, jobs_list: list[int]) -> int:
    """Cold matrix wall time per job count, each into a fresh cache, as `harness export` builds."""
    from harness.export.base import resolve_formats
    from harness.export.cache import ArtifactCache
    from harness.export.isolated import ChildLimits, default_memory_limit, export_all
    from harness.report.export_matrix import summary_line
    from harness.zoo import resolve_models

    specs = resolve_models(args.models)
    formats = resolve_formats(args.formats)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    print(f"{len(specs)} models x {len(formats)} formats, cold, one child process per model")
    walls = {}
    for jobs in jobs_list:
        with tempfile.TemporaryDirectory(prefix=f"export-jobs{jobs}-") as tmp:
            limits = ChildLimits(memory_limit_bytes=(default_memory_limit() or 0) // jobs or None)
            t0 = time.perf_counter()
            done = export_all(specs, lambda spec: formats, ArtifactCache(tmp), jobs=jobs,
                              limits=limits, log_path=args.log)
            walls[jobs] = time.perf_counter() - t0
            artifacts = [a for e in done.values() for a in e.artifacts.values()]
            print(f"--jobs {jobs}: {walls[jobs]:.1f} s wall ({summary_line(artifacts)}); "
                  f"the cells' own export times add up to {sum(a.export_s for a in artifacts):.1f} s",
                  flush=True)
    base = walls[jobs_list[0]]
    for jobs in jobs_list[1:]:
        print(f"--jobs {jobs} against --jobs {jobs_list[0]}: {base / walls[jobs]:.2f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
