"""`harness run --models net.tflite,net.onnx`: files a user already has, measured as they are
(harness/export/given.py): no export, one row per file, the input from the file's signature,
the file hashed into the cache, numerics against --numerics-reference or skipped with a note."""

from __future__ import annotations

import pathlib
import shutil

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.store import Store
from tests.support.paths import TINY

FAST = ["--warmup", "1", "--iterations", "5", "--min-time", "0.05", "--trials", "1"]


@pytest.fixture(scope="module")
def files(tmp_path_factory, shared_cache):
    """The tiny model as a .tflite, an .onnx and a .pte, as a user would have them."""
    from harness.export.base import resolve_formats
    from harness.export.cache import ArtifactCache
    from harness.export.isolated import export_all
    from harness.zoo import resolve_models

    where = tmp_path_factory.mktemp("given")
    [spec] = resolve_models(TINY)
    [exported] = export_all([spec], lambda s: resolve_formats("tflite,onnx,executorch"),
                            ArtifactCache(shared_cache)).values()
    for artifact in exported.artifacts.values():
        assert artifact.status == "ok", artifact.reason
        shutil.copyfile(artifact.path, where / f"net{pathlib.Path(artifact.path).suffix}")
    return where


def run(tmp_results, *argv):
    return CliRunner().invoke(main, ["run", *argv, *FAST], catch_exceptions=False)


@pytest.mark.slow
def test_files_are_measured_as_they_are_and_checked_against_the_reference(files, tmp_results):
    out = run(tmp_results, "--models", f"{files / 'net.tflite'},{files / 'net.pte'}",
              "--numerics-reference", str(files / "net.onnx"), "--formats", "onnx")
    assert out.exit_code == 0, out.output
    with Store(readonly=True) as store:
        [run_info] = store.runs()
        records = {r.format: r for r in store.records(run_info.id)}
    assert set(records) == {"tflite", "executorch"}  # each file in its own format, not --formats
    for fmt, record in records.items():
        assert record.model == "net" and record.status == "ok", (fmt, record.reason)
        assert record.artifact["details"]["input_shape"] == [1, 3, 32, 32]  # from the signature
        assert record.artifact["details"]["given"] == str(files / f"net.{record.artifact['path'].rsplit('.', 1)[1]}")
        assert record.artifact["numerics"]["cosine"] > 0.999 and record.artifact["numerics"]["passed"]
        assert record.stats.n >= 5
    again = run(tmp_results, "--models", f"{files / 'net.tflite'},{files / 'net.pte'}",
                "--numerics-reference", str(files / "net.onnx"))
    assert again.exit_code == 0
    assert "0 exports to build (2 cached)" in again.output


@pytest.mark.slow
def test_without_a_reference_the_cell_says_its_numerics_were_not_checked(files, tmp_results):
    out = run(tmp_results, "--models", str(files / "net.onnx"))
    assert out.exit_code == 0, out.output
    with Store(readonly=True) as store:
        [record] = store.records(store.runs()[0].id)
    assert record.format == "onnx" and record.status == "ok"
    assert record.reason.startswith("numerics not checked: no --numerics-reference given")


def test_a_damaged_file_is_one_line_before_any_work(tmp_path, tmp_results):
    damaged = tmp_path / "broken.tflite"
    damaged.write_bytes(b"\x00" * 64)
    out = CliRunner().invoke(main, ["run", "--models", str(damaged)])
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert out.exit_code == 1 and len(lines) == 1, out.output
    assert f"{damaged} cannot be read as a .tflite file" in lines[0]
    assert not (tmp_results / "harness.db").exists() or not Store(readonly=True).runs()


def test_a_missing_file_or_reference_is_a_usage_error(files, tmp_results):
    out = CliRunner().invoke(main, ["run", "--models", str(files / "nope.tflite")])
    assert out.exit_code == 2 and "nope.tflite does not exist" in out.output
    out = CliRunner().invoke(main, ["run", "--models", TINY, "--numerics-reference", str(files / "net.onnx")])
    assert out.exit_code == 2 and "--numerics-reference checks artifact files" in out.output
