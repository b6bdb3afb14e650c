"""Content-addressed artifact cache shared by all formats.

The key hashes everything that decides an artifact's bytes: the model name and input shape, the
seed of its random weights, the format, the exporter versions, and the text of every source file
that defines the model and the format. A changed model definition or exporter version therefore
gives a new key and a new artifact, never a stale one. Failed exports are cached too (with their
reason), since they would fail the same way again.

Layout: `<root>/<key>/meta.json` plus the artifact file. Entries are built in a temporary
directory and renamed into place, so an interrupted export never leaves a half-written entry.
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

from harness.export.base import Artifact, FormatSpec
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


def cache_key(spec: ModelSpec, fmt: FormatSpec, seed: int, extra: dict | None = None) -> str:
    from harness.zoo import layers, registry

    sources = set(spec.source_digest_inputs())
    sources.update({inspect.getsourcefile(registry), inspect.getsourcefile(layers)})
    export_source = inspect.getsourcefile(fmt.export)
    if export_source:
        sources.add(export_source)
    payload = {
        "cache_format": CACHE_FORMAT_VERSION,
        "model": spec.name,
        "origin": spec.origin,
        "input_shape": list(spec.input_shape),
        "seed": seed,
        "format": fmt.name,
        "versions": fmt.versions(),
        "sources": {Path(s).name: _file_digest(s) for s in sorted(s for s in sources if s)},
        "extra": extra or {},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


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
        if artifact.path and not Path(artifact.path).exists():
            return None
        return artifact.with_(cached=True)

    def staging_dir(self, key: str) -> Path:
        path = self.root / f".tmp-{key}-{os.getpid()}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def commit(self, key: str, staging: Path, artifact: Artifact) -> Artifact:
        """Move a staged entry into place and write its metadata last."""
        final = self.entry_dir(key)
        if artifact.path:
            artifact = artifact.with_(path=str(final / Path(artifact.path).name))
        (staging / "meta.json").write_text(json.dumps(artifact.to_dict(), indent=1))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        return artifact

    def entries(self) -> list[Artifact]:
        out = []
        if not self.root.exists():
            return out
        for meta in sorted(self.root.glob("*/meta.json")):
            try:
                out.append(Artifact.from_dict(json.loads(meta.read_text())))
            except (ValueError, TypeError):
                continue
        return out

    def prune(self, older_than_days: float | None = None, keep_keys: set[str] | None = None) -> int:
        """Remove entries (and leftover staging dirs); returns how many were removed."""
        removed = 0
        if not self.root.exists():
            return 0
        now = time.time()
        for entry in self.root.iterdir():
            if not entry.is_dir():
                continue
            if entry.name.startswith(".tmp-"):
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
                continue
            if keep_keys is not None and entry.name in keep_keys:
                continue
            if older_than_days is not None:
                age_days = (now - entry.stat().st_mtime) / 86400
                if age_days < older_than_days:
                    continue
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
        return removed
