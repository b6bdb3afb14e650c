"""What a user meets at the terminal: tables that fit 80 and 100 columns and a pipe without
cutting a figure, notes under them, JSON for scripts, a closed pipe that is no error, options
checked before any work, and a leaderboard that compares like with like.

The runs are real (`harness run` in a subprocess, stdout a pipe, on the tiny model); only the
interrupted runs of the leaderboard test are written straight into a real database.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import pytest

from tests.support.paths import TESTS, TINY
from device_runners.contract import DeviceInfo, RunResult
from harness.bench.stats import summarize_trials
from harness.bench.trials import combine_trials
from harness.report.figures import fmt_ci, fmt_ms
from harness.store import RUN_INTERRUPTED, BenchmarkRecord, Store

FAST = ["--warmup", "1", "--iterations", "5", "--min-time", "0.05", "--trials", "1"]
NOISE = ("Warning", "warning:", "absl", "cpuinfo", "torchao", "Traceback", "WARNING")


def harness(args, env, columns=None, check=None):
    """`harness ARGS` in a subprocess, stdout and stderr pipes, in the directory of the
    database; fitted to `columns` ($HARNESS_WIDTH) only when given."""
    env = {k: v for k, v in env.items() if k not in ("COLUMNS", "HARNESS_WIDTH")}
    if columns is not None:
        env["HARNESS_WIDTH"] = str(columns)
    out = subprocess.run([sys.executable, "-m", "harness.cli", *args], env=env,
                         cwd=os.path.dirname(env["HARNESS_DB"]), capture_output=True, text=True,
                         timeout=900)
    if check is not None:
        assert out.returncode == check, (out.stdout, out.stderr)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shared_cache):
    """Three runs of the tiny model: at 100 columns (1 thread, with eager), at 80 columns
    (2 threads, no eager), and with --json."""
    where = tmp_path_factory.mktemp("cli-output")
    env = dict(os.environ, HARNESS_DB=str(where / "h.db"), HARNESS_CACHE=str(shared_cache))
    first = harness(["run", "--models", TINY, "--formats", "executorch,tflite,eager", *FAST],
                    env, columns=100, check=0)
    second = harness(["run", "--models", TINY, "--formats", "executorch,tflite", "--threads", "2",
                      *FAST], env, columns=80, check=0)
    third = harness(["run", "--models", TINY, "--formats", "executorch", "--json", *FAST], env,
                    check=0)
    with Store(where / "h.db", readonly=True) as store:
        ids = [run.id for run in reversed(store.runs())]  # oldest first
        records = {run_id: store.records(run_id) for run_id in ids}
    return dict(env=env, where=where, out=[first, second, third], ids=ids, records=records)


def _whole_figures(text: str, records, width: int | None) -> None:
    """Every record's row holds its model, format, median and CI bounds whole, on one line."""
    lines = text.splitlines()
    for r in records:
        figure = f"{fmt_ms(r.stats.median)} {fmt_ci(r.stats)}"
        assert fmt_ms(r.stats.ci_low) in figure and fmt_ms(r.stats.ci_high) in figure
        rows = [line for line in lines if re.search(rf"\b{re.escape(r.model)}\b", line)
                and re.search(rf"\s{re.escape(r.format)}\s", line)]
        assert any(figure in row for row in rows), (figure, rows, text)
    if width is not None:
        # A path longer than the terminal is wide stands alone on its line, where a terminal
        # wraps it and a copy of it still works; every other line fits.
        too_long = [line for line in lines if len(line) > width and len(line.split()) > 1]
        assert not too_long, too_long


def test_tables_keep_every_figure_whole_at_80_and_100_columns_and_through_a_pipe(runs):
    first_id, second_id, _ = runs["ids"]
    first, second, _ = runs["out"]
    _whole_figures(first.stdout, runs["records"][first_id], 100)
    _whole_figures(second.stdout, runs["records"][second_id], 80)
    for columns in (80, 100, None):  # None: a pipe, with no $COLUMNS
        shown = harness(["show", first_id], runs["env"], columns=columns, check=0)
        _whole_figures(shown.stdout, runs["records"][first_id], columns)
    piped = harness(["show", first_id], runs["env"], check=0).stdout
    # A shell that exports COLUMNS changes nothing in a pipe: only a terminal is fitted.
    exported = subprocess.run([sys.executable, "-m", "harness.cli", "show", first_id],
                              env={**runs["env"], "COLUMNS": "40"}, cwd=runs["where"],
                              capture_output=True, text=True, timeout=300)
    assert exported.stdout == piped
    # A pipe gets every default column, unwrapped: no column hidden, one line per note.
    assert "hidden to fit" not in piped and "p90" in piped and "model/peak" in piped
    notes = piped.split("\nnotes:\n")[1].splitlines()
    assert notes and all(re.match(r"\s*\[\d+\] \S", line) for line in notes), notes
    # Every flag names notes that exist.
    numbers = {int(n) for flag in re.findall(r"\[([\d,\-]+)\]", piped)
               for part in flag.split(",") for n in _expand(part)}
    assert numbers <= set(range(1, len(notes) + 1))
    wide = harness(["show", first_id, "--wide"], runs["env"], columns=80, check=0).stdout
    for title in ("p99", "first", "measured by", "delegated", "thermal"):
        assert title in wide
    assert "hidden to fit" not in wide


