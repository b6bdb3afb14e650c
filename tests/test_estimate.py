"""The estimate `harness run` prints before it starts: seconds from stored medians in
milliseconds, and a resumed run counted as what is left of it."""

from __future__ import annotations

import pytest

from harness.bench.settings import MeasurementSettings
from harness.export.base import resolve_formats
from harness.export.cache import ArtifactCache
from harness.report.estimate import TRIAL_START_S, estimate_run, fmt_duration
from harness.zoo import resolve_models
from tests.support.paths import TINY


@pytest.fixture
def tiny(tmp_path):
    return resolve_models(TINY), resolve_formats("executorch,onnx"), ArtifactCache(tmp_path / "cache")


def test_a_stored_median_in_milliseconds_becomes_seconds_of_measuring(tiny):
    specs, formats, cache = tiny
    name = specs[0].name
    config = MeasurementSettings(warmup_iterations=10, min_iterations=50, min_duration_s=1.0, trials=3)
    # 2 ms a run: 50 iterations are 0.1 s, so the 1 s minimum decides; 10 warm-ups 0.02 s.
    quick = estimate_run(specs, formats[:1], cache, config, previous_medians={(name, "executorch"): 2.0})
    per_trial = TRIAL_START_S["executorch"] + 1.0 + 0.02
    assert quick.measure_s == pytest.approx(3 * per_trial)
    # 100 ms a run: 50 iterations are 5 s, above the minimum; 10 warm-ups 1 s.
    slow = estimate_run(specs, formats[:1], cache, config, previous_medians={(name, "executorch"): 100.0})
    assert slow.measure_s == pytest.approx(3 * (TRIAL_START_S["executorch"] + 5.0 + 1.0))
    assert "about" in quick.line() and "min" not in fmt_duration(quick.measure_s)


def test_a_resumed_run_says_how_many_cells_are_left(tiny):
    specs, formats, cache = tiny
    config = MeasurementSettings(trials=3)
    fresh = estimate_run(specs, formats, cache, config)
    assert fresh.line().startswith("1 model x 2 formats = 2 cells, 2 exports to build (0 cached), "
                                   "3 trials each: about ")
    resumed = estimate_run(specs, formats, cache, config, skip={(specs[0].name, "executorch")})
    assert resumed.cells == 1 and resumed.kept == 1
    assert resumed.line().startswith("1 model x 2 formats: 1 of 2 cells left (1 kept from the "
                                     "resumed run), 1 export to build (0 cached), 3 trials each")
