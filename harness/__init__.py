"""On-device benchmarking harness for efficient vision networks."""

__version__ = "0.1.0"
