"""Every format, exported once per session from the tiny convnet with the real converters and
checked with the real runtimes; `harness export` and `harness cache` on the same cache."""

import shutil
import time

import numpy as np
import pytest
from click.testing import CliRunner

from tests.support.paths import TESTS, TINY
from device_runners.host.runtimes import (
    UnsupportedArtifact,
    coreml_compute_units,
    load_artifact,
    support,
)
from harness.cli import main
from harness.export.base import all_formats, get_format
from harness.export.cache import ArtifactCache
from harness.export.pipeline import export_matrix
from harness.report.export_matrix import format_totals
from harness.zoo import resolve_models

FORMATS = sorted(f.name for f in all_formats())
# Built here but run only on devices this host is not (an Apple chip, an Android GPU), and the
# slowest of the matrix to export (11 s of the tiny convnet's 38): their exports are checked in
# the slow tier, the formats that run here in the default one.
DEVICE_ONLY = ("executorch-coreml", "executorch-vulkan")
DEFAULT_TIER = [name for name in FORMATS if name not in DEVICE_ONLY]


def _param(name: str):
    return pytest.param(name, marks=pytest.mark.slow) if name in DEVICE_ONLY else name


class TinyMatrix(dict):
    """{format name: Artifact} of the tiny convnet, each format exported when first asked for
    (once per session, into the shared cache)."""

    def __init__(self, cache):
        super().__init__()
        self.cache = cache
        self.spec = resolve_models(TINY)

    def __missing__(self, name: str):
        [artifact] = export_matrix(self.spec, [get_format(name)], self.cache)
        self[name] = artifact
        return artifact


@pytest.fixture(scope="session")
def tiny_matrix(shared_cache):
    return TinyMatrix(ArtifactCache(shared_cache))


def test_every_format_is_registered():
    assert set(FORMATS) >= {
        "executorch", "executorch-int8", "executorch-coreml", "executorch-vulkan", "executorch-portable",
        "tflite", "tflite-fp16", "tflite-int8", "coreml", "coreml-fp32", "onnx", "eager",
    }


@pytest.mark.parametrize("name", [_param(name) for name in FORMATS])
def test_format_exports_and_passes_numerics_where_it_runs(tiny_matrix, name):
    artifact = tiny_matrix[name]
    fmt = get_format(name)
    assert artifact.status == "ok", artifact.reason
    assert artifact.size_bytes > 0 and len(artifact.sha256) == 64
    assert artifact.exporter_versions == fmt.versions()
    assert artifact.runtime == fmt.runtime
    if support().why_not(fmt.runtime, fmt.backend) is None:  # this host runs it: checked here
        n = artifact.numerics
        assert n.passed and n.inputs == 3
        assert n.cosine >= fmt.threshold.min_cosine
        assert n.top5_agreement is not None  # the tiny convnet ends in 10 logits
    else:
        assert artifact.numerics is None
        assert artifact.reason.startswith("numerics not checked here: ")
        assert "runs on macOS/iOS only" in artifact.reason or "no Vulkan backend" in artifact.reason


def test_quantized_formats_are_smaller_than_fp32(tiny_matrix):
    size = {name: tiny_matrix[name].size_bytes
            for name in ("executorch", "executorch-int8", "tflite", "tflite-fp16", "tflite-int8")}
    assert size["executorch-int8"] < size["executorch"]
    assert size["tflite-int8"] < size["tflite-fp16"] < size["tflite"]


def test_int8_formats_record_their_calibration_and_tighter_thresholds_stay_apart(tiny_matrix):
    for name in ("executorch-int8", "tflite-int8"):
        calibration = tiny_matrix[name].details["calibration"]
        assert calibration["source"].startswith("random normal") and calibration["inputs"] == 8
    assert tiny_matrix["executorch-int8"].numerics.min_cosine < tiny_matrix["executorch"].numerics.min_cosine


