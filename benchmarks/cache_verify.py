"""What verifying a cached artifact costs: every cache hit hashes the file again (sha256).

Prints, for the largest artifact in the cache (exporting the zoo's largest model, convnext_tiny,
to `executorch-portable` first when the cache holds nothing of 50 MB or more): its size, the
median time of 5 hashes of it and the throughput, that time beside the artifact's own cold export
time, and the time `harness cache verify` takes over the whole cache.

    python benchmarks/cache_verify.py [--cache-dir results/cache] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

BIG_ENOUGH = 50e6
FALLBACK = ("convnext_tiny", "executorch-portable")  # 28.6M fp32 weights, no delegate packing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from harness.export.base import get_format
    from harness.export.cache import ArtifactCache, default_cache_dir, sha256_of
    from harness.export.pipeline import export_artifact, lazy_model
    from harness.zoo import get_spec

    cache = ArtifactCache(args.cache_dir or default_cache_dir())
    entries = [e for e in cache.listing() if e.artifact.path and not e.problem]
    if not entries or max(e.artifact.size_bytes for e in entries) < BIG_ENOUGH:
        model, fmt = FALLBACK
        print(f"exporting {model} to {fmt} into {cache.root} (the cache has no artifact of "
              f"{BIG_ENOUGH / 1e6:.0f} MB or more)...", flush=True)
        spec = get_spec(model)
        export_artifact(spec, get_format(fmt), cache, lazy_model(spec))
        entries = [e for e in cache.listing() if e.artifact.path and not e.problem]
    largest = max(entries, key=lambda e: e.artifact.size_bytes).artifact
    path = Path(largest.path)
    times = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        digest = sha256_of(path)
        times.append(time.perf_counter() - t0)
    assert digest == largest.sha256, "the artifact does not match its recorded sha256"
    median = statistics.median(times)
    size_mb = largest.size_bytes / 1e6
    print(f"largest artifact: {largest.model} / {largest.format}, {size_mb:.1f} MB ({path.name})")
    print(f"sha256 on every hit: median {median * 1000:.1f} ms over {args.rounds} rounds "
          f"({size_mb / median:.0f} MB/s; min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f} ms)")
    if largest.export_s:
        print(f"its cold export took {largest.export_s:.1f} s: the check is "
              f"{100 * median / largest.export_s:.3f}% of that")
    t0 = time.perf_counter()
    checked = cache.verify()
    whole = time.perf_counter() - t0
    total_mb = sum(e.size_bytes for e in checked) / 1e6
    damaged = sum(bool(e.problem) for e in checked)
    print(f"whole cache: {len(checked)} entries, {total_mb:.0f} MB verified in {whole:.2f} s "
          f"({damaged} damaged)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
