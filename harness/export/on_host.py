"""Running an artifact on this machine for its numerics check: in the runtime its format names,
where this machine's runner says that runtime runs (asked now, not frozen into the artifact)."""

from __future__ import annotations

from device_runners.host import runtimes as host_runtimes
from harness.export.base import FormatSpec

NOT_CHECKED = "numerics not checked here: "


def run_on_host(path: str, runtime: str, backend: str, inputs) -> tuple[list, dict[str, str]]:
    """The first output for each input, and the versions of the runtime that computed them."""
    loaded = host_runtimes.load_artifact(path, runtime, threads=1, backend=backend)
    return [loaded.infer([x])[0] for x in inputs], loaded.versions


def unchecked_here(fmt: FormatSpec) -> str | None:
    """Why this machine cannot run `fmt`'s artifacts for the numerics check, or None if it can."""
    return host_runtimes.support().why_not(fmt.runtime, fmt.backend)
