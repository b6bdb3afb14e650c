"""The runner seam: a device kind is one descriptor, a format names its runtime, and the
runner decides at run time what runs where.

- A kind defined only in these tests (tests/support/loopback_kind.py), added to `harness.devices.KINDS`
  and nowhere else, is listed by `harness devices`, takes its own option, offers runtime
  variants, and measures with `harness run --device loopback`.
- The host worker measures on a Python without `os.sched_getaffinity`/`sched_setaffinity`
  (macOS has neither) and records that the affinity could not be set.
- An install without some exporters and runtimes (a virtual environment linking this one's
  packages but those) turns each of their cells into a row naming the extra to install,
  `harness cache ls` still works, and an artifact exported there unchecked is checked by the
  first lookup on a machine that has its runtime.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from device_runners.install_hint import pip_install_extra
from tests.support import loopback_kind
from tests.support.paths import ROOT, TINY
from device_runners.contract import RunRequest, RunResult
from harness import devices
from harness.cli import main
from harness.store import Store

FAST = ["--warmup", "2", "--iterations", "10", "--min-time", "0.05", "--trials", "1"]


@pytest.fixture
def with_loopback(monkeypatch):
    """The one edit a new kind needs: an entry in harness.devices.KINDS."""
    monkeypatch.setattr(devices, "KINDS", [*devices.KINDS, loopback_kind.KIND])


@pytest.mark.slow
def test_a_kind_added_to_the_list_is_listed_and_measures(tmp_results, with_loopback):
    listed = CliRunner().invoke(main, ["devices"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    assert "loopback" in listed.output and "looping" in listed.output and "host" in listed.output

    out = CliRunner().invoke(main, ["run", "--device", "loopback", "--models", TINY, "--formats",
                                    "eager,executorch,tflite", "--loopback-split-torch", *FAST],
                             catch_exceptions=False)
    assert out.exit_code == 3, out.output  # the tflite cell cannot run on this kind
    with Store() as store:
        [run] = store.runs()
        records = {r.format: r for r in store.records(run.id)}
    assert run.device_id == "loopback" and run.device["kind"] == "loopback"
    # torch in two variants (one artifact measured twice), executorch as built, and litert,
    # which this runner does not run, a row with the runner's own reason.
    assert sorted(records) == ["eager@a", "eager@b", "executorch", "tflite"]
    for name in ("eager@a", "eager@b", "executorch"):
        record = records[name]
        assert record.status == "ok", record.reason
        assert record.result.device.device_id == "loopback"
        assert record.trials[0].context["loopback_prepared"] is True  # staged before the trial
    # One model: the gate ran once, before its first measurement, and is reported with it.
    assert records["eager@a"].trials[0].context["thermal_gate"]["timed_out"] is False
    assert "thermal_gate" not in records["executorch"].trials[0].context
    assert {records[n].result.backend for n in ("eager@a", "eager@b")} == {"torch:a", "torch:b"}
    assert records["eager@a"].artifact["cache_key"] == records["eager@b"].artifact["cache_key"]
    assert (records["executorch"].result.runtime, records["eager@a"].result.runtime) == ("executorch", "torch")
    assert records["tflite"].status == "unsupported"
    assert records["tflite"].reason == "loopback runs torch and executorch only"


def test_an_option_of_one_kind_is_refused_for_another(tmp_results, with_loopback):
    out = CliRunner().invoke(main, ["run", "--device", "host", "--models", TINY,
                                    "--loopback-split-torch", *FAST])
    assert out.exit_code == 2
    assert "--loopback-split-torch does not apply to --device host (this machine)" in out.output
    assert not (tmp_results / "harness.db").exists() or Store().runs() == []


def test_an_unknown_device_lists_the_devices_of_every_kind(tmp_results, with_loopback):
    out = CliRunner().invoke(main, ["run", "--device", "toaster", "--models", TINY])
    assert out.exit_code == 2
    assert "No device matches 'toaster'. Attached: host, loopback." in out.output


# ----------------------------------------------------------------------------------------------
# The host worker on a Python without CPU affinity (as on macOS)


NO_AFFINITY = """\
# A Python like macOS's: the os module has no CPU affinity calls.
import os
for name in ("sched_getaffinity", "sched_setaffinity"):
    if hasattr(os, name):
        delattr(os, name)
