"""Every cell fails alone: faults thrown at `harness run` and `harness export` through the real
CLI, real files and real processes. Each test checks the stored status and reason, that the run
went on to the next cell, that records stored before are byte-identical, and the exit code
(harness.exit_codes: 0 all measured, 3 some not, 4 none, 130 interrupted).

Faults of the results database are in test_store_faults.py; of the runner contract and the
worker process in test_contract_faults.py and test_worker_faults.py.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.ci import unavailable
from tests.support.processes import processes
from tests.support.store_backends import stored_count
from tests.support.wait import wait_until
from tests.support.paths import TESTS, TINY
from harness.cli import main
from harness.store import Store

FAST = ["--warmup", "1", "--iterations", "5", "--min-time", "0.05", "--trials", "1"]
MODELS = TESTS / "tiny_models.py"


def harness(*args: str) -> "click.testing.Result":  # noqa: F821
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def stored_rows(db: Path) -> list[tuple]:
    """Every record row as SQLite holds it, for byte-for-byte comparisons."""
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT * FROM records ORDER BY id").fetchall()


def latest_records(db: Path) -> dict[tuple[str, str], object]:
    with Store(db, readonly=True) as store:
        run = store.runs()[0]
        return {(r.model, r.format): r for r in store.records(run.id)}


# ----------------------------------------------------------------------------------------------
# A cached artifact is verified on every hit


@pytest.mark.slow
def test_a_damaged_cached_artifact_is_found_rebuilt_and_said_so(tmp_results):
    first = harness("run", "--models", TINY, "--formats", "executorch,tflite", *FAST)
    assert first.exit_code == 0, first.output
    before = stored_rows(tmp_results / "harness.db")
    cache = tmp_results / "cache"
    [pte] = cache.glob("*/*.pte")
    [tflite] = cache.glob("*/*.tflite")
    data = bytearray(pte.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 2048] = bytes(b ^ 0xFF for b in data[middle:middle + 2048])
    pte.write_bytes(bytes(data))
    tflite.write_bytes(tflite.read_bytes()[: tflite.stat().st_size // 3])  # truncated

    verify = harness("cache", "verify")
    assert verify.exit_code == 3, verify.output
    assert verify.output.count("damaged  ") == 2 and "does not match the sha256" in verify.output
    listed = harness("cache", "ls")
    # `ls` does not hash, but sees the truncated file by its size.
    assert listed.exit_code == 0 and "truncated or changed" in " ".join(listed.output.split())

    again = harness("run", "--models", TINY, "--formats", "executorch,tflite", *FAST)
    assert again.exit_code == 0, again.output
    said = " ".join(again.output.split())  # rich wraps long lines when not on a terminal
    assert said.count("note: exported again: the cached entry could not be trusted") == 2
    records = latest_records(tmp_results / "harness.db")
    for fmt in ("executorch", "tflite"):
        record = records[("tiny_models_tiny_convnet", fmt)]
        assert record.status == "ok", record.reason
        assert record.artifact["cached"] is False  # rebuilt, not the damaged bytes
        assert "does not match the sha256 recorded at export" in record.artifact["notes"][0]
        assert record.artifact["numerics"]["cosine"] > 0.999
    assert harness("cache", "verify").exit_code == 0
    assert stored_rows(tmp_results / "harness.db")[: len(before)] == before


# ----------------------------------------------------------------------------------------------
# User model code runs in a child process with a timeout and a memory limit


@pytest.mark.slow
def test_models_that_cannot_be_built_are_rows_and_the_run_goes_on(tmp_results):
    models = f"{MODELS}:raising_factory,{MODELS}:failing_forward,{MODELS}:hanging_forward,{TINY}"
    # (--timeout bounds each trial too, worker start-up included: eager's worker starts fastest.)
    out = harness("run", "--models", models, "--formats", "eager", "--timeout", "8", *FAST)
    assert out.exit_code == 3, out.output
    records = latest_records(tmp_results / "harness.db")
    for fmt in ("eager",):
        raising = records[("tiny_models_raising_factory", fmt)]
        assert raising.status == "build_failed"
        assert raising.reason == ("building the model or its forward failed: RuntimeError: this "
                                  "factory always fails")
        failing = records[("tiny_models_failing_forward", fmt)]
        assert failing.status == "build_failed"
        assert failing.reason.endswith("ValueError: this forward always fails")
        hanging = records[("tiny_models_hanging_forward", fmt)]
        assert hanging.status == "build_failed"
        assert hanging.reason.startswith("building the model and one forward took longer than "
                                         "--timeout 8 s and was stopped")
        assert records[("tiny_models_tiny_convnet", fmt)].status == "ok"
    # Nothing of the failed builds was cached as if the converters had failed.
    assert not [m for m in (tmp_results / "cache").glob("*/meta.json")
                if "raising" in m.read_text() or "failing" in m.read_text()]
    # Tracebacks went to the run's log, not the terminal.
    assert "Traceback" not in out.output
    [log] = (tmp_results / "logs").glob("run-*.log")
    assert "this factory always fails" in log.read_text()


def test_weights_that_are_not_a_checkpoint_fail_the_build(tmp_results):
    weights = tmp_results / "weights.pth"
    weights.write_bytes(b"this is not a checkpoint\n" * 10)
    out = harness("run", "--models", TINY, "--formats", "executorch", "--weights", str(weights), *FAST)
    assert out.exit_code == 4, out.output  # nothing measured
    [record] = latest_records(tmp_results / "harness.db").values()
    assert record.status == "build_failed"
    assert record.reason.startswith("building the model or its forward failed: ")
    nothing = harness("compare", "latest", "latest")  # no measured cell to compare
    assert nothing.exit_code == 4, nothing.output


def test_an_input_too_big_for_the_memory_limit_fails_its_model_only(tmp_results):
    out = harness("run", "--models", TINY, "--formats", "executorch", "--input-shape",
                  "1,3,8000,8000", "--memory-limit", "2", *FAST)
    assert out.exit_code == 4, out.output
    [record] = latest_records(tmp_results / "harness.db").values()
    assert record.status == "build_failed"
    assert "memory" in record.reason, record.reason


# ----------------------------------------------------------------------------------------------
# --input-shape means what it says


@pytest.mark.slow
def test_the_input_shape_sets_the_channels(tmp_results):
    out = harness("run", "--models", f"{MODELS}:gray_convnet,{TINY}", "--formats", "executorch",
                  "--input-shape", "1,1,16,16", *FAST)
    assert out.exit_code == 3, out.output
    records = latest_records(tmp_results / "harness.db")
    gray = records[("tiny_models_gray_convnet", "executorch")]
    assert gray.status == "ok", gray.reason
    assert gray.artifact["numerics"]["passed"]
    rgb = records[("tiny_models_tiny_convnet", "executorch")]  # a 3-channel model given 1
    assert rgb.status == "build_failed" and "channels" in rgb.reason

    bad = harness("run", "--models", TINY, "--input-shape", "1,3,x,32")
    assert bad.exit_code == 2
    assert "Invalid value for '--input-shape': give whole numbers" in bad.output


# ----------------------------------------------------------------------------------------------
# A full disk


def _in_namespace_with_tmpfs(mount_point: Path, size: str, argv: list[str], env: dict):
    """Run argv in a user+mount namespace where `mount_point` is a tmpfs of `size`."""
    script = f'mount -t tmpfs -o size={size} tmpfs "$1" && shift && exec "$@"'
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script,
                           "sh", str(mount_point), *argv], env=env, capture_output=True,
                          text=True, timeout=600)


def _namespaces_available() -> bool:
    try:
        return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.slow
@pytest.mark.needs(None if _namespaces_available() else "no user and mount namespaces here")
def test_a_full_disk_during_export_is_a_row_and_leaves_nothing_behind(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    env = dict(os.environ, HARNESS_DB=str(tmp_path / "h.db"), HARNESS_CACHE=str(cache))
    done = _in_namespace_with_tmpfs(
        cache, "8k", [sys.executable, "-m", "harness.cli", "run", "--models", TINY, "--formats",
                      "executorch,tflite", *FAST], env)
    assert done.returncode == 4, done.stderr[-2000:]
    records = latest_records(tmp_path / "h.db")
    for record in records.values():
        assert record.status == "export_failed"
        assert "No space left on device" in record.reason, record.reason
    # The harness's own writes say where; LiteRT's converter aborts its process on the full
    # disk (LLVM ERROR: IO failure on output stream), which the row says as it happened.
    assert records[("tiny_models_tiny_convnet", "executorch")].reason.startswith(
        f"the disk holding {cache} is full (No space left on device): free space and run again")
    assert "Traceback" not in done.stderr
    assert not list(cache.glob(".tmp-*"))  # no half-written entry is left behind


# ----------------------------------------------------------------------------------------------
# SIGKILL of the harness mid-run, and --resume


@pytest.mark.slow
def test_a_killed_run_leaves_no_worker_and_resumes_under_its_own_id(tmp_path, shared_cache):
    db = tmp_path / "h.db"
    env = dict(os.environ, HARNESS_DB=str(db), HARNESS_CACHE=str(shared_cache))
    slow = f"{MODELS}:slow_convnet"
    args = ["run", "--models", f"{TINY},{slow}", "--formats", "executorch", "--warmup", "1",
            "--iterations", "5", "--min-time", "4", "--trials", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def second_cell_measuring() -> set[int]:  # the first cell stored, the second's trial running
        assert proc.poll() is None, proc.communicate()
        return stored_count(db) == 1 and processes(parent=proc.pid)

    workers = wait_until(second_cell_measuring, 300, poll_s=0.1, what="the second cell's trial")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    wait_until(lambda: not workers & processes(), 10, what="the worker to die with the harness")
    before = stored_rows(db)
    with Store(db, readonly=True) as store:
        [run] = store.runs()
    assert run.status == "interrupted"  # its process is gone

    refused = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--resume", "latest",
                              "--trials", "2"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert refused.returncode == 2  # a usage error: the option differs from the run's
    assert "--trials 2 differs from the resumed run's 1" in refused.stderr

    resumed = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--resume", "latest"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    with Store(db, readonly=True) as store:
        [again] = store.runs()
        records = store.records(again.id)
    assert again.id == run.id and again.status == "complete"
    assert sorted(r.model for r in records) == ["tiny_models_slow_convnet", "tiny_models_tiny_convnet"]
    assert all(r.status == "ok" for r in records)
    assert stored_rows(db)[: len(before)] == before  # the first cell is untouched
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob(f"harness-run-{proc.pid}-*"))


# ----------------------------------------------------------------------------------------------
# A runner's result for another cell than asked is refused where it enters the harness


def test_a_phone_result_for_another_model_is_refused_and_the_run_goes_on(tmp_path, shared_cache):
    from tests.support.adb_sim import AdbSimServer, SimulatedPhone, sandbox_unavailable_reason
    from device_runners.contract import DeviceInfo, RunResult
    from tests.test_contract_faults import stand_in_runner

    if sandbox_unavailable_reason():
        unavailable(f"the simulated phone cannot run commands: {sandbox_unavailable_reason()}")
    wrong = RunResult(model="mobilenet_v2", format="executorch", runtime="executorch", status="ok",
                      device=DeviceInfo("phone", "android"), load_ms=3.0, first_inference_ms=2.0,
                      samples_ms=(1.0, 1.5, 0.9))
    runner = stand_in_runner(tmp_path / "harness_runner", wrong.to_json())
    with SimulatedPhone("SIMPIXEL7", root=tmp_path / "phone") as phone, \
            AdbSimServer([phone]) as server:
        phone.sysfs.set_battery(current_ua=-420_000, voltage_uv=3_910_000, capacity=76)
        env = {**server.env(), "HARNESS_DB": str(tmp_path / "h.db"), "HARNESS_CACHE": str(shared_cache)}
        out = CliRunner().invoke(main, ["run", "--device", "SIMPIXEL7", "--models", f"{TINY},{MODELS}:slow_convnet",
                                        "--formats", "executorch", "--native-runner", str(runner),
                                        "--leaderboard", str(tmp_path / "board.md"), *FAST],
                                 env=env, catch_exceptions=False)
    assert out.exit_code == 4, out.output  # the stand-in answers for mobilenet_v2 every time
    records = latest_records(tmp_path / "h.db")
    for model in ("tiny_models_tiny_convnet", "tiny_models_slow_convnet"):
        record = records[(model, "executorch")]
        assert record.status == "run_failed"
        assert record.reason == ("the runner's result was refused: the result is for another cell "
                                 f"than the request: model 'mobilenet_v2' where '{model}' was asked")
