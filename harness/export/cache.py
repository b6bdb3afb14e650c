"""Content-addressed artifact cache shared by all formats.

The key hashes everything that decides an artifact's bytes: the model name and input shape, the
seed of its random weights, the format, the exporter versions, and the text of every source file
that defines the model and the format. A changed model definition or exporter version therefore
gives a new key and a new artifact, never a stale one. Failed exports are cached too (with their
reason), since they would fail the same way again.

Layout: `<root>/<key>/meta.json` (the `Artifact`), `<root>/<key>/key.json` (what the key was
computed from, with the full paths of the source files, so `prune --stale` can tell which
entries the current code would never look up again) plus the artifact file. Entries are built in
a temporary directory and renamed into place, so an interrupted export never leaves a
half-written entry. A cache hit touches its entry, so `prune --older-than` removes the entries
least recently used.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from harness.export.base import ARTIFACT_EXPORT_FAILED, Artifact, FormatSpec
from harness.zoo.registry import ModelSpec

DEFAULT_CACHE_DIR = Path("results") / "cache"
# Bump when the meaning of a cache entry changes, to invalidate every older entry at once.
CACHE_FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    return Path(os.environ.get("HARNESS_CACHE", DEFAULT_CACHE_DIR))


def _file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    if path.is_dir():  # .mlpackage is a directory: hash its files in a stable order
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(path)).encode())
            h.update(f.read_bytes())
        return h.hexdigest()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def key_sources(spec: ModelSpec, fmt: FormatSpec) -> list[str]:
    """Every source file whose text decides the artifact or its cached verdict."""
    from harness.export import calibration, numerics
    from harness.zoo import layers, registry

    sources = set(spec.source_digest_inputs())
    sources.update({inspect.getsourcefile(registry), inspect.getsourcefile(layers)})
    # The numerics thresholds decide the cached status; calibration decides int8 bytes.
    sources.add(inspect.getsourcefile(numerics))
    if fmt.needs_calibration:
        sources.add(inspect.getsourcefile(calibration))
    export_source = inspect.getsourcefile(fmt.export)
    if export_source:
        sources.add(export_source)
    return sorted(s for s in sources if s)


def key_inputs(spec: ModelSpec, fmt: FormatSpec, seed: int, extra: dict | None = None,
               versions: dict[str, str] | None = None) -> dict:
    """What the key hashes (`payload`) and where its source digests came from (`source_paths`).

    `versions` are the format's exporter versions when the caller has them already.
    """
    sources = key_sources(spec, fmt)
    payload = {
        "cache_format": CACHE_FORMAT_VERSION,
        "model": spec.name,
        "origin": spec.origin,
        "input_shape": list(spec.input_shape),
        "seed": seed,
        "format": fmt.name,
        "versions": versions if versions is not None else fmt.exporter_versions(),
        "sources": {Path(s).name: _file_digest(s) for s in sources},
        "extra": extra or {},
    }
    return {"payload": payload, "source_paths": {Path(s).name: s for s in sources}}


def key_of(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs["payload"], sort_keys=True).encode()).hexdigest()[:32]


def cache_key(spec: ModelSpec, fmt: FormatSpec, seed: int, extra: dict | None = None) -> str:
    return key_of(key_inputs(spec, fmt, seed, extra))


def stale_because(inputs: dict, current_versions: dict[str, str] | None) -> str | None:
    """Why an entry's key can no longer be produced (a source or exporter changed), or None."""
    payload = inputs.get("payload", {})
    if payload.get("cache_format") != CACHE_FORMAT_VERSION:
        return "older cache format"
    if current_versions is not None and payload.get("versions") != current_versions:
        return "exporter versions changed"
    for name, path in inputs.get("source_paths", {}).items():
        if not Path(path).exists():
            return f"{name} no longer exists"
        if _file_digest(path) != payload.get("sources", {}).get(name):
            return f"{name} changed"
    return None


