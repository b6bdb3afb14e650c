"""How numbers are written in every report, so a figure reads the same everywhere."""

from __future__ import annotations

from harness.store import BenchmarkRecord


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_count(value: float | None, unit: str = "M") -> str:
    if value is None:
        return "n/a"
    scale = {"M": 1e6, "G": 1e9}[unit]
    return f"{value / scale:.2f}{unit}"


def fmt_latency(record: BenchmarkRecord) -> str:
    """`1.23 [1.21, 1.25]` for a measured cell, with a mark when unstable; the status otherwise."""
    s = record.stats
    if s is None:
        return record.status
    text = f"{fmt_ms(s.median)} [{fmt_ms(s.ci_low)}, {fmt_ms(s.ci_high)}]"
    return text + " (unstable)" if record.unstable else text


def fmt_published_latency(info: dict) -> str:
    pub = info.get("published") or {}
    if pub.get("latency_ms") is None:
        return "n/a"
    return f"{pub['latency_ms']} ms ({pub.get('latency_device') or 'device not stated'})"


def fmt_top1(info: dict) -> str:
    pub = info.get("published") or {}
    return f"{pub['top1']:.1f}" if pub.get("top1") is not None else "n/a"


def fmt_rss_mb(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.0f}"
