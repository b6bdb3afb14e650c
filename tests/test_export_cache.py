"""Cache keys, numerics thresholds and converter-error reasons: what decides a new artifact, a
numerics verdict, and the one line a failed cell shows."""

import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch

from harness.export.base import get_format
from harness.export.cache import ArtifactCache, cache_key
from harness.export.calibration import calibration_set
from harness.export.numerics import THRESHOLDS, compare_outputs, numerics_miss
from harness.export.pipeline import export_artifact, export_matrix
from harness.export.reasons import MAX_REASON_CHARS, one_line_reason
from harness.zoo import create_model, resolve_models

# Not from conftest: `harness export` imports this file for `bessel_net` outside pytest too.
TINY = f"{Path(__file__).parent / 'tiny_models.py'}:tiny_convnet"


def bessel_net() -> torch.nn.Module:
    """An op no mobile converter lowers: every converter fails on it, each in its own words."""

    class Bessel(torch.nn.Module):
        def forward(self, x):
            return torch.special.bessel_j0(x).mean(dim=(2, 3))

    return Bessel()


bessel_net.input_shape = (1, 3, 8, 8)

MODEL_SOURCE = '''
from torch import nn

def net():
    return nn.Sequential(nn.Conv2d(3, {channels}, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())

net.input_shape = (1, 3, 16, 16)
'''


def test_same_inputs_give_the_same_key_and_a_changed_exporter_version_a_new_one():
    [spec] = resolve_models(TINY)
    fmt = get_format("tflite")
    assert cache_key(spec, fmt, seed=0) == cache_key(spec, fmt, seed=0)
    upgraded = dataclasses.replace(fmt, versions=lambda: {**fmt.versions(), "litert-torch": "99.0"})
    assert cache_key(spec, upgraded, seed=0) != cache_key(spec, fmt, seed=0)
    assert cache_key(spec, fmt, seed=1) != cache_key(spec, fmt, seed=0)
    assert cache_key(spec, get_format("onnx"), seed=0) != cache_key(spec, fmt, seed=0)


def test_a_changed_model_source_gives_a_new_artifact_never_a_stale_one(tmp_path):
    model_file = tmp_path / "net.py"
    cache = ArtifactCache(tmp_path / "cache")
    fmt = get_format("eager")
    artifacts = []
    for channels in (4, 6):
        model_file.write_text(MODEL_SOURCE.format(channels=channels))
        [spec] = resolve_models(f"{model_file}:net")
        artifacts.append(export_artifact(spec, fmt, cache, lambda: create_model(spec)))
    first, second = artifacts
    assert first.cache_key != second.cache_key and first.sha256 != second.sha256
    assert not second.cached and second.status == "ok"
    assert len(cache.entries()) == 2


def test_calibration_data_decides_the_int8_key(tmp_path):
    shape = (1, 3, 8, 8)
    random_set = calibration_set(None, shape)
    assert random_set.digest == calibration_set(None, shape).digest
    np.save(tmp_path / "a.npy", np.full((8, 8, 3), 200, dtype=np.uint8))
    image_set = calibration_set(tmp_path, shape)
    assert image_set.digest != random_set.digest and image_set.inputs[0].shape == shape
    assert "numpy" in image_set.source and "1 files" in image_set.source


def test_thresholds_per_precision_gate_cosine_and_top5():
    rng = np.random.default_rng(0)
    expected = [rng.standard_normal((1, 100)).astype(np.float32) for _ in range(3)]
    close = [e + 1e-4 * rng.standard_normal(e.shape).astype(np.float32) for e in expected]
    noisy = [e + 0.1 * rng.standard_normal(e.shape).astype(np.float32) for e in expected]
    assert compare_outputs(expected, close, THRESHOLDS["fp32"]).passed
    fp32_noisy = compare_outputs(expected, noisy, THRESHOLDS["fp32"])
    assert not fp32_noisy.passed and "cosine" in numerics_miss(fp32_noisy)
    assert compare_outputs(expected, noisy, THRESHOLDS["int8"]).passed  # cosine ~0.995, top-5 not gated
    # Same values, top-5 classes moved: the cosine passes, the top-5 gate does not.
    swapped = []
    for e in expected:
        s = e.copy()
        top = np.argsort(e[0])[-5:]
        low = np.argsort(e[0])[:5]
        s[0, top], s[0, low] = e[0, low], e[0, top]
        swapped.append(s)
    result = compare_outputs(expected, swapped, THRESHOLDS["fp16"])
    assert result.top5_agreement == 0.0 and not result.passed
    assert "top-5 agreement 0.00 < 0.6" in numerics_miss(result)


def test_reason_names_the_operator_and_the_converters_message():
    cause = RuntimeError("Error when translating node %bessel_j0 : [num_users=1] = "
                         "call_function[target=torch.ops.prims.bessel_j0.default](args = (%x,))")
    try:
        try:
            raise cause
        except RuntimeError as exc:
            raise ValueError("\x1b[96mFailed to convert the exported program.\x1b[0m\nNext steps:") from exc
    except ValueError as outer:
        reason = one_line_reason(outer)
    assert reason.startswith("prims.bessel_j0.default: RuntimeError: Error when translating node %bessel_j0")
    assert "\n" not in reason and "\x1b" not in reason
    assert len(one_line_reason(ValueError("x" * 1000))) == MAX_REASON_CHARS
    assert one_line_reason(NotImplementedError("Unsupported fx node fft_rfft2, kind fft_rfft2")) \
        == "fft_rfft2: NotImplementedError: Unsupported fx node fft_rfft2, kind fft_rfft2"
    # LiteRT names the failing node at invoke (an int8 DIV by a denominator quantized to zero).
    assert one_line_reason(RuntimeError("tflite/kernels/div.cc:262 data[i] != zero_point was not true."
                                        "Node number 106 (DIV) failed to invoke.")).startswith("DIV: ")


def test_a_converter_failure_is_one_line_with_the_trace_in_the_log(tmp_path, caplog):
    specs = resolve_models(f"{__file__}:bessel_net")
    formats = [get_format("coreml"), get_format("tflite")]
    with caplog.at_level(logging.ERROR, logger="harness.export"):
        artifacts = export_matrix(specs, formats, ArtifactCache(tmp_path / "cache"))
    for artifact in artifacts:
        assert artifact.status == "export_failed"
        assert "\n" not in artifact.reason and "bessel_j0" in artifact.reason.split(":")[0]
    assert artifacts[1].reason.startswith("aten.special_bessel_j0.default: RuntimeError: Lowering not found")
    assert caplog.text.count("Traceback") == 2
    # Failures are cached with their reason: the second pass does not convert again.
    again = export_matrix(specs, formats, ArtifactCache(tmp_path / "cache"))
    assert [a.cached for a in again] == [True, True] and again[0].reason == artifacts[0].reason


def test_a_cache_copied_elsewhere_still_serves_its_artifacts(tmp_path):
    import shutil

    model_file = tmp_path / "net.py"
    model_file.write_text(MODEL_SOURCE.format(channels=4))
    [spec] = resolve_models(f"{model_file}:net")
    fmt = get_format("eager")
    first = export_artifact(spec, fmt, ArtifactCache(tmp_path / "a"), lambda: create_model(spec))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "a")

    def no_build():
        raise AssertionError("a copied cache must not export again")

    again = export_artifact(spec, fmt, ArtifactCache(tmp_path / "b"), no_build)
    assert again.cached and again.sha256 == first.sha256
    assert Path(again.path).parent.parent == tmp_path / "b" and Path(again.path).exists()


def test_readme_and_docs_state_the_thresholds_the_code_applies():
    """The thresholds table in README.md and docs/formats.md: one row per precision, with the
    cosine and top-5 gates of THRESHOLDS and every format of that precision."""
    import re

    from harness.export.base import all_formats

    formats = all_formats()
    names = {f.name for f in formats}
    root = Path(__file__).resolve().parent.parent
    for doc in (root / "README.md", root / "docs" / "formats.md"):
        rows = {cells[0]: cells for cells in (
            [c.strip(" `") for c in line.strip().strip("|").split("|")]
            for line in doc.read_text().splitlines() if line.strip().startswith("| ")
        )}
        for precision, threshold in THRESHOLDS.items():
            row = rows[precision]
            assert float(row[1]) == threshold.min_cosine, (doc.name, row)
            top5 = None if "not gated" in row[2] else float(row[2])
            assert top5 == threshold.min_top5, (doc.name, row)
            named = set(re.findall(r"[a-z][a-z0-9-]*", row[3])) & names
            assert named == {f.name for f in formats if f.precision == precision}, (doc.name, row)