@dataclass
class ArtifactCache:
    root: Path

    def __post_init__(self):
        self.root = Path(self.root)

    def entry_dir(self, key: str) -> Path:
        return self.root / key

    def lookup(self, key: str) -> Artifact | None:
        meta = self.entry_dir(key) / "meta.json"
        if not meta.exists():
            return None
        try:
            artifact = Artifact.from_dict(json.loads(meta.read_text()))
        except (ValueError, TypeError):
            return None  # a damaged entry is rebuilt, not trusted
        if artifact.path:
            # The file is wherever this entry is now: a cache copied or synced elsewhere (a farm
            # host seeding its cache from another) still serves its artifacts.
            artifact = artifact.with_(path=str(self.entry_dir(key) / Path(artifact.path).name))
            if not Path(artifact.path).exists():
                return None
        os.utime(self.entry_dir(key))  # last use, for `prune --older-than`
        return artifact.with_(cached=True)

    def staging_dir(self, key: str) -> Path:
        path = self.root / f".tmp-{key}-{os.getpid()}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def update(self, key: str, artifact: Artifact) -> Artifact:
        """Rewrite an entry's metadata (numerics checked later, elsewhere); atomic on rename."""
        meta = self.entry_dir(key) / "meta.json"
        stored = artifact.with_(cached=False)
        if stored.path:
            stored = stored.with_(path=str(self.entry_dir(key) / Path(stored.path).name))
        tmp = meta.with_name(f".meta-{os.getpid()}.json")
        tmp.write_text(json.dumps(stored.to_dict(), indent=1))
        os.replace(tmp, meta)
        return artifact

    def commit(self, key: str, staging: Path, artifact: Artifact, inputs: dict | None = None) -> Artifact:
        """Move a staged entry into place and write its metadata last."""
        final = self.entry_dir(key)
        if artifact.path:
            artifact = artifact.with_(path=str(final / Path(artifact.path).name))
        if inputs is not None:
            (staging / "key.json").write_text(json.dumps(inputs, indent=1, sort_keys=True))
        (staging / "meta.json").write_text(json.dumps(artifact.to_dict(), indent=1))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        return artifact

    def entries(self) -> list[Artifact]:
        return [e.artifact for e in self.listing()]

    def listing(self) -> list["CacheEntry"]:
        """Every complete entry, newest use first."""
        out = []
        if not self.root.exists():
            return out
        for meta in self.root.glob("*/meta.json"):
            entry = meta.parent
            try:
                artifact = Artifact.from_dict(json.loads(meta.read_text()))
                inputs = json.loads((entry / "key.json").read_text()) if (entry / "key.json").exists() else {}
            except (ValueError, TypeError):
                continue
            out.append(CacheEntry(entry.name, entry, artifact, inputs, size_of(entry), entry.stat().st_mtime))
        return sorted(out, key=lambda e: -e.last_used)

    def prune(
        self,
        older_than_days: float | None = None,
        keep_keys: set[str] | None = None,
        stale: bool = False,
        failed: bool = False,
        everything: bool = False,
    ) -> int:
        """Remove entries (and leftover staging dirs); returns how many entries were removed.

        With no criterion nothing but staging dirs goes. `older_than_days`: not used for that
        long; `stale`: made by other sources or exporter versions than the current ones (never
        looked up again); `failed`: failed exports, to retry them; `everything`: all entries,
        and other caches kept under the root (such as model counts). Criteria add up.
        """
        from harness.errors import UnknownFormatError
        from harness.export.base import MissingExporter, get_format

        removed = 0
        if not self.root.exists():
            return 0
        for leftover in self.root.glob(".tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        if everything:
            for child in self.root.iterdir():
                if child.is_dir() and (keep_keys is None or child.name not in keep_keys):
                    shutil.rmtree(child, ignore_errors=True)
                    removed += 1
            return removed
        now = time.time()
        for entry in self.listing():
            if keep_keys is not None and entry.key in keep_keys:
                continue
            doomed = failed and entry.artifact.status == ARTIFACT_EXPORT_FAILED
            if older_than_days is not None and (now - entry.last_used) / 86400 >= older_than_days:
                doomed = True
            if stale and not doomed:
                try:
                    versions = get_format(entry.artifact.format).exporter_versions()
                except UnknownFormatError:
                    versions = None
                except MissingExporter:  # cannot tell here; installing the extra may use it
                    continue
                doomed = versions is None or stale_because(entry.inputs, versions) is not None
            if doomed:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
        return removed


@dataclass(frozen=True)
class CacheEntry:
    key: str
    path: Path
    artifact: Artifact
    inputs: dict  # key.json: the payload and source paths; empty for entries of older versions
    size_bytes: int
    last_used: float