def test_delegation_coverage_is_stored_for_every_delegate(tiny_matrix):
    xnnpack = tiny_matrix["executorch"].details["delegation"]
    assert xnnpack["backend"] == "XNNPACK" and 0 < xnnpack["delegated_nodes"] <= xnnpack["total_nodes"]
    int8 = tiny_matrix["executorch-int8"].details["delegation"]
    assert int8["delegated_nodes"] > xnnpack["delegated_nodes"]  # quantize/dequantize nodes too
    portable = tiny_matrix["executorch-portable"].details["delegation"]
    assert portable["delegated_nodes"] == 0 and portable["total_nodes"] > 0
    for name in ("tflite", "tflite-fp16", "tflite-int8"):
        details = tiny_matrix[name].details
        assert details["operators"]["CONV_2D"] == 2
        litert = details["delegation"]
        assert litert["backend"] == "XNNPACK" and litert["delegate_calls"] >= 1
        # Every operator of the tiny convnet is one XNNPACK supports.
        assert litert["delegated_nodes"] == litert["total_nodes"] == sum(details["operators"].values())
    assert tiny_matrix["onnx"].details["operators"]["Conv"] == 2
    assert tiny_matrix["eager"].details["operators"]["aten.conv2d.default"] == 2


@pytest.mark.slow
def test_the_device_only_delegates_record_their_coverage(tiny_matrix):
    coreml = tiny_matrix["executorch-coreml"].details["delegation"]
    assert coreml["backend"] == "Core ML" and coreml["delegated_nodes"] > 0
    vulkan = tiny_matrix["executorch-vulkan"].details["delegation"]
    assert vulkan["backend"] == "Vulkan" and vulkan["delegated_nodes"] > 0


def test_int8_tflite_takes_quantized_input_and_gives_float_output(tiny_matrix):
    loaded = load_artifact(tiny_matrix["tflite-int8"].path, "litert")
    assert loaded.details["input_dtypes"] == ["int8"]
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    [y] = loaded.infer([x])
    assert y.dtype == np.float32 and y.shape == (1, 10)


@pytest.mark.parametrize("name,dtype", [("coreml", "FLOAT16"), ("coreml-fp32", "FLOAT32")])
def test_coreml_package_spec_has_the_model_shapes_and_precision(tiny_matrix, name, dtype):
    import coremltools as ct

    from harness.export.coreml import SpecCheckError, check_spec

    spec = ct.utils.load_spec(tiny_matrix[name].path)
    assert [list(i.type.multiArrayType.shape) for i in spec.description.input] == [[1, 3, 32, 32]]
    assert [list(o.type.multiArrayType.shape) for o in spec.description.output] == [[1, 10]]
    assert spec.specificationVersion >= 7  # iOS 16
    details = tiny_matrix[name].details
    assert set(details["compute_dtypes"]) == {dtype}
    assert details["operators"]["conv"] == 2
    with pytest.raises(SpecCheckError, match="outputs"):
        check_spec(spec, [[1, 3, 32, 32]], [[1, 1000]], details["compute_precision"])
    other = "fp32" if dtype == "FLOAT16" else "fp16"
    with pytest.raises(SpecCheckError, match="compute ops run in"):
        check_spec(spec, [[1, 3, 32, 32]], [[1, 10]], other)


@pytest.mark.needs("Core ML runs on macOS: this test is of the other hosts"
                    if __import__("platform").system() == "Darwin" else None)
def test_coreml_runtime_refuses_off_apple_and_knows_its_compute_units(tiny_matrix):
    with pytest.raises(UnsupportedArtifact, match="macOS/iOS only"):
        load_artifact(tiny_matrix["coreml"].path, "coreml", backend="coreml:cpu_and_ne")
    # The delegate is refused before the program is read: any .pte shows it (the Core ML
    # delegate's own export is in the slow tier).
    with pytest.raises(UnsupportedArtifact, match="coreml delegate runs on macOS/iOS only"):
        load_artifact(tiny_matrix["executorch"].path, "executorch", backend="coreml")
    assert coreml_compute_units("coreml:cpu_and_ne") == "cpu_and_ne"
    assert coreml_compute_units("coreml") == "all"
    with pytest.raises(ValueError, match="cpu_only"):
        coreml_compute_units("coreml:neural_engine")


