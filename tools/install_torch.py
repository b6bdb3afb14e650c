"""Install PyTorch 2.13.0's CPU build into the running Python, wherever this runs.

The harness pins torch==2.13.0 and uses the CPU only. A plain `pip install torch==2.13.0` takes
the CPU wheel where one lies on disk (pip's --find-links, as on this project's machines), but
elsewhere PyPI's default build, which on Linux is the CUDA one: about 2.5 GB that the harness
never uses. So: ask pip what it would take (a dry run); a CPU or local wheel is installed as it
is, anything else comes from PyTorch's CPU index instead. $TORCH_INDEX_URL overrides the index
(a CUDA build, a mirror). Prints one line saying which it did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PIN = "torch==2.13.0"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def installed() -> str | None:
    try:
        from importlib.metadata import version

        return version("torch")
    except Exception:
        return None


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], text=True)


def would_take() -> tuple[str, str] | None:
    """(version, url) of the wheel `pip install torch==2.13.0` would take here, or None."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
                               "--no-deps", "--ignore-installed", "--report", str(report), PIN],
                              capture_output=True, text=True)
        if done.returncode != 0 or not report.exists():
            return None
        for item in json.loads(report.read_text()).get("install", []):
            if item.get("metadata", {}).get("name", "").lower() == "torch":
                return item["metadata"]["version"], item.get("download_info", {}).get("url", "")
    return None


def main() -> int:
    have = installed()
    if have and have.split("+")[0] == PIN.split("==")[1]:
        print(f"torch {have} is already installed.")
        return 0
    index = os.environ.get("TORCH_INDEX_URL")
    if not index:
        found = would_take()
        if found and ("+cpu" in found[0] or found[1].startswith("file:")):
            print(f"Installing torch {found[0]} (the CPU build pip finds here).", flush=True)
            return pip("install", "--quiet", PIN).returncode
        index = CPU_INDEX
    print(f"Installing {PIN} from {index} (the CPU build; set TORCH_INDEX_URL for another).", flush=True)
    return pip("install", "--quiet", PIN, "--index-url", index).returncode


if __name__ == "__main__":
    sys.exit(main())