def _expand(part: str) -> range:
    low, _, high = part.partition("-")
    return range(int(low), int(high or low) + 1)


def test_the_side_by_side_table_says_ratio_only_with_eager_and_explains_its_mark(runs):
    first, second, _ = runs["out"]
    assert "ratio to eager" in first.stdout
    assert "median ms of each model in each format:" in second.stdout
    assert "ratio" not in second.stdout.split("median ms of each model")[1].split("notes:")[0]
    for out in (first, second):
        side = out.stdout.split("median ms of each model")[1].split("notes:")[0]
        table_lines = [line for line in side.splitlines() if "tiny_models_tiny_convnet" in line]
        if any("?" in line for line in table_lines):
            assert "? after a median: unstable" in side


def test_memory_is_the_models_own_beside_the_process_peak_with_who_measured_it(runs):
    first, _, _ = runs["out"]
    assert "memory MB" in first.stdout and "model/peak" in first.stdout
    assert "measured by native runner (executorch); Python worker (tflite, eager)" in \
        " ".join(first.stdout.split())
    [executorch] = [r for r in runs["records"][runs["ids"][0]] if r.format == "executorch"]
    before = executorch.result.context["rss_before_load_kb"]
    assert 0 < before < executorch.result.peak_rss_inference_kb


def test_stderr_has_the_estimate_and_progress_and_no_converter_noise(runs):
    first, second, third = runs["out"]
    assert "1 model x 3 formats = 3 cells" in first.stderr
    # How many the first run builds depends on what earlier tests left in the shared cache.
    assert re.search(r"\d+ exports? to build \(\d+ cached\)", first.stderr), first.stderr
    assert "0 exports to build (2 cached)" in second.stderr
    for out in (first, second, third):
        assert "cells" in out.stderr  # the progress bar's count
        for word in NOISE:
            assert word not in out.stderr, (word, out.stderr)


def test_json_for_scripts(runs):
    env = runs["env"]
    first_id, second_id, third_id = runs["ids"]
    document = json.loads(runs["out"][2].stdout)  # run --json: stdout is only the JSON
    assert document["json_version"] == 1 and document["exit_code"] == 0
    assert document["run"]["id"] == third_id
    [record] = document["records"]
    [stored] = runs["records"][third_id]
    assert record["latency_ms"]["median"] == stored.stats.median
    assert record["settings"]["threads"] == 1 and record["settings"]["input_shape"] == [1, 3, 32, 32]
    assert record["memory_kb"]["measured_by"] == "native runner"
    assert record["memory_kb"]["model"] == record["memory_kb"]["process_peak"] - record["memory_kb"]["before_load"]
    assert record["energy"] is None  # no sensor here: null, never 0

    shown = json.loads(harness(["show", first_id, "--json", "--samples"], env, check=0).stdout)
    assert {r["format"] for r in shown["records"]} == {"executorch", "tflite", "eager"}
    for r in shown["records"]:
        assert len(r["samples_ms"]) == 1 and len(r["samples_ms"][0]) == r["latency_ms"]["n"]

    listed = json.loads(harness(["runs", "--json"], env, check=0).stdout)
    assert [r["id"] for r in listed["runs"]] == [third_id, second_id, first_id]  # newest first
    assert listed["runs"][-1]["measured"] == 3 and listed["runs"][-1]["records"] == 3

    compared = harness(["compare", first_id, second_id, "--json"], env)
    assert compared.returncode in (0, 3)  # 2 threads may well be slower here
    comparison = json.loads(compared.stdout)
    cells = {c["format"]: c for c in comparison["cells"]}
    assert "threads 1 -> 2" in cells["executorch"]["notes"] and cells["eager"]["verdict"] == "only in A"

    models = json.loads(harness(["models", "--json"], env, check=0).stdout)["models"]
    repvit = next(m for m in models if m["name"] == "repvit_m0_9")
    assert repvit["published"]["latency_device"].startswith("iPhone 12")

    devices = json.loads(harness(["devices", "--json"], dict(env, **_no_adb()), check=0).stdout)
    assert devices["devices"][0]["device_id"] == "host"
    android = next(k for k in devices["kinds"] if k["name"] == "android")
    assert android["devices"] == 0 and "adb start-server" in android["hint"]


