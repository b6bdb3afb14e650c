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

Without --cache-dir the cache is a fresh temporary directory, removed at the end. Full traces of
converter errors go to the log file named at the end.
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
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
