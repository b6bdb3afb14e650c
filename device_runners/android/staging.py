"""Files on the phone: pushed only when `sha256sum` on the phone does not already show them.

A run pushes two kinds of file under the work directory: tools (the native runner, TensorFlow's
`benchmark_model`) to `bin/`, and artifacts to `artifacts/<sha256 prefix>-<name>`, so two
artifacts of the same name never overwrite each other and a later run finds its files by hash.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path

from device_runners.android.adb import AdbLink

CHECK_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class StagedFile:
    """A local file, where it goes on the phone, its sha256 and its mode there."""

    local: Path
    remote: str
    sha256: str
    mode: int = 0o644


class Staging:
    """What this session knows to be on the phone, and pushes for what it does not."""

    def __init__(self, link: AdbLink, workdir: str):
        self.link = link
        self.workdir = workdir
        self._known: dict[str, str] = {}  # phone path -> sha256 known to be there

    def tool(self, local: Path, name: str) -> StagedFile:
        return StagedFile(local, f"{self.workdir}/bin/{name}", file_sha256(local), 0o755)

    def artifact(self, local: Path, sha256: str = "") -> StagedFile:
        sha256 = sha256 or file_sha256(local)
        return StagedFile(local, f"{self.workdir}/artifacts/{sha256[:16]}-{local.name}", sha256)

    def inputs(self, local: Path) -> StagedFile:
        """Check inputs (contract version 3), by content like artifacts."""
        sha256 = file_sha256(local)
        return StagedFile(local, f"{self.workdir}/inputs/{sha256[:16]}-{local.name}", sha256)

    def forget(self) -> None:
        """After the phone left: it may have been wiped or replaced meanwhile."""
        self._known.clear()

    def stage(self, files: list[StagedFile]) -> dict[str, str]:
        """Push each file unless the phone already has it; {phone path: "present" | "pushed"}.

        One `sha256sum` call checks every file not yet seen this session. Raises the link's
        DeviceGone or DeviceCallFailed.
        """
        unknown = [f for f in files if self._known.get(f.remote) != f.sha256]
        on_phone: dict[str, str] = {}
        if unknown:
            paths = " ".join(shlex.quote(f.remote) for f in unknown)
            output = self.link.shell(f"sha256sum {paths} 2>/dev/null", timeout_s=CHECK_TIMEOUT_S)
            for line in output.stdout.splitlines():
                digest, _, path = line.strip().partition(" ")
                on_phone[path.strip().lstrip("*")] = digest
        staging = {}
        for f in files:
            if self._known.get(f.remote) == f.sha256 or on_phone.get(f.remote) == f.sha256:
                staging[f.remote] = "present"
            else:
                self.link.push(f.local, f.remote, f.mode)
                staging[f.remote] = "pushed"
            self._known[f.remote] = f.sha256
        return staging


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a local file, remembered while its size and mtime stay the same."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]
