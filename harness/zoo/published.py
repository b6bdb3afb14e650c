"""Published facts of the zoo's models (params, MACs, top-1, latency and the device it was
measured on), from published.csv beside this file: a copy of the project's reference table,
joined to the registry by model name. Reads no model code, so it imports no torch.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

_PUBLISHED: dict[str, "PublishedFacts"] | None = None


def _float_or_none(text: str) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


@dataclass(frozen=True)
class PublishedFacts:
    """One row of published.csv: what the paper or the official repository claims."""

    params_m: float | None
    macs_g: float | None
    top1: float | None
    latency_ms: float | None
    latency_device: str
    source: str
    notes: str

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "PublishedFacts":
        return cls(
            params_m=_float_or_none(row.get("params_m", "")),
            macs_g=_float_or_none(row.get("macs_g", "")),
            top1=_float_or_none(row.get("top1", "")),
            latency_ms=_float_or_none(row.get("latency_ms", "")),
            latency_device=(row.get("latency_device") or "").strip(),
            source=(row.get("source") or "").strip(),
            notes=(row.get("notes") or "").strip(),
        )


def published_facts() -> dict[str, PublishedFacts]:
    global _PUBLISHED
    if _PUBLISHED is None:
        path = Path(__file__).with_name("published.csv")
        with path.open(newline="") as f:
            _PUBLISHED = {row["model"]: PublishedFacts.from_row(row) for row in csv.DictReader(f)}
    return _PUBLISHED
