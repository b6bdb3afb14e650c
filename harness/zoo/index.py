"""The zoo's index: every registered model's name, family and input size, without torch.

`harness models` and anything else that only lists the zoo read `index.json` beside this file
instead of importing the family modules (which import torch: 1.5 s and more). The index is
generated from the registry (`python -m harness.zoo.index --write`) and a test fails when it
differs from what the registry holds, so it cannot drift.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.generated_index import index_main
from harness.zoo.published import PublishedFacts, published_facts

INDEX_PATH = Path(__file__).with_name("index.json")


@dataclass(frozen=True)
class ZooEntry:
    name: str
    family: str
    input_size: int

    @property
    def published(self) -> PublishedFacts | None:
        return published_facts().get(self.name)


@lru_cache(maxsize=1)
def _entries() -> tuple[ZooEntry, ...]:
    return tuple(ZooEntry(**row) for row in json.loads(INDEX_PATH.read_text()))


def zoo_index(family: str | None = None) -> list[ZooEntry]:
    """The zoo as `list_models` orders it (family, then name); one family when asked."""
    entries = list(_entries())
    if family:
        entries = [e for e in entries if e.family.lower() == family.lower()]
    return entries


def family_entries(family: str | None) -> list[ZooEntry]:
    """`zoo_index(family)`, or a UsageError naming the closest families when none matches."""
    entries = zoo_index(family)
    if entries:
        return entries
    import difflib

    from harness.errors import UsageError

    known = sorted({e.family for e in zoo_index()}, key=str.lower)
    close = difflib.get_close_matches(family.lower(), [f.lower() for f in known], n=2, cutoff=0.6)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise UsageError(f"No family {family!r}.{hint} Families: {', '.join(known)}.")


def build_index() -> list[dict]:
    """The index as the registry holds it (imports every family, and torch)."""
    from harness.zoo.registry import list_models

    return [{"name": s.name, "family": s.family, "input_size": s.input_size} for s in list_models()]


def main(argv: list[str] | None = None) -> int:
    return index_main("python -m harness.zoo.index", __doc__.splitlines()[0], build_index, INDEX_PATH, argv)


if __name__ == "__main__":
    sys.exit(main())