@pytest.mark.parametrize("selector", [",".join(DEFAULT_TIER), pytest.param("all", marks=pytest.mark.slow)])
def test_harness_export_prints_one_row_per_model_and_format(tiny_matrix, shared_cache, selector):
    names = FORMATS if selector == "all" else DEFAULT_TIER
    for name in names:
        tiny_matrix[name]  # exported once, before
    t0 = time.perf_counter()
    out = CliRunner().invoke(main, ["export", "--models", TINY, "--formats", selector,
                                    "--cache-dir", str(shared_cache)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    rows = [line.split() for line in out.output.splitlines()
            if line.startswith("tiny_models_tiny_convnet ")]
    assert len(rows) == len(names)
    for name in names:
        [row] = [r for r in rows if r[1] == name]
        assert row[2] == "ok" and "(cached)" in " ".join(row)  # status
        assert any(word in ("B", "kB", "MB") for word in row)  # size
    assert "runs on macOS/iOS only" in out.output
    assert "XNNPACK 7/7 nodes" in out.output  # LiteRT coverage
    n = len(names)
    assert f"{n} cells: {n} ok, 0 numerics_failed, 0 failed; {n} from the cache" in out.output
    assert time.perf_counter() - t0 < 30  # nothing was exported again
    totals = {t.format: t for t in format_totals(list(tiny_matrix.values()))}
    assert totals["tflite"].ok == 1 and totals["tflite"].export_s > 0


@pytest.mark.slow
def test_calibration_images_make_another_int8_artifact_and_say_so(tiny_matrix, shared_cache, tmp_path):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(images / f"{i}.png")
    np.save(images / "extra.npy", rng.integers(0, 255, (3, 20, 20), dtype=np.uint8))
    out = CliRunner().invoke(main, ["export", "--models", TINY, "--formats", "tflite-int8",
                                    "--cache-dir", str(shared_cache), "--calibration-images", str(images)],
                             catch_exceptions=False)
    assert out.exit_code == 0, out.output
    artifact = next(a for a in ArtifactCache(shared_cache).entries()
                    if a.format == "tflite-int8" and "images" in a.details["calibration"]["source"])
    assert artifact.status == "ok" and artifact.cache_key != tiny_matrix["tflite-int8"].cache_key
    calibration = artifact.details["calibration"]
    assert calibration["inputs"] == 4 and "read with Pillow" in calibration["source"]


@pytest.mark.slow  # the cache stays in the default tier through test_export_cache
def test_cache_ls_and_prune(tiny_matrix, shared_cache, tmp_path):
    cache_dir = tmp_path / "cache"
    shutil.copytree(shared_cache, cache_dir)
    model_file = tmp_path / "net.py"
    model_file.write_text((TESTS / "tiny_models.py").read_text())
    runner = CliRunner()

    def cli(*args):
        return runner.invoke(main, [*args, "--cache-dir", str(cache_dir)], catch_exceptions=False)

    # One entry made from a model file that then changes (stale), one failed export.
    assert cli("export", "--models", f"{model_file}:tiny_convnet", "--formats", "eager").exit_code == 0
    # Nothing exported: exit code 4 (harness.exit_codes).
    assert cli("export", "--models", f"{TESTS / 'tiny_models.py'}:unexportable", "--formats", "eager").exit_code == 4
    model_file.write_text(model_file.read_text().replace("nn.Conv2d(3, 8", "nn.Conv2d(3, 12").replace(
        "nn.BatchNorm2d(8)", "nn.BatchNorm2d(12)").replace("nn.Conv2d(8, 16", "nn.Conv2d(12, 16"))
    before = len(ArtifactCache(cache_dir).listing())

    listed = cli("cache", "ls")
    assert listed.exit_code == 0
    assert f"{before} entries" in listed.output
    assert "net_tiny_convnet" in listed.output and "net.py changed" in listed.output
    assert "export_failed" in listed.output

    assert cli("cache", "prune").exit_code == 2  # says what to choose
    stale = cli("cache", "prune", "--stale")
    assert stale.exit_code == 0 and "Removed 1 entry from" in stale.output
    failed = cli("cache", "prune", "--failed")
    assert "Removed 1 entry from" in failed.output
    assert all(a.status == "ok" for a in ArtifactCache(cache_dir).entries())
    assert len(ArtifactCache(cache_dir).listing()) == before - 2
    assert "Removed 0 entries" in cli("cache", "prune", "--older-than", "1").output  # all used just now
    assert len(ArtifactCache(cache_dir).listing()) == before - 2
    everything = cli("cache", "prune", "--all")
    assert "0 left" in everything.output
