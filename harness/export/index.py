"""The formats' index: every registered format's facts, without importing the exporters.

The exporters import torch and their converters (seconds); the reports, the CLI's checks and
help, the estimate and the paper check only need each format's facts: its name, runtime,
backend and precision, its place in tables (`order`), its export estimate, and which papers'
runtimes it reproduces. They read `index.json` beside this file, generated from the registry
(`python -m harness.export.index --write`); tests/test_registries.py fails when it differs from
what the registry holds, so no list of formats can drift from the formats themselves.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.generated_index import index_main

INDEX_PATH = Path(__file__).with_name("index.json")
FIELDS = ("name", "suffix", "runtime", "backend", "precision", "description", "order",
          "export_estimate_s", "paper_names", "paper_rank")


@dataclass(frozen=True)
class FormatEntry:
    name: str
    suffix: str
    runtime: str
    backend: str
    precision: str
    description: str
    order: int
    export_estimate_s: float
    paper_names: tuple[str, ...]
    paper_rank: int


@lru_cache(maxsize=1)
def format_index() -> tuple[FormatEntry, ...]:
    """Every format, in table order."""
    rows = json.loads(INDEX_PATH.read_text())
    entries = [FormatEntry(**{**row, "paper_names": tuple(row["paper_names"])}) for row in rows]
    return tuple(sorted(entries, key=lambda e: (e.order, e.name)))


def format_names() -> list[str]:
    return [e.name for e in format_index()]


def entry(name: str) -> FormatEntry | None:
    return next((e for e in format_index() if e.name == name), None)


def table_order(label: str) -> tuple[int, str]:
    """Where a format label (`coreml@cpu_and_ne` too) sorts in a table: its format's order,
    then the label; an unknown format (an imported file's) after every known one."""
    found = entry(label.partition("@")[0])
    return (found.order if found else 10_000, label)


def build_index() -> list[dict]:
    """The index as the registry holds it (imports every exporter, and torch)."""
    from harness.export.base import all_formats

    return [{name: list(v) if isinstance(v := getattr(f, name), tuple) else v for name in FIELDS}
            for f in sorted(all_formats(), key=lambda f: (f.order, f.name))]


def main(argv: list[str] | None = None) -> int:
    return index_main("python -m harness.export.index", __doc__.splitlines()[0], build_index, INDEX_PATH, argv)


if __name__ == "__main__":
    sys.exit(main())
