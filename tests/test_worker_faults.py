"""Faults around a measurement, with real processes: a worker killed by a signal, a runner killed
under its worker, a crashing runtime, a damaged artifact, and an adb server that dies mid-trial.

- A worker's death by signal is named ("killed by SIGKILL (signal 9; ...)"), and what it last
  wrote to stderr (the traceback, a runtime's abort message) stays with the failed result in
  its log (RunResult.log).
- Killing the process that runs a HostRunner kills its worker within moments (PDEATHSIG on
  Linux; the parent-watching thread elsewhere, tested here on its own), and the temporary
  directory it left is removed by the next HostRunner, never one of a live process.
- An adb server that stops mid-trial is reported as such, not as an unplugged phone, and the
  harness never starts one (a fake `adb` first on PATH records any attempt).
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.adb_sim import AdbSimServer, SimulatedPhone, sandbox_unavailable_reason
from tests.support.processes import gone, processes
from tests.support.wait import wait_until
from tests.support.paths import ROOT, TINY
from device_runners.contract import RunRequest
from device_runners.process import child_preexec, describe_exit, remove_leftovers
from device_runners.host.runner import TEMP_PREFIX, HostRunner

pytestmark = pytest.mark.needs(None if Path("/proc/self/stat").exists()
                               else "these tests find processes through /proc")

SIGKILL_REASON = "killed by SIGKILL (signal 9; often the out-of-memory killer, see `dmesg`)"


@pytest.fixture(scope="session")
def tiny_eager(shared_cache):
    from harness.export.base import get_format
    from harness.export.cache import ArtifactCache
    from harness.export.pipeline import export_matrix
    from harness.zoo import resolve_models

    [artifact] = export_matrix(resolve_models(TINY), [get_format("eager")],
                               ArtifactCache(shared_cache))
    return artifact


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """A temporary directory of this test's own, for this process and the workers it starts."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("TMPDIR", str(tmp))
    return tmp


def _long_request(artifact, **over) -> RunRequest:
    """A trial that measures for a minute unless something stops it."""
    base = dict(model=artifact.model, format="eager", runtime="torch", artifact_path=artifact.path,
                artifact_sha256=artifact.sha256, input_shape=(1, 3, 32, 32), warmup_iterations=1,
                min_iterations=10, min_duration_s=60.0, max_duration_s=120.0, timeout_s=300.0)
    return RunRequest(**{**base, **over})


def _damaged(path: Path, runtime: str, fmt: str) -> RunRequest:
    path.write_bytes(hashlib.sha256(b"seed").digest() * 128)  # 4 KiB of noise
    return RunRequest(model="damaged", format=fmt, runtime=runtime, artifact_path=str(path),
                      artifact_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                      input_shape=(1, 3, 32, 32), warmup_iterations=1, min_iterations=3,
                      min_duration_s=0.0, timeout_s=300.0)


def _workers_of(parent: int) -> list[int]:
    return sorted(processes(b"device_runners.host.worker", parent=parent))


# ----------------------------------------------------------------------------------------------
# Signals, by name


def test_exits_are_described_by_code_or_by_the_signal_s_name():
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-signal.SIGKILL) == SIGKILL_REASON
    crashed = subprocess.run([sys.executable, "-c", "import ctypes; ctypes.string_at(0)"],
                             capture_output=True)
    assert describe_exit(crashed.returncode) == (
        "killed by SIGSEGV (signal 11: a crash in the runtime)")


def test_child_preexec_sets_the_death_signal_and_the_memory_limit_in_the_child():
    probe = ("import ctypes, resource; v = ctypes.c_int(); "
             "ctypes.CDLL(None).prctl(2, ctypes.byref(v), 0, 0, 0); "  # PR_GET_PDEATHSIG
             "print(v.value, resource.getrlimit(resource.RLIMIT_AS)[0])")
    out = subprocess.run([sys.executable, "-c", probe], preexec_fn=child_preexec(3 << 30),
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(int(signal.SIGKILL)), str(3 << 30)]


def test_a_worker_killed_by_sigkill_gives_the_signal_by_name(tiny_eager, private_tmp):
    runner = HostRunner()
    killed = []

    def kill_the_worker():
        workers = wait_until(lambda: _workers_of(os.getpid()), 120, what="the trial's worker")
        os.kill(workers[0], signal.SIGKILL)  # whatever it is doing: loading or timing
        killed.append(workers[0])

    killer = threading.Thread(target=kill_the_worker, daemon=True)
    killer.start()
    started = time.monotonic()
    result = runner.run(_long_request(tiny_eager))
    killer.join(5)
    assert killed and time.monotonic() - started < 60  # it did not measure its full minute
    assert result.status == "run_failed"
    assert result.error.startswith(f"worker died ({SIGKILL_REASON})")
    assert "\n" not in result.error
    assert list(private_tmp.iterdir()) == []  # its temporary directory went with the trial


