"""A simulated phone's filesystem: a host directory that shell commands see at device paths.

Why namespaces rather than rewriting paths in command lines: what runs on a phone is not only
the command line. A pushed `#!/system/bin/sh` script, a native benchmark binary or a sampler
loop reads `/sys/class/power_supply/battery/current_now` from inside; only the kernel can show
it a different file at that path. So every shell command runs chrooted into a tree built once
per phone in private user and mount namespaces (see mount_device_root.sh): the sandbox's top
level entries (data, sdcard, sys, system, ...) are bound over the host's, everything else is the
host's own, including the real /proc, so a process still reads its own /proc/self/status.

This needs unprivileged user namespaces (or root). `sandbox_unavailable_reason()` says why a
machine lacks them, for tests to skip on; the adb protocol itself (device list, sync) works
without them.

File sync does not run processes: it maps a device path to the host with `host_path()`, under
the same rule (first path component owned by the sandbox -> sandbox, else the host's file,
which is read-only to the phone).
"""

from __future__ import annotations

import functools
import os
import posixpath
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

MOUNT_SCRIPT = Path(__file__).with_name("mount_device_root.sh")

# Android's PATH first, then the host's, so shims in /system/bin shadow host tools.
DEVICE_PATH = ":".join(
    ("/system/bin", "/system/xbin", "/vendor/bin", "/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
     "/usr/bin", "/sbin", "/bin")
)

# The environment `adb shell` gives a command; nothing leaks in from the test process.
DEVICE_ENV = {
    "PATH": DEVICE_PATH,
    "HOME": "/",
    "SHELL": "/system/bin/sh",
    "TMPDIR": "/data/local/tmp",
    "ANDROID_DATA": "/data",
    "ANDROID_ROOT": "/system",
    "EXTERNAL_STORAGE": "/sdcard",
}

# Top-level layout of a fresh phone; /system/bin/sh is the host's shell.
BASE_DIRECTORIES = ("data/local/tmp", "sdcard", "sys", "system/bin")
DEVICE_SHELL = "/system/bin/sh"

_REQUIRED_TOOLS = ("unshare", "nsenter", "chroot")


class SandboxUnavailable(RuntimeError):
    """This machine cannot build the private namespaces shell commands run in."""


@functools.cache
def sandbox_unavailable_reason() -> str | None:
    """None when shell commands can run in a sandbox here, else one sentence saying why not."""
    missing = [tool for tool in _REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        return f"util-linux tools {', '.join(missing)} are not installed."
    with tempfile.TemporaryDirectory(prefix="adb_sim_probe_") as mount_point:
        probe = subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "/bin/sh", "-c",
             'mount --make-rprivate / && mount -t tmpfs adb_sim_probe "$0"', mount_point],
            capture_output=True, text=True, timeout=30,
        )
    if probe.returncode != 0:
        return (
            f"unprivileged user and mount namespaces are unavailable ({probe.stderr.strip()}); "
            "run as root or allow them (sysctl kernel.apparmor_restrict_unprivileged_userns=0, "
            "or a container seccomp profile that permits unshare)."
        )
    return None


