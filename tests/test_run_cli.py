"""`harness run` end to end on this host, with the real exporters and runtimes."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from tests.support.processes import processes
from tests.support.store_backends import stored_count
from tests.support.wait import wait_until
from tests.support.paths import TESTS, TINY
from harness.cli import main
from harness.store import RUN_COMPLETE, RUN_INTERRUPTED, Store

# One trial keeps these tests fast; tests/test_protocol.py covers several trials and interleaving.
FAST = ["--warmup", "2", "--iterations", "20", "--min-time", "0.1", "--trials", "1"]


def _run(args, env=None):
    result = CliRunner().invoke(main, args, catch_exceptions=False, env=env)
    return result


def test_run_tiny_model_stores_records_and_a_second_run_exports_nothing(tmp_results):
    first = _run(["run", "--models", TINY, "--formats", "executorch,tflite", *FAST])
    assert first.exit_code == 0, first.output
    with Store() as store:
        [run] = store.runs()
        assert run.status == RUN_COMPLETE
        records = store.records(run.id)
        assert {r.format for r in records} == {"executorch", "tflite"}
        for r in records:
            assert r.status == "ok", r.reason
            assert r.stats.n >= 20 and len(store.samples(r.id)) == r.stats.n
            assert r.result.load_ms > 0 and r.result.peak_rss_inference_kb > 0
            assert r.artifact["numerics"]["cosine"] > 0.999
            assert r.artifact["cached"] is False
            assert r.result.energy.source == "none"  # this host has no energy sensor
            assert "operator_profile" not in r.result.context  # profiling is off by default
            # The measured artifact ran the check inputs in the measuring process, and agrees.
            check = r.trials[0].context["device_numerics"]
            assert check["passed"] and check["inputs"] == 3 and check["cosine"] > 0.999
        ex = next(r for r in records if r.format == "executorch")
        assert ex.artifact["details"]["delegation"]["delegated_nodes"] > 0
    board = (tmp_results / "results" / "leaderboard.md").read_text()
    assert "tiny_models_tiny_convnet" in board and "/ executorch (xnnpack, fp32), 1 thread" in board

    second = _run(["run", "--models", TINY, "--formats", "executorch,tflite", *FAST])
    assert second.exit_code == 0, second.output
    with Store() as store:
        latest = store.runs()[0]
        assert all(r.artifact["cached"] for r in store.records(latest.id))

    shown = _run(["show", latest.id, "--samples"])
    assert shown.exit_code == 0
    assert shown.output.startswith("model format trial ms\n")
    assert "tiny_models_tiny_convnet executorch 1 " in shown.output
    report = _run(["report", "--out", str(tmp_results / "board.md")])
    assert report.exit_code == 0 and (tmp_results / "board.md").exists()


@pytest.mark.slow
def test_a_model_that_cannot_export_is_a_row_and_the_run_goes_on(tmp_results):
    bad = f"{TESTS / 'tiny_models.py'}:unexportable"
    out = _run(["run", "--models", f"{bad},{TINY}", "--formats", "executorch", *FAST])
    assert out.exit_code == 3, out.output  # some cells were not measured
    with Store() as store:
        records = {r.model: r for r in store.records(store.runs()[0].id)}
    assert records["tiny_models_unexportable"].status == "export_failed"
    assert records["tiny_models_unexportable"].reason  # one line naming the converter error
    assert "\n" not in records["tiny_models_unexportable"].reason
    assert records["tiny_models_tiny_convnet"].status == "ok"
    logs = list((tmp_results / "logs").glob("*.log"))
    assert logs and "Traceback" in logs[0].read_text()


def test_unknown_model_names_the_closest(tmp_results):
    out = _run(["run", "--models", "repvit_m0_8"])
    assert out.exit_code == 2
    assert "Unknown model 'repvit_m0_8'" in out.output and "repvit_m0_9" in out.output
    assert not (tmp_results / "harness.db").exists() or not Store().runs()


def test_unknown_device_lists_what_is_attached(tmp_results):
    out = _run(["run", "--device", "pixel99", "--models", TINY])
    assert out.exit_code == 2
    assert "No device matches 'pixel99'" in out.output and "host" in out.output


def test_unknown_format_lists_the_known_ones(tmp_results):
    out = _run(["run", "--models", TINY, "--formats", "tensorrt"])
    assert out.exit_code == 2
    assert "Unknown format 'tensorrt'" in out.output and "executorch" in out.output


@pytest.mark.slow
def test_ctrl_c_keeps_finished_records_and_marks_the_run_interrupted(tmp_path):
    db = tmp_path / "harness.db"
    env = dict(os.environ, HARNESS_DB=str(db), HARNESS_CACHE=str(tmp_path / "cache"))
    slow = f"{TESTS / 'tiny_models.py'}:slow_convnet"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "--models", f"{TINY},{slow}",
         "--formats", "executorch", "--warmup", "1", "--iterations", "5", "--min-time", "30",
         "--trials", "1"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
        # A job started in the background by a non-interactive shell inherits SIGINT ignored;
        # restore the default so the child reacts like a program in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    def second_cell_measuring():  # the first cell stored, the second's trial process running
        assert proc.poll() is None, proc.communicate()
        return stored_count(db) == 1 and processes(parent=proc.pid)

    wait_until(second_cell_measuring, 300, poll_s=0.1, what="the second cell's trial")
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = proc.communicate(timeout=300)  # a long C++ export call defers the signal
    assert proc.returncode == 130, (out, err)  # interrupted
    assert "Interrupted" in err
    with Store(db) as store:
        [run] = store.runs()
        assert run.status == RUN_INTERRUPTED
        [record] = store.records(run.id)
        assert record.model == "tiny_models_tiny_convnet" and record.status == "ok"


@pytest.mark.slow
def test_run_calibrates_int8_on_the_images_it_is_given(tmp_results):
    from PIL import Image

    images = tmp_results / "images"
    images.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (36, 36, 3), dtype=np.uint8)).save(images / f"{i}.png")
    out = _run(["run", "--models", TINY, "--formats", "executorch-int8",
                "--calibration-images", str(images), *FAST])
    assert out.exit_code == 0, out.output
    with Store() as store:
        [run] = store.runs()
        [record] = store.records(run.id)
    assert record.status == "ok", record.reason
    calibration = record.artifact["details"]["calibration"]
    assert calibration["inputs"] == 3 and "read with Pillow" in calibration["source"]
    assert run.config["calibration_images"] == str(images)