def test_runs_lists_the_stored_runs_newest_first(runs):
    out = harness(["runs"], runs["env"], columns=100, check=0).stdout
    rows = [line.split() for line in out.splitlines() if re.match(r"\d{8}-\d{6}-", line)]
    assert [row[0] for row in rows] == list(reversed(runs["ids"]))
    assert rows[-1][3:8] == ["host", "1", "x", "3", "3/3"] and rows[-1][8] == "complete"


def test_show_samples_prints_only_samples_and_a_closed_pipe_is_no_error(runs):
    first_id = runs["ids"][0]
    env = {k: v for k, v in runs["env"].items() if k != "COLUMNS"}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "show", first_id, "--samples"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    header = proc.stdout.readline()
    first_sample = proc.stdout.readline()
    proc.stdout.close()  # as `| head -2` does: thousands of samples are still to come
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, stderr
    assert header.split() == ["model", "format", "trial", "ms"]
    model, fmt, trial, value = first_sample.split()
    assert model == "tiny_models_tiny_convnet" and trial == "1" and float(value) > 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr and stderr == ""


def test_the_leaderboard_compares_like_with_like(runs):
    env = runs["env"]
    out = runs["where"] / "board.md"
    harness(["report", "--out", str(out)], env, check=0)
    board = out.read_text()
    # One table per setting of threads: a 2-thread cell never stands beside a 1-thread one.
    headings = [line for line in board.splitlines() if line.startswith("## ")]
    assert any(h.endswith("/ executorch (xnnpack, fp32), 1 thread, any CPU") for h in headings)
    assert any(h.endswith("/ executorch (xnnpack, fp32), 2 threads, any CPU") for h in headings)
    assert any(h.endswith(", 1 thread, any CPU: formats side by side") for h in headings)
    two_threads = board.split(", 2 threads, any CPU: formats side by side")[1].split("##")[0]
    assert "eager" not in two_threads and "ratio" not in two_threads


def _result(model: str, samples, trials: int, planned: int) -> RunResult:
    device = DeviceInfo("host", "linux", cpu="Test CPU", cpu_count=2)
    one = RunResult(model=model, format="executorch", status="ok", device=device, load_ms=1.0,
                    first_inference_ms=1.0, samples_ms=tuple(samples), peak_rss_load_kb=1000,
                    peak_rss_inference_kb=2000, context={"rss_before_load_kb": 500})
    return combine_trials([one] * trials, planned)


def _store(store, config, status, model, median, trials, planned):
    run_id = store.begin_run({"device_id": "host", "platform": "linux"}, config, "harness run",
                             None, "0.1")
    result = _result(model, [median] * 10, trials, planned)
    stats = summarize_trials([result.samples_ms])
    store.add_record(BenchmarkRecord(
        run_id=run_id, model=model, format="executorch", device_id="host", status="ok",
        reason=f"interrupted after {trials} of {planned} trials" if trials < planned else "",
        artifact={"backend": "xnnpack", "precision": "fp32"}, model_info={"input_size": 32},
        result=result, stats=stats))
    store.finish_run(run_id, status)
    return run_id


def test_a_record_cut_short_by_an_interrupted_run_never_hides_a_whole_one(tmp_path):
    from harness.report.leaderboard import render_markdown

    config = {"bench": {"threads": 1, "cpu_affinity": None}}
    with Store(tmp_path / "h.db") as store:
        whole = _store(store, config, "complete", "net_a", 5.0, 3, 3)
        _store(store, config, RUN_INTERRUPTED, "net_a", 9.0, 2, 3)  # newer, but 2 of 3 trials
        alone = _store(store, config, RUN_INTERRUPTED, "net_b", 7.0, 2, 3)
        two = _store(store, {"bench": {"threads": 2, "cpu_affinity": None}}, "complete", "net_a",
                     3.0, 3, 3)
        latest = store.latest_records()
        runs = {run.id: run for run in store.runs()}
    cells = {(r.model, runs[r.run_id].config["bench"]["threads"]): r for r in latest}
    assert cells[("net_a", 1)].run_id == whole and cells[("net_a", 1)].stats.median == 5.0
    assert cells[("net_a", 2)].run_id == two  # another setting: a cell of its own
    assert cells[("net_b", 1)].run_id == alone  # the only record of its cell: shown, and marked
    board = render_markdown(latest, runs=runs)
    [net_b] = [line for line in board.splitlines() if line.startswith("| net_b ")]
    assert "only 2 of 3 trials" in net_b and f"from run {alone}, which is interrupted" in net_b
    [net_a_1] = [line for line in board.split("2 threads")[0].splitlines()
                 if line.startswith("| net_a ")]
    assert "5.00" in net_a_1 and "9.00" not in board


