"""Measurement protocol and statistics, independent of any device."""

from harness.bench.protocol import BenchConfig  # noqa: F401
from harness.bench.stats import SampleStats, is_unstable, stability_warnings, summarize  # noqa: F401