class DeviceSandbox:
    """The device filesystem rooted at `root`, and the namespace commands run in.

    The namespace is built on the first `spawn()`; top-level entries added to `root` after
    that are visible to sync but not to shell commands.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        for directory in BASE_DIRECTORIES:
            (self.root / directory).mkdir(parents=True, exist_ok=True)
        shell = self.root / DEVICE_SHELL.lstrip("/")
        if not shell.is_symlink():
            shell.symlink_to("/bin/sh")
        self._lock = threading.Lock()
        self._holder: subprocess.Popen | None = None
        self._rootfs: Path | None = None

    # -- paths ----------------------------------------------------------------------------------

    def owns(self, device_path: str) -> bool:
        """Whether `device_path` lies in the sandbox (writable), rather than on the host."""
        top = _normalize(device_path).lstrip("/").split("/", 1)[0]
        return bool(top) and os.path.lexists(self.root / top)

    def host_path(self, device_path: str) -> Path:
        """Where the file the phone sees at `device_path` lives on this machine."""
        normalized = _normalize(device_path)
        if self.owns(normalized):
            return self.root / normalized.lstrip("/")
        return Path(normalized)

    # -- processes ------------------------------------------------------------------------------

    def spawn(self, command: str, *, merge_stderr: bool) -> subprocess.Popen:
        """Start `/system/bin/sh -c command` on the phone, stdout (and stderr) piped, stdin empty.

        The process leads its own process group, so `kill_process_group()` ends what it started.
        """
        holder_pid, rootfs = self._ensure_namespace()
        argv = [
            "nsenter", f"--target={holder_pid}", "--user", "--mount", "--preserve-credentials",
            "chroot", str(rootfs), DEVICE_SHELL, "-c", command,
        ]
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            env=DEVICE_ENV,
            start_new_session=True,
        )

    def close(self) -> None:
        """Kill every process still running on the phone, end the namespace, remove its mount point.

        Background processes a command left behind (`nohup sampler &`) would otherwise outlive
        the test on this machine.
        """
        with self._lock:
            holder, rootfs = self._holder, self._rootfs
            self._holder = self._rootfs = None
        if holder is not None:
            _kill_namespace_members(holder.pid)
            holder.stdin.close()  # the script's `read` returns and it exits
            try:
                holder.wait(timeout=10)
            except subprocess.TimeoutExpired:
                holder.kill()
                holder.wait()
        if rootfs is not None:
            shutil.rmtree(rootfs.parent, ignore_errors=True)

    def _ensure_namespace(self) -> tuple[int, Path]:
        with self._lock:
            if self._holder is None:
                self._holder, self._rootfs = self._start_namespace()
            return self._holder.pid, self._rootfs

    def _start_namespace(self) -> tuple[subprocess.Popen, Path]:
        reason = sandbox_unavailable_reason()
        if reason is not None:
            raise SandboxUnavailable(f"Cannot run shell commands on a simulated phone: {reason}")
        rootfs = Path(tempfile.mkdtemp(prefix="adb_sim_rootfs_")) / "root"
        rootfs.mkdir()
        holder = subprocess.Popen(
            ["unshare", "--user", "--map-root-user", "--mount",
             "/bin/sh", str(MOUNT_SCRIPT), str(self.root), str(rootfs)],
            stdin=subprocess.PIPE,  # closing it ends the holder, even if this process dies
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        if holder.stdout.readline().strip() != b"ready":
            holder.stdin.close()
            _, errors = holder.communicate(timeout=10)
            shutil.rmtree(rootfs.parent, ignore_errors=True)
            reason = errors.decode(errors="replace").strip()
            raise SandboxUnavailable(f"Building the phone's root filesystem failed: {reason}")
        holder.stdout.close()
        holder.stderr.close()
        return holder, rootfs


def kill_process_group(process: subprocess.Popen) -> None:
    """SIGKILL everything in the group `process` leads (it was started in a new session)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _kill_namespace_members(holder_pid: int) -> None:
    """SIGKILL every process in the holder's mount namespace except the holder itself."""
    try:
        namespace = os.readlink(f"/proc/{holder_pid}/ns/mnt")
    except OSError:
        return
    for _ in range(5):  # a process may fork while its siblings are being killed
        members = [pid for pid in _mount_namespace_members(namespace) if pid != holder_pid]
        if not members:
            return
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _mount_namespace_members(namespace: str) -> list[int]:
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry.name}/ns/mnt") == namespace:
                members.append(int(entry.name))
        except OSError:  # gone, a zombie, or not ours to inspect
            continue
    return members


def _normalize(device_path: str) -> str:
    # adbd resolves relative paths against "/", its working directory; "//x" is "/x" on Linux.
    return posixpath.normpath("/" + device_path.lstrip("/"))