# ----------------------------------------------------------------------------------------------
# Options are checked before any work, each refusal one line


def _no_adb() -> dict:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return {"ANDROID_ADB_SERVER_HOST": "127.0.0.1", "ANDROID_ADB_SERVER_PORT": str(port)}


@pytest.fixture
def fresh(tmp_path):
    return dict(os.environ, HARNESS_DB=str(tmp_path / "h.db"), HARNESS_CACHE=str(tmp_path / "cache"))


def _one_line(out) -> str:
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


def test_run_asks_for_models_by_name(fresh):
    out = harness(["run"], fresh, check=2)
    line = _one_line(out)
    assert "--models all" in line and "repvit" in line and "--models repvit_m0_9" in line


def test_an_affinity_the_device_lacks_fails_before_exporting(fresh, tmp_path):
    cpus = os.cpu_count()
    out = harness(["run", "--models", TINY, "--affinity", f"0,{cpus}"], fresh, check=2)
    assert f"not {cpus}" in _one_line(out) and "--affinity" in out.stderr
    assert not (tmp_path / "cache").exists()  # nothing was exported
    malformed = harness(["run", "--models", TINY, "--affinity", "x"], fresh, check=2)
    assert "give CPU numbers separated by commas" in malformed.stderr


def test_models_and_formats_say_what_they_take(fresh, tmp_path):
    help_text = harness(["run", "--help"], fresh, check=0).stdout
    assert "path/to/net.py:factory" in help_text
    line = _one_line(harness(["run", "--models", str(TESTS / "tiny_models.py")], fresh, check=2))
    assert "tiny_models.py:FUNCTION" in line
    line = _one_line(harness(["run", "--models", TINY, "--formats", "tflite_int8"], fresh, check=2))
    assert "Did you mean tflite-int8" in line
    line = _one_line(harness(["run", "--models", "repvit_m0_9", "--input-shape", "1,3,128,128"],
                             fresh, check=2))
    assert "does not apply to zoo model repvit_m0_9, which is built for 1,3,224,224" in line
    assert not (tmp_path / "cache").exists()


def test_zoo_names_and_families_ignore_case_and_a_zoo_model_takes_only_its_own_shape():
    from harness.errors import HarnessError
    from harness.zoo import resolve_models

    assert [s.name for s in resolve_models("RepViT_M0_9")] == ["repvit_m0_9"]
    assert len(resolve_models("REPVIT")) == len(resolve_models("repvit")) > 1
    assert resolve_models("repvit_m0_9", (1, 3, 224, 224))[0].input_shape == (1, 3, 224, 224)
    with pytest.raises(HarnessError, match="leave --input-shape out"):
        resolve_models("repvit_m0_9", (1, 3, 128, 128))
    # A model from a file takes the shape it is given.
    assert resolve_models(TINY, (1, 3, 48, 48))[0].input_shape == (1, 3, 48, 48)


def test_devices_say_how_to_attach_a_phone(fresh):
    env = dict(fresh, **_no_adb())
    out = harness(["devices"], env, columns=100, check=0)
    port = env["ANDROID_ADB_SERVER_PORT"]
    assert f"no adb server at 127.0.0.1:{port}: start one with `adb start-server`" in \
        " ".join(out.stdout.split())
    assert "iOS" not in harness(["devices", "--help"], env, check=0).stdout


def test_build_runner_names_its_options(fresh):
    env = {k: v for k, v in fresh.items()
           if k not in ("ANDROID_NDK", "ANDROID_NDK_HOME", "EXECUTORCH_ANDROID_DIR")}
    line = _one_line(harness(["build-runner", "--target", "android-arm64"], env, check=1))
    assert "--ndk DIR" in line and "android_ndk" not in line


def test_models_label_every_published_latency_with_its_device(fresh):
    for columns in (100, None):
        out = harness(["models"], fresh, columns=columns, check=0).stdout
        rows = [line for line in out.splitlines() if line.startswith("repvit_m0_9 ")]
        assert rows and "0.9 ms on iPhone 12 (iOS 16 Core ML)" in rows[0]
        assert "48.8 ms on Jetson Nano" in out
        assert all(len(line) <= 100 for line in out.splitlines()) or columns is None
