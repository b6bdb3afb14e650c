"""The README's commands run as documented, so the README cannot drift from the CLI.

Every line of the code blocks of the README's Quickstart and Commands is read. A `harness` line
runs, in a subprocess, on the tiny model instead of the zoo (`all`, families and zoo names map to
tests/tiny_models.py:tiny_convnet, `path/to/net.py:build` and `net.pth` to a real file and state
dict of it, RUN_A RUN_B to the two newest runs with a cell in common), `harness run` with the fast measuring options
(not `--resume`, which takes the run's own). `--device iphone12` runs against the iOS stand-ins
(tests/support/ios_sim: a fake pymobiledevice3 and an app measuring with this machine's runtimes).
Skipped, and said so here: the one command that needs an Android phone (`--device pixel7`), and
the Quickstart's install and test-suite lines (venv, pip, pytest: .ci/run runs those). Any other line fails this test until it is taught here.
Every command of the CLI must appear in the README.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest
import torch

from tests.support.paths import ROOT, TESTS, TINY
from tests.support.ios_sim import IosSim
from tests.tiny_models import tiny_convnet

FAST = ["--warmup", "1", "--iterations", "5", "--min-time", "0.05", "--trials", "1"]
SKIP_PREFIXES = {
    "python3.11 -m venv": "creates the environment the tests already run in",
    "pip install": "installs the project: .ci/run does, on every CI run",
    "python tools/install_torch.py": "installs PyTorch: .ci/run does, through make",
    "python -m pytest": "the test suite itself",
    "make test": "the test suite itself (.ci/run runs it)",
    # `make run` makes the environment, then runs Makefile's FIRST_RUN: a README command this test
    # runs (test_make_run_runs_the_readme_s_first_benchmark holds the two equal).
    "make run": "the environment, then the first benchmark, which this test runs",
}
NEEDS_A_PHONE = "--device pixel7"
ON_THE_IOS_STAND_IN = "--device iphone12"
# Exit codes other than 0 that a documented command may end with here, and why.
EXPECTED = {
    "compare": (0, 3),  # 3: a cell measured slower, which a busy 2-core machine may well see
    "setup": (1,),  # no NDK here, and LiteRT's site is out of reach: each step says what to do
}


# The README's sections whose code blocks are commands (the others show output and layout).
COMMAND_SECTIONS = ("## Quickstart", "## Commands")


def readme_commands() -> list[str]:
    """Every command line of the code blocks of the README's command sections, comments
    stripped."""
    lines = (ROOT / "README.md").read_text().splitlines()
    commands, previous_blank, in_block, section = [], True, False, ""
    for line in lines:
        if line.startswith("## "):
            section = line.strip()
        if section not in COMMAND_SECTIONS:
            in_block, previous_blank = False, not line.strip()
            continue
        if line.startswith("    ") and (in_block or previous_blank):
            in_block = True
            text = line.strip()
            if text and not text.startswith("#"):
                commands.append(re.split(r"\s+#\s", text)[0].strip())
        elif line.strip():
            in_block = False
        previous_blank = not line.strip()
    return commands


def _zoo_words() -> set[str]:
    from harness.zoo.index import zoo_index

    entries = zoo_index()
    return {"all"} | {e.name for e in entries} | {e.family.lower() for e in entries}


def adapt(argv: list[str], where, runs: list[str], cache=None) -> list[str]:
    """A README command as this test runs it: the tiny model for the zoo, real files for the
    placeholders, the fast options for `run`."""
    zoo = _zoo_words()
    out = []
    for i, word in enumerate(argv):
        if i and argv[i - 1] == "--models":
            parts = []
            for part in word.split(","):
                mapped = TINY if part.lower() in zoo else part.replace("path/to/", f"{where}/")
                if mapped not in parts:
                    parts.append(mapped)
            word = ",".join(parts)
        elif word == "net.pth":
            word = str(where / "net.pth")
        elif word.startswith("examples/") and argv[1:3] == ["farm", "run"]:
            word = str(small_farm(ROOT / word, where))  # the example, on the tiny model
        elif word.startswith("examples/"):  # the repository's own examples
            word = str(ROOT / word)
        elif word in ("net.tflite", "net.onnx") or word.startswith(("net.tflite,", "net.onnx,")):
            word = ",".join(str(given_file(where, w, cache)) for w in word.split(","))
        elif word in ("RUN_A", "RUN_B"):
            word = runs[0] if word == "RUN_A" else runs[1]
        out.append(word)
    if out[1] == "run" and "--resume" not in out:
        out += FAST
    return out


def small_farm(example, where):
    """The example farm.yaml as it is, but for the tiny model, one format, fast settings and a
    database of the test's own (its exports would take minutes)."""
    import yaml

    data = yaml.safe_load(example.read_text())
    data.update(models=TINY, formats=["executorch"],
                settings={"trials": 1, "warmup": 1, "iterations": 5, "min_time": 0.05},
                results={"db": str(where / "results" / "harness.db"), "out": str(where / "farm")})
    path = where / "farm.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def given_file(where, name: str, cache):
    """net.tflite / net.onnx: the tiny model's artifacts, exported once into the shared cache."""
    from harness.export.base import resolve_formats
    from harness.export.cache import ArtifactCache
    from harness.export.isolated import export_all
    from harness.zoo import resolve_models

    target = where / name
    if not target.exists():
        import shutil

        [spec] = resolve_models(TINY)
        [exported] = export_all([spec], lambda s: resolve_formats("tflite,onnx"), ArtifactCache(cache)).values()
        for artifact in exported.artifacts.values():
            shutil.copyfile(artifact.path, where / f"net{artifact.path[artifact.path.rindex('.'):]}")
    return target