"""


def test_the_worker_measures_without_affinity_calls_and_says_it_could_not_pin(tmp_path, shared_cache):
    from harness.export.base import get_format
    from harness.export.cache import ArtifactCache
    from harness.export.pipeline import export_matrix
    from harness.zoo import resolve_models

    [artifact] = export_matrix(resolve_models(TINY), [get_format("eager")], ArtifactCache(shared_cache))
    request = RunRequest(model=artifact.model, format="eager", runtime="torch",
                         artifact_path=artifact.path, artifact_sha256=artifact.sha256,
                         input_shape=(1, 3, 32, 32), cpu_affinity=(0,), warmup_iterations=1,
                         min_iterations=5, min_duration_s=0.0)
    (tmp_path / "request.json").write_text(request.to_json())
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(NO_AFFINITY)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shim), str(ROOT)]))
    probe = subprocess.run([sys.executable, "-c", "import os; print(hasattr(os, 'sched_setaffinity'))"],
                           env=env, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "False"  # the shim took effect

    subprocess.run([sys.executable, "-m", "device_runners.host.worker", "--request",
                    str(tmp_path / "request.json"), "--result", str(tmp_path / "result.json")],
                   env=env, check=True, capture_output=True, timeout=300)
    result = RunResult.from_json((tmp_path / "result.json").read_text())
    assert result.status == "ok", result.error
    assert len(result.samples_ms) >= 5 and result.runtime == "torch"
    assert result.cpu_affinity is None  # not known, rather than a guess
    assert "has no sched_setaffinity" in result.context["cpu_affinity_note"]
    assert result.context["cpu"] is not None


# ----------------------------------------------------------------------------------------------
# An install without some exporters and runtimes


def _distribution_top_levels(name: str) -> set[str]:
    """The top-level names (packages, modules, .dist-info) a distribution installed."""
    dist = importlib.metadata.distribution(name)
    tops = {Path(str(f)).parts[0] for f in dist.files or ()}
    return {t for t in tops if not t.startswith("..")}


@pytest.fixture(scope="module")
def partial_install(tmp_path_factory):
    """A virtual environment whose site-packages links to this one's, without the given
    distributions: an install that lacks them, for the harness and every process it starts
    (export children and workers run `sys.executable`, the environment's own python).

    Yields a function that returns the command prefix (`python -m`) and environment to run in it.
    """
    made = {}

    def python_without(*distributions: str) -> tuple[list[str], dict]:
        key = tuple(sorted(distributions))
        if key not in made:
            hidden = set().union(*(_distribution_top_levels(d) for d in distributions))
            venv = tmp_path_factory.mktemp("venv-" + "-".join(key)[:40])
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
            [target] = venv.glob("lib/python3*/site-packages")
            for source in map(Path, site.getsitepackages()):
                if not source.is_dir():
                    continue
                for entry in source.iterdir():
                    if entry.name not in hidden and not (target / entry.name).exists():
                        (target / entry.name).symlink_to(entry)
            made[key] = venv / "bin" / "python"
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PYTHONPATH"] = str(ROOT)  # this checkout, as an editable install would give
        return [str(made[key]), "-m"], env

    return python_without


@pytest.mark.slow
def test_without_the_tflite_and_onnx_extras_their_cells_say_what_to_install(partial_install, tmp_path):
    from harness.export.base import get_format
    from harness.export.cache import ArtifactCache
    from harness.export.pipeline import export_matrix
    from harness.zoo import resolve_models

    # An ONNX artifact in the cache, exported where the extra was installed.
    export_matrix(resolve_models(TINY), [get_format("onnx")], ArtifactCache(tmp_path / "cache"))
    python, env = partial_install("litert-torch", "ai-edge-litert", "ai-edge-quantizer",
                                  "onnxruntime", "onnxscript")
    env.update(HARNESS_DB=str(tmp_path / "h.db"), HARNESS_CACHE=str(tmp_path / "cache"))
    run = subprocess.run([*python, "harness.cli", "run", "--models", TINY, "--formats",
                          "executorch,tflite,onnx", *FAST], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 3, run.stderr[-3000:]  # some cells could not be measured
    with Store(tmp_path / "h.db") as store:
        records = {r.format: r for r in store.records(store.runs()[0].id)}
    assert records["executorch"].status == "ok", records["executorch"].reason
    for name, extra, package in (("tflite", "tflite", "litert-torch"), ("onnx", "onnx", "onnxscript")):
        record = records[name]
        assert record.status == "export_failed"
        assert record.reason == (f"the {name} exporter needs {package}, which is not installed: "
                                 f"{pip_install_extra(extra)}")

    listing = subprocess.run([*python, "harness.cli", "cache", "ls"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert listing.returncode == 0, listing.stderr[-3000:]
    assert "2 entries" in listing.stdout
    assert "cannot tell: the onnx exporter needs onnxscript" in " ".join(listing.stdout.split())


@pytest.mark.slow  # the runner seam stays in the default tier through its option and device tests
def test_an_artifact_exported_where_its_runtime_is_missing_is_checked_where_it_is(
        partial_install, tmp_path):
    """As a Core ML package built on Linux and copied to a Mac: here, ONNX exported without
    onnxruntime, then looked up with it."""
    python, env = partial_install("onnxruntime")
    cache = tmp_path / "cache"
    export = subprocess.run([*python, "harness.cli", "export", "--models", TINY, "--formats", "onnx",
                             "--cache-dir", str(cache)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert export.returncode == 0, export.stderr[-3000:]
    [meta] = cache.glob("*/meta.json")
    unchecked = json.loads(meta.read_text())
    assert unchecked["status"] == "ok" and unchecked["numerics"] is None
    assert unchecked["reason"] == ("numerics not checked here: the onnxruntime runtime is not "
                                   "installed here: pip install onnxruntime")

    from harness.export.base import get_format
    from harness.export.cache import ArtifactCache
    from harness.export.pipeline import export_matrix
    from harness.zoo import resolve_models

    [artifact] = export_matrix(resolve_models(TINY), [get_format("onnx")], ArtifactCache(cache))
    assert artifact.cached and artifact.status == "ok" and artifact.reason == ""
    assert artifact.numerics.passed and artifact.numerics.cosine > 0.999
    stored = json.loads(meta.read_text())  # the entry now carries the check, for every later hit
    assert stored["numerics"]["cosine"] == artifact.numerics.cosine and stored["reason"] == ""
    assert stored["details"]["numerics_checked_with"]["runtime"] == "onnxruntime"
    assert len(list(cache.glob("*/meta.json"))) == 1  # the same entry, not a new export


# ----------------------------------------------------------------------------------------------
# What the seam rules out


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Our modules `path` imports anywhere in it (function-level imports included)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found.update(n for n in names if n in modules)
    return found


def test_no_module_of_ours_imports_itself_back_through_others():
    files = [p for pkg in ("harness", "device_runners") for p in (ROOT / pkg).rglob("*.py")]
    modules = {_module_of(p) for p in files}
    graph = {_module_of(p): _imports(p, modules) - {_module_of(p)} for p in files}
    cycles = []
    for start in graph:
        stack, seen = [(start, (start,))], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" -> ".join(path + (start,)))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + (nxt,)))
    # A package may import its own submodules (re-exports); a cycle through that is not one.
    real = [c for c in cycles if not any(
        a.startswith(b + ".") or b.startswith(a + ".")
        for a, b in zip(c.split(" -> "), c.split(" -> ")[1:]))]
    assert real == []


def test_device_runners_never_import_the_harness():
    files = list((ROOT / "device_runners").rglob("*.py"))
    harness_modules = {_module_of(p) for p in (ROOT / "harness").rglob("*.py")}
    assert {str(p.relative_to(ROOT)): sorted(_imports(p, harness_modules)) for p in files
            if _imports(p, harness_modules)} == {}


def test_every_family_and_format_module_is_listed():
    from harness.export.base import FORMAT_MODULES
    from harness.zoo.registry import FAMILY_MODULES

    def registering(package: str, marker: str) -> set[str]:
        return {p.stem for p in (ROOT / "harness" / package).glob("*.py")
                if marker in p.read_text() and p.stem not in ("registry", "base", "__init__")}

    assert registering("zoo", "register_model") == set(FAMILY_MODULES)
    assert registering("export", "register_format(") == set(FORMAT_MODULES)
