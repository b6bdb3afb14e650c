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

Nothing in the cache is trusted blindly: every hit hashes the artifact file again and compares it
with the sha256 its `meta.json` recorded at export (a cache copied from another host included);
a damaged or changed file is a miss, rebuilt, and the new artifact says why (`notes`). Every file
is written under a temporary name and renamed, and a file that does not parse reads as a miss.
`harness cache verify` checks a whole cache the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from device_runners.process import pid_alive
from harness.export.base import ARTIFACT_EXPORT_FAILED, Artifact, FormatSpec
from harness.zoo.registry import ModelSpec

DEFAULT_CACHE_DIR = Path("results") / "cache"
DAMAGED = "damaged"  # the status `listing` gives an entry whose metadata cannot be read
# Bump when the meaning of a cache entry changes, to invalidate every older entry at once.
CACHE_FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    return Path(os.environ.get("HARNESS_CACHE", DEFAULT_CACHE_DIR))


def _file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary name and a rename: a reader sees the old file
    or the new one, never half of one (a full disk leaves the old file and no temporary)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict | None:
    """A JSON object from `path`, or None when it is missing, unreadable or damaged."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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
    sources.update(_placement_sources(fmt))
    return sorted(s for s in sources if s)


def _placement_sources(fmt: FormatSpec) -> set[str]:
    """What an entry holds for the overlays (the graph's node table) and a failed check's
    per-layer diagnosis (harness.placement): their modules decide it too."""
    import importlib

    from harness.placement import graph_nodes, layer_numerics

    sources = set()
    if fmt.runtime in ("executorch", "litert"):
        sources.add(inspect.getsourcefile(graph_nodes))
    if fmt.layer_pass:
        sources.add(inspect.getsourcefile(layer_numerics))
        sources.add(inspect.getsourcefile(importlib.import_module(fmt.layer_pass)))
    return sources


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


@dataclass(frozen=True)
class Lookup:
    """What the cache holds under a key: a verified artifact, or nothing and, if something was
    there but could not be trusted, why."""

    artifact: Artifact | None
    problem: str = ""


def _read_entry(entry: Path) -> tuple[Artifact | None, str]:
    """An entry's artifact as its meta.json says, with the path rebased on where the entry is
    now (a cache copied elsewhere still serves its artifacts); or why it cannot be read."""
    data = read_json(entry / "meta.json")
    if data is None:
        return None, "its meta.json is damaged or unreadable"
    try:
        artifact = Artifact.from_dict(data)
    except (TypeError, ValueError) as exc:
        return None, f"its meta.json does not describe an artifact ({exc})"
    if artifact.path:
        artifact = artifact.with_(path=str(entry / Path(artifact.path).name))
    return artifact, ""


def quick_problem(artifact: Artifact) -> str:
    """What is visibly wrong with an artifact's file without hashing it: missing, or another size
    than at export (a truncated copy). A flipped byte needs `verify_artifact`."""
    if not artifact.path:
        return ""
    path = Path(artifact.path)
    if not path.exists():
        return f"{path.name} is missing from the cache entry"
    size = size_of(path)
    if artifact.size_bytes and size != artifact.size_bytes:
        return f"{path.name} has {size} bytes, {artifact.size_bytes} at export (truncated or changed)"
    return ""


def verify_artifact(artifact: Artifact) -> str:
    """"" when the artifact's file is there and hashes to the sha256 recorded at export, else
    what is wrong, in words for the user."""
    if not artifact.path:
        return ""
    path = Path(artifact.path)
    if not path.exists():
        return f"{path.name} is missing from the cache entry"
    try:
        actual = sha256_of(path)
    except OSError as exc:
        return f"{path.name} cannot be read ({exc.strerror or exc})"
    if actual != artifact.sha256:
        return (f"{path.name} does not match the sha256 recorded at export (damaged or changed "
                f"since: {size_of(path)} bytes now, sha256 {actual[:12]}..., expected "
                f"{artifact.sha256[:12]}...)")
    return ""


@dataclass
class ArtifactCache:
    root: Path

    def __post_init__(self):
        self.root = Path(self.root)

    def entry_dir(self, key: str) -> Path:
        return self.root / key

    def inspect(self, key: str) -> Lookup:
        """The entry under `key`, its artifact file hashed again against its recorded sha256."""
        entry = self.entry_dir(key)
        if not (entry / "meta.json").exists():
            return Lookup(None)
        artifact, problem = _read_entry(entry)
        if artifact is None:
            return Lookup(None, problem)
        problem = verify_artifact(artifact)
        if problem:
            return Lookup(None, problem)
        os.utime(entry)  # last use, for `prune --older-than`
        return Lookup(artifact.with_(cached=True))

    def lookup(self, key: str) -> Artifact | None:
        """The verified artifact under `key`, or None (missing, damaged or changed)."""
        return self.inspect(key).artifact

    def staging_dir(self, key: str) -> Path:
        path = self.root / f".tmp-{key}-{os.getpid()}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def discard(self, staging: Path) -> None:
        """Remove a staging directory whose export did not finish (an error, a full disk)."""
        shutil.rmtree(staging, ignore_errors=True)

    def remove_dead_staging(self) -> int:
        """Staging directories left by processes that died (SIGKILL, a crash); returns how many."""
        removed = 0
        for leftover in self.root.glob(".tmp-*-*") if self.root.exists() else ():
            pid = leftover.name.rsplit("-", 1)[-1]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                shutil.rmtree(leftover, ignore_errors=True)
                removed += 1
        return removed

    def update(self, key: str, artifact: Artifact) -> Artifact:
        """Rewrite an entry's metadata (numerics checked later, elsewhere); atomic on rename."""
        stored = artifact.with_(cached=False)
        if stored.path:
            stored = stored.with_(path=str(self.entry_dir(key) / Path(stored.path).name))
        write_atomically(self.entry_dir(key) / "meta.json", json.dumps(stored.to_dict(), indent=1))
        return artifact

    def read_extra(self, name: str) -> dict | None:
        """A small JSON file the cache keeps beside its entries (model counts), None if absent
        or damaged."""
        return read_json(self.root / name)

    def write_extra(self, name: str, data: dict) -> None:
        write_atomically(self.root / name, json.dumps(data))

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
        return [e.artifact for e in self.listing() if not e.problem]

    def listing(self) -> list["CacheEntry"]:
        """Every entry, newest use first, with what is visibly wrong with it (`quick_problem`):
        one whose metadata cannot be read has a placeholder artifact of status "damaged", so
        `ls` and `prune` see it. Only `verify` hashes the files."""
        out = []
        if not self.root.exists():
            return out
        for meta in self.root.glob("*/meta.json"):
            entry = meta.parent
            artifact, problem = _read_entry(entry)
            if artifact is None:
                artifact = Artifact(model="?", format="?", status=DAMAGED, cache_key=entry.name)
            else:
                problem = quick_problem(artifact)
            inputs = read_json(entry / "key.json") or {}
            out.append(CacheEntry(entry.name, entry, artifact, inputs, size_of(entry),
                                  entry.stat().st_mtime, problem))
        return sorted(out, key=lambda e: -e.last_used)

    def verify(self) -> list["CacheEntry"]:
        """Every entry, each artifact file hashed again; `problem` says what is wrong, if any."""
        checked = []
        for entry in self.listing():
            if not entry.problem:
                entry = dataclasses.replace(entry, problem=verify_artifact(entry.artifact))
            checked.append(entry)
        return checked

    def prune(
        self,
        older_than_days: float | None = None,
        keep_keys: set[str] | None = None,
        stale: bool = False,
        failed: bool = False,
        everything: bool = False,
        damaged: bool = False,
    ) -> int:
        """Remove entries (and staging dirs of dead processes); returns how many entries went.

        With no criterion nothing but such staging dirs goes. `older_than_days`: not used for
        that long; `stale`: made by other sources or exporter versions than the current ones
        (never looked up again); `failed`: failed exports, to retry them; `damaged`: entries
        whose metadata or artifact file fails verification (every file is hashed);
        `everything`: all entries, and other caches kept under the root (such as model counts).
        Criteria add up.
        """
        from harness.errors import UnknownFormatError
        from harness.export.base import MissingExporter, get_format

        removed = 0
        if not self.root.exists():
            return 0
        self.remove_dead_staging()
        if everything:
            for child in self.root.iterdir():
                if child.is_dir() and (keep_keys is None or child.name not in keep_keys):
                    shutil.rmtree(child, ignore_errors=True)
                    removed += 1
            return removed
        now = time.time()
        for entry in self.verify() if damaged else self.listing():
            if keep_keys is not None and entry.key in keep_keys:
                continue
            doomed = damaged and bool(entry.problem)
            doomed = doomed or (failed and entry.artifact.status == ARTIFACT_EXPORT_FAILED)
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
    problem: str = ""  # what makes the entry untrustworthy ("" when it reads, or is unchecked)