def test_make_run_runs_the_readme_s_first_benchmark():
    makefile = (ROOT / "Makefile").read_text()
    first = re.search(r"^FIRST_RUN := \$\(BIN\)/(.+)$", makefile, re.M).group(1).strip()
    assert first in readme_commands()


def test_the_readme_lists_every_command_of_the_cli():
    from harness.cli import main

    documented = {shlex.split(c)[1] for c in readme_commands() if c.startswith("harness ")}
    assert set(main.commands) <= documented, set(main.commands) - documented


@pytest.mark.slow
def test_every_documented_command_runs(tmp_path, shared_cache):
    with IosSim(tmp_path / "ios") as sim:  # an iPhone 12 for `--device iphone12`
        sim.add_phone("00008101-000A1B2C3D4E5F60", product_type="iPhone13,2")
        _run_every_documented_command(tmp_path, shared_cache)


def _run_every_documented_command(tmp_path, shared_cache):
    (tmp_path / "net.py").write_text((TESTS / "tiny_models.py").read_text() + "\n\nbuild = tiny_convnet\n")
    torch.save(tiny_convnet().state_dict(), tmp_path / "net.pth")
    env = dict(os.environ, HARNESS_DB=str(tmp_path / "results" / "harness.db"),
               HARNESS_CACHE=str(shared_cache), HARNESS_WIDTH="100",
               # `harness setup android` downloads from LiteRT's site: here, a port nothing serves.
               HARNESS_LITERT_BINARIES_URL="http://127.0.0.1:9", HARNESS_TOOLS_DIR=str(tmp_path / "tools"))
    for var in ("ANDROID_NDK", "ANDROID_NDK_HOME", "EXECUTORCH_ANDROID_DIR"):
        env.pop(var, None)
    commands = readme_commands()
    assert any(c.startswith("harness run") for c in commands)
    ran, skipped = [], []
    for command in commands:
        if any(command.startswith(prefix) for prefix in SKIP_PREFIXES):
            skipped.append(command)
            continue
        assert command.startswith("harness "), f"the README documents {command!r}: teach this test"
        if NEEDS_A_PHONE in command:
            skipped.append(command)
            continue
        runs = _run_ids(tmp_path)
        argv = adapt(shlex.split(command), tmp_path, runs, shared_cache)
        out = subprocess.run([sys.executable, "-m", "harness.cli", *argv[1:]], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=900)
        where = f"{command}\n-> {shlex.join(argv)}\n{out.stdout}\n{out.stderr}"
        assert "Traceback" not in out.stderr, where
        if argv[1:3] == ["build-runner", "--target"] and argv[3] == "android-arm64":
            # No Android NDK here: the documented command fails in one line naming what is missing.
            assert out.returncode == 1 and "is not an Android NDK" in out.stderr, where
        elif ON_THE_IOS_STAND_IN in command:
            # The stand-in app has no Core ML (3: some cells not measured); LiteRT measures.
            assert out.returncode == 3, where
            assert re.search(r"^\S+\s+tflite\s+[0-9.]+ \[", out.stdout, re.M), where
            assert "coreml@cpu_and_ne" in out.stdout, where  # one cell per compute unit
        else:
            assert out.returncode in EXPECTED.get(argv[1], (0,)), where
            assert out.stdout.strip(), where
        ran.append(command)
    assert len(ran) >= 20 and all(NEEDS_A_PHONE in c or c.split()[0] in ("pip", "python", "python3.11", "make")
                                  for c in skipped), skipped


def _run_ids(where) -> list[str]:
    """[A, B]: the two newest runs that measured a cell in common (what RUN_A RUN_B stand for)."""
    from harness.store import Store

    db = where / "results" / "harness.db"
    if not db.exists():
        return []
    with Store(db, readonly=True) as store:
        cells = {run.id: {(r.device_id, r.model, r.format) for r in store.records(run.id) if r.status == "ok"}
                 for run in store.runs()}
    newest = list(cells)  # newest first
    for i, b in enumerate(newest):
        for a in newest[i + 1:]:
            if cells[a] & cells[b]:
                return [a, b]
    return newest[:2]
