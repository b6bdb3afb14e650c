"""Child processes that die with their parent and leave nothing behind.

A worker measures for minutes; if the harness dies meanwhile (Ctrl-C twice, the OOM killer, a
closed terminal) nobody is left to read its result, and an orphan measuring on would disturb
every later measurement on this machine. So:

    child_preexec(limit)   for subprocess's preexec_fn: on Linux the kernel sends the child
                           SIGKILL when its parent dies (prctl PR_SET_PDEATHSIG), and an
                           address-space limit (RLIMIT_AS) when one is given
    watch_parent()         in the child: exits it once its parent is gone; the portable
                           fallback (macOS has no PDEATHSIG)
    describe_exit(code)    "exit code 3", "killed by SIGKILL (signal 9; often the out-of-memory
                           killer, see `dmesg`)": a return code as a user reads it
    temp_dir(prefix)       a temporary directory named `<prefix><pid>-<random>` after the
                           process that made it, removed on leaving the block
    remove_leftovers(p)    removes such directories whose process is gone (killed before it
                           could clean up)

Nothing here knows what the child does: the host runner and the harness use it alike.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

try:
    import resource
except ImportError:  # Windows
    resource = None

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# How often watch_parent looks; a worker outlives its parent by at most this.
WATCH_POLL_S = 0.5
# The exit code of a child whose parent went away (sysexits' EX_SOFTWARE). Nobody is left to
# read it; it only tells such an exit apart in a trace.
EXIT_PARENT_GONE = 70

# What a signal usually means for a measuring child; the separator is part of the hint.
_SIGNAL_HINTS = {
    "SIGKILL": "; often the out-of-memory killer, see `dmesg`",
    "SIGSEGV": ": a crash in the runtime",
    "SIGBUS": ": a crash in the runtime, or a memory-mapped file that changed under it",
    "SIGABRT": ": the runtime aborted, after a failed assertion or with no memory left",
    "SIGILL": ": an instruction this CPU lacks (a build for another CPU?)",
    "SIGFPE": ": an arithmetic fault in the runtime",
    "SIGTERM": "; something asked it to stop",
    "SIGINT": "; interrupted",
}


def _prctl():
    """libc's prctl, or None where there is none (macOS, Windows, a libc without it)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def child_preexec(memory_limit_bytes: int | None = None) -> Callable[[], None]:
    """A preexec_fn for subprocess: the child dies with this process, and lives under
    `memory_limit_bytes` of address space when given.

    Call it just before starting each child, in the process that starts it: the parent's pid
    is taken now. PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, so start
    children from a thread that lives as long as they should. Everything that can fail is
    looked up here, in the parent; in the child the function only makes a few system calls
    (preexec_fn runs between fork and exec, where little is safe in a threaded parent). Where
    prctl is missing the child should call `watch_parent()` itself; where the OS refuses an
    address-space limit (macOS) the limit is skipped.
    """
    prctl = _prctl()
    parent = os.getpid()
    if memory_limit_bytes is not None and memory_limit_bytes <= 0:
        raise ValueError("memory_limit_bytes must be positive.")
    limit = None
    if memory_limit_bytes is not None and resource is not None:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        # Only the soft limit: a hard limit below the current one cannot be raised back.
        limit = (memory_limit_bytes if hard == resource.RLIM_INFINITY
                 else min(memory_limit_bytes, hard), hard)
    strict = sys.platform.startswith("linux")

    def preexec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before the prctl took effect
                os._exit(EXIT_PARENT_GONE)
        if limit is not None:
            try:
                resource.setrlimit(resource.RLIMIT_AS, limit)
            except (ValueError, OSError):
                if strict:
                    raise

    return preexec


def describe_exit(returncode: int) -> str:
    """A process's return code as a user reads it: "exit code 3", or for a negative one the
    signal that killed it, by name, with what it usually means."""
    if returncode >= 0:
        return f"exit code {returncode}"
    number = -returncode
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"killed by signal {number}"
    return f"killed by {name} (signal {number}{_SIGNAL_HINTS.get(name, '')})"


def watch_parent(poll_s: float = WATCH_POLL_S) -> threading.Thread:
    """Exit this process (os._exit) once its parent is gone: a daemon thread that watches
    os.getppid() change (the orphan is handed to init or a subreaper). Call it first thing in a
    child; on Linux PDEATHSIG (child_preexec) is faster, this covers every other platform."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(EXIT_PARENT_GONE)

    thread = threading.Thread(target=watch, name="watch-parent", daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A new directory `<prefix><pid>-<random>` in the temporary directory, removed when the
    block ends. The pid is this process's, so `remove_leftovers` can tell when it is orphaned."""
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_leftovers(prefix: str) -> list[Path]:
    """Remove the directories `temp_dir(prefix)` made for processes that are no longer alive;
    returns them. Never one of a live process (nor this one's), never one of another user."""
    removed = []
    uid = os.getuid() if hasattr(os, "getuid") else None
    with os.scandir(tempfile.gettempdir()) as entries:
        for entry in entries:
            if not entry.name.startswith(prefix) or not entry.is_dir(follow_symlinks=False):
                continue
            pid, sep, _ = entry.name[len(prefix):].partition("-")
            if not sep or not pid.isdigit() or int(pid) == os.getpid() or pid_alive(int(pid)):
                continue
            if uid is not None and entry.stat(follow_symlinks=False).st_uid != uid:
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed
