"""Per-layer numerics on this host: the int8 exports of a model with one planted bad layer
(tests/tiny_models.py:planted_int8_convnet, whose `mix` has an outlier channel that int8's one
scale per tensor cannot hold) fail their numerics check, and the check names `mix` as the layer
where the error appears, in ExecuTorch (its Inspector on an ETDump of intermediate outputs) and
in LiteRT (its interpreter keeping every tensor); the overlay of the measured cell shows it on
the graph.

Also fp16: `planted_fp16_convnet`'s `mix` has weights past fp16's range, and `tflite-fp16`'s
check names it. Slow: three exports (two with calibration), the per-layer passes and one
measured cell (about 70 s). The default tier keeps the component with tests/test_placement.py's test of the measure.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.placement.model_explorer import check_node_data, graph_keys
from harness.store import Store
from tests.support.paths import TESTS

PLANTED = f"{TESTS / 'tiny_models.py'}:planted_int8_convnet"
PLANTED_FP16 = f"{TESTS / 'tiny_models.py'}:planted_fp16_convnet"
FAST = ["--warmup", "1", "--iterations", "5", "--min-time", "0", "--trials", "1"]

pytestmark = pytest.mark.slow


def test_int8_numerics_name_the_planted_bad_layer(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_DB", str(tmp_path / "h.db"))
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(main, ["run", "--models", PLANTED, "--formats",
                                    "executorch-int8,tflite-int8", *FAST], catch_exceptions=False)
    assert out.exit_code in (0, 3), out.output
    with Store(tmp_path / "h.db", readonly=True) as store:
        records = {r.format: r for r in store.records(store.runs()[0].id)}

    for fmt, node in (("executorch-int8", "conv2d_1"), ("tflite-int8", "Conv2d_mix")):
        record = records[fmt]
        assert record.artifact["status"] == "numerics_failed", (fmt, record.artifact["reason"])
        assert "the error appears at layer `mix` (Conv2d)" in record.artifact["reason"], fmt
        assert "the error appears at layer `mix`" in record.reason  # measured, but ...
        layers = record.artifact["details"]["layer_numerics"]
        assert layers["first_below"] == "mix"
        by_name = {layer["layer"]: layer for layer in layers["layers"]}
        assert by_name["act"]["snr_db"] > 25 > layers["floor_db"] > by_name["mix"]["snr_db"]
        # What int8's one scale hides from the whole tensor, the median channel shows.
        assert by_name["mix"]["cosine"] > 0.999
        assert node in by_name["mix"]["node"]
    assert "Inspector" in records["executorch-int8"].artifact["details"]["layer_numerics"]["method"]

    overlay = tmp_path / "overlay"
    shown = CliRunner().invoke(main, ["show", "latest", "--model-explorer", str(overlay)])
    assert shown.exit_code == 0, shown.output
    for stem, graph_id in (("executorch-int8", "graph"), ("tflite-int8", "main")):
        numerics = overlay / f"tiny_models_planted_int8_convnet.{stem}.numerics.json"
        assert check_node_data(numerics) is None
        results = json.loads(numerics.read_text())[graph_id]["results"]
        graph = next(p for p in overlay.glob(f"tiny_models_planted_int8_convnet.{stem}.*")
                     if p.suffix in (".pt2", ".tflite"))
        assert {f"{graph_id}:{k}" for k in results} <= graph_keys(str(graph))
        assert min(results.values(), key=lambda v: v["value"])["value"] < 15
    assert "numerics: the error appears at layer `mix`" in (overlay / "overlays.txt").read_text()


def test_fp16_numerics_name_the_layer_whose_weights_overflow(tmp_path):
    out = CliRunner().invoke(main, ["export", "--models", PLANTED_FP16, "--formats", "tflite-fp16",
                                    "--cache-dir", str(tmp_path / "cache")], catch_exceptions=False)
    assert out.exit_code == 4, out.output  # numerics failed: nothing exported as ok
    assert ("the error appears at layer `mix` (Conv2d): 1024 values are inf or NaN, after"
            in " ".join(out.output.split()))
