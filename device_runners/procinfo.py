"""Process memory readings from /proc (Linux and Android share the format)."""

from __future__ import annotations

from pathlib import Path


def parse_status_kb(text: str, key: str) -> int | None:
    """The value in kB of one `/proc/PID/status` line, e.g. key "VmHWM"."""
    for line in text.splitlines():
        if line.startswith(key + ":"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1])
    return None


def read_status_kb(key: str, pid: str = "self") -> int | None:
    try:
        return parse_status_kb(Path(f"/proc/{pid}/status").read_text(), key)
    except OSError:
        return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0). False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False