def test_killing_the_runner_kills_its_worker_and_the_next_runner_removes_what_it_left(
    tiny_eager, private_tmp
):
    parent_code = ("import sys; from device_runners.contract import RunRequest; "
                   "from device_runners.host.runner import HostRunner; "
                   "HostRunner().run(RunRequest.from_json(sys.argv[1]))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(private_tmp)}
    request = _long_request(tiny_eager).to_json()
    parent = subprocess.Popen([sys.executable, "-c", parent_code, request], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        [worker] = wait_until(lambda: _workers_of(parent.pid), 120, what="the worker")
        [left] = wait_until(lambda: list(private_tmp.glob(f"{TEMP_PREFIX}{parent.pid}-*")), 30,
                            what="the trial's directory")
    finally:
        parent.kill()
        parent.wait()
    wait_until(lambda: gone(worker), 5, what=f"worker {worker} to die with its runner")
    assert left.is_dir()  # nobody was left to remove it

    # Directories of live processes stay: this one's, and its parent's.
    mine = private_tmp / f"{TEMP_PREFIX}{os.getpid()}-mine"
    alive = private_tmp / f"{TEMP_PREFIX}{os.getppid()}-alive"
    for keep in (mine, alive):
        keep.mkdir()
    HostRunner()
    assert not left.exists()
    assert mine.is_dir() and alive.is_dir()


WATCHED_CHILD = ("import time; from device_runners.process import watch_parent; "
                 "watch_parent(0.1); print('watching', flush=True); time.sleep(120)")
MIDDLE = ("import subprocess, sys; child = subprocess.Popen([sys.executable, '-c', sys.argv[1]]); "
          "print(child.pid, flush=True); child.wait()")


def test_watch_parent_ends_a_child_whose_parent_died_without_any_death_signal():
    """The fallback for platforms without PDEATHSIG: no preexec anywhere here."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE, WATCHED_CHILD], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        child = int(middle.stdout.readline())
        assert middle.stdout.readline().strip() == "watching"
    finally:
        middle.kill()
        middle.wait()
    wait_until(lambda: gone(child), 5, what=f"child {child} to die with its parent")


def test_leftovers_of_dead_processes_only_are_removed(private_tmp):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    assert gone(dead_pid)
    made = {
        "dead": private_tmp / f"{TEMP_PREFIX}{dead_pid}-abc",
        "mine": private_tmp / f"{TEMP_PREFIX}{os.getpid()}-abc",
        "other prefix": private_tmp / f"other-{dead_pid}-abc",
        "no pid": private_tmp / f"{TEMP_PREFIX}cache",
    }
    for path in made.values():
        path.mkdir()
    (made["dead"] / "result.json").write_text("{}")
    a_file = private_tmp / f"{TEMP_PREFIX}{dead_pid}-file"
    a_file.write_text("not a directory")
    assert remove_leftovers(TEMP_PREFIX) == [made["dead"]]
    assert sorted(p.name for p in private_tmp.iterdir()) == sorted(
        [made["mine"].name, made["other prefix"].name, made["no pid"].name, a_file.name])


# ----------------------------------------------------------------------------------------------
# The worker's own words


def test_a_python_failure_in_the_worker_keeps_its_traceback(tmp_path, private_tmp):
    result = HostRunner().run(_damaged(tmp_path / "damaged.pt2", "torch", "eager"))
    assert result.status == "run_failed"
    log = result.log
    assert "Traceback (most recent call last)" in log and "torch.export.load" in log
    assert len(log.splitlines()) <= 60
    assert result.error.splitlines() == [result.error]


def test_a_runtime_that_aborts_on_a_damaged_pte_is_named_with_its_last_words(tmp_path, private_tmp):
    """ExecuTorch's pybind loader aborts the process on this file rather than raising."""
    runner = HostRunner(executorch_runner="python")
    result = runner.run(_damaged(tmp_path / "damaged.pte", "executorch", "executorch"))
    assert result.status == "run_failed"
    assert result.error.startswith("worker died (")
    assert result.log.splitlines()[-1].strip() in result.error
    if "SIGABRT" in result.error:  # as ExecuTorch 1.x does; a later one may raise instead
        assert result.error.startswith(
            "worker died (killed by SIGABRT (signal 6: the runtime aborted, after a failed "
            "assertion or with no memory left)): ")


def test_a_worker_under_a_memory_limit_fails_with_its_reason_kept(tiny_eager, private_tmp):
    runner = HostRunner(memory_limit_bytes=256 << 20)
    result = runner.run(_long_request(tiny_eager, min_duration_s=0.0))
    assert result.status == "run_failed"
    assert result.log
    assert any(word in result.log for word in ("MemoryError", "map segment",
                                                                 "memory", "Cannot allocate"))


# ----------------------------------------------------------------------------------------------
# The adb server dies mid-trial

SERIAL = "SIMPIXEL7"
FAST = ["--warmup", "2", "--iterations", "20", "--min-time", "0.3", "--trials", "1"]
# A native runner that runs until the shell that started it goes away.
# It says when it is "measuring" with a file in its working directory (the trial's).
SLOW_RUNNER = "#!/system/bin/sh\necho 'stand-in runner: sleeping' >&2\n: > stand-in-started\nsleep 60\n"
FAKE_ADB = '#!/bin/sh\necho "$@" >> "{log}"\nexit 0\n'


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    """An `adb` first on PATH (and in ADBUTILS_ADB_PATH) that records every call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "adb-calls.txt"
    adb = bin_dir / "adb"
    adb.write_text(FAKE_ADB.format(log=log))
    adb.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("ADBUTILS_ADB_PATH", str(adb))
    return {"PATH": path, "ADBUTILS_ADB_PATH": str(adb)}, log


def test_the_fake_adb_does_catch_adbutils_starting_a_server(fake_adb):
    """Plain adbutils on a port nobody answers runs `adb start-server`: the trap works."""
    import adbutils

    _, log = fake_adb
    with socket.socket() as sock:  # a port that was free a moment ago, and nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(adbutils.AdbError):
        adbutils.AdbClient(host="127.0.0.1", port=port).list()
    assert "start-server" in log.read_text()


@pytest.mark.slow
@pytest.mark.needs(sandbox_unavailable_reason())
def test_an_adb_server_that_stops_mid_trial_is_named_and_no_server_is_started(
    tmp_path, shared_cache, fake_adb
):
    from harness.cli import main
    from harness.store import RUN_COMPLETE, Store

    path_env, adb_calls = fake_adb
    stand_in = tmp_path / "harness_runner"
    stand_in.write_text(SLOW_RUNNER)
    stand_in.chmod(0o755)
    with SimulatedPhone(SERIAL, root=tmp_path / "phone") as phone:
        phone.sysfs.set_battery(current_ua=-420_000, voltage_uv=3_910_000, capacity=76)
        phone.set_dumpsys("thermalservice", "Thermal Status: 0\n")
        server = AdbSimServer([phone]).start()
        host, port = server.host, server.port

        def stop_the_server_mid_trial():
            def started():  # the stand-in runner is "measuring": it said so with its file
                # Under the phone's own /data: host_path("/") is this machine's root, which
                # the phone shares read-only, and a walk of all of it outlasts the trial.
                return list(phone.host_path("/data/local/tmp").rglob("stand-in-started"))

            wait_until(started, 300, what="the stand-in runner")
            server.stop()

        stopper = threading.Thread(target=stop_the_server_mid_trial, daemon=True)
        stopper.start()
        env = {**path_env, **server.env(), "HARNESS_DB": str(tmp_path / "harness.db"),
               "HARNESS_CACHE": str(shared_cache)}
        args = ["run", "--device", SERIAL, "--models", TINY, "--formats", "executorch",
                "--native-runner", str(stand_in), "--reconnect-timeout", "1",
                "--leaderboard", str(tmp_path / "leaderboard.md"), *FAST]
        out = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
        stopper.join(10)
        server.stop()
        assert server.errors == []
    # The run finished (its exit code says no cell was measured), nothing crashed.
    assert out.exit_code not in (1, 2), out.output  # (exceptions would propagate)
    with Store(tmp_path / "harness.db") as store:
        [run] = store.runs()
        [record] = store.records(run.id)
    assert run.status == RUN_COMPLETE
    assert record.status == "run_failed"
    assert record.reason == (
        f"the adb server at {host}:{port} stopped answering: restart it (`adb start-server`); the "
        "phone may still be attached; the server and the phone did not come back within 1 s")
    assert not adb_calls.exists(), adb_calls.read_text()



def test_a_damaged_pte_in_the_native_runner_is_a_failed_trial_with_the_loader_s_words(
        tmp_path, private_tmp):
    result = HostRunner().run(_damaged(tmp_path / "damaged.pte", "executorch", "executorch"))
    assert result.status == "run_failed"
    assert "loading the program" in result.error or "native runner died" in result.error, result.error
    assert "\n" not in result.error
