"""Measurement protocol and statistics, independent of any device."""

from harness.bench.settings import MeasurementSettings  # noqa: F401
from harness.bench.stats import (  # noqa: F401
    SampleStats,
    is_unstable,
    measurement_warnings,
    stability_warnings,
    summarize,
    summarize_trials,
)
