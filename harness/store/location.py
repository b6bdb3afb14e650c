"""Where the results database is: a file (SQLite) or a postgresql:// URL (a server), from
--db, $HARNESS_DB or the default results/harness.db."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = Path("results") / "harness.db"
# What `--db` and HARNESS_DB take as a server's URL (libpq's two spellings); anything else is a
# file. harness/cli/options.py checks the same prefixes without importing the store.
URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(location) -> bool:
    """Whether `location` (a str or Path from --db, HARNESS_DB or a caller) names a server."""
    return str(location).startswith(URL_SCHEMES)


def as_location(location) -> Path | str:
    """A path as a Path, a URL as a str. A URL that went through `Path()` lost one of its two
    slashes (`postgresql:/user@host/db`); it is still a URL, not a file to create."""
    if location is None or location == "":
        return default_db_path()
    text = str(location)
    for scheme in URL_SCHEMES:
        folded = scheme[:-1]
        if isinstance(location, Path) and text.startswith(folded) and not text.startswith(scheme):
            return scheme + text[len(folded):]
    return text if is_url(text) else Path(location)


def default_db_path() -> Path | str:
    """$HARNESS_DB (a file or a postgresql:// URL), else results/harness.db."""
    value = os.environ.get("HARNESS_DB", str(DEFAULT_DB))
    return value if is_url(value) else Path(value)
