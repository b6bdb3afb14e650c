"""The command line of a generated index (harness/zoo/index.json, harness/export/index.json):
print what the registry holds now, or `--write` it over the committed file. Each index module's
`main` is this, given its builder; a test per index fails when the file and the registry differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable


def index_main(prog: str, description: str, build: Callable[[], list], path: Path,
               argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--write", action="store_true", help=f"rewrite {path.name}")
    args = parser.parse_args(argv)
    text = json.dumps(build(), indent=1) + "\n"
    if args.write:
        path.write_text(text)
    else:
        sys.stdout.write(text)
    return 0
