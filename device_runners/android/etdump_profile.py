"""The ETDump of the native runner's profiling pass on a phone, pulled back and read here.

The native runner writes the ETDump where `--etdump` says: beside the trial directory
(`<workdir>/trial/profile.etdump`), which the next trial's script removes with the rest of
`trial/`, so no profile outlives the run on the phone. It is pulled into a temporary directory
and read like the host's (device_runners/operator_profile.py: ExecuTorch's Inspector, in a
child process).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from device_runners.android.adb import DeviceCallFailed, DeviceGone
from device_runners.contract import RunRequest, RunResult
from device_runners.operator_profile import etdump_profile, unavailable

# Relative to the trial directory the runner runs in (measure.py: <workdir>/trial/<id>).
PHONE_ETDUMP = "../profile.etdump"


def etdump_flags(request: RunRequest) -> list[str]:
    """The native runner's flags for a profiling request (none for a timed one)."""
    return ["--etdump", PHONE_ETDUMP] if request.profile else []


def pull_etdump_profile(link, workdir: str, result: RunResult, request: RunRequest) -> dict:
    """The operator profile of the ETDump the runner wrote on the phone, or why there is none."""
    profiling = result.context.get("profiling")
    if not profiling or profiling.get("status") != "ok":
        return etdump_profile(profiling, request.backend)
    with tempfile.TemporaryDirectory(prefix="harness-etdump-") as tmp:
        local = Path(tmp) / "profile.etdump"
        try:
            link.pull(f"{workdir}/trial/profile.etdump", local)
        except (DeviceGone, DeviceCallFailed) as exc:
            return unavailable("etdump", f"the ETDump could not be pulled from the phone: {exc}")
        return etdump_profile({**profiling, "etdump_path": str(local)}, request.backend)
