"""What the results database does when SQLite fails, and the strict JSON it writes.

`translate_sqlite_errors` wraps every `Store` method: an `sqlite3.Error` becomes a `StoreError`
whose message is one line naming the file, what went wrong and what to do. The text is chosen
by SQLite's primary result code (damaged, read-only, full, locked, cannot open, I/O), so it
does not depend on the wording of an SQLite release. `sqlite3.ProgrammingError` and
`sqlite3.InterfaceError` are left alone: they mean our own code misused the API (a closed
connection, a wrong number of parameters), a bug that should keep its traceback.

Two failures that are not SQLite's also mean a damaged file, and read as one: a text column
that is not UTF-8 (the sqlite3 module refuses it) and a JSON column that does not parse (the
store only writes `strict_json`).

`strict_json` is the only way the store turns a value into a JSON column.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shlex
import sqlite3
from pathlib import Path

from harness.errors import StoreError

_SQLITE_MAGIC = b"SQLite format 3\x00"

# Primary result codes (https://sqlite.org/rescode.html); extended codes keep them in the low byte.
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


def _is_sqlite_file(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError:
        return True  # cannot tell; do not claim it is something else
    return head in (b"", _SQLITE_MAGIC)  # SQLite treats an empty file as an empty database


def _detail(exc: Exception) -> str:
    """What went wrong, short and printable: damaged text must not reach the terminal."""
    text = str(exc).split(" with text ")[0]  # the sqlite3 module quotes the undecodable bytes
    text = "".join(c if c.isprintable() else "?" for c in " ".join(text.split()))
    text = text or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def describe_sqlite_error(path: Path, exc: Exception) -> str:
    """One line for the user: the file, what SQLite said, and what to do about it."""
    detail = _detail(exc)
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if isinstance(exc, json.JSONDecodeError) or detail.startswith("Could not decode to UTF-8"):
        code = _CORRUPT
    where = shlex.quote(str(path))
    if code == _CANTOPEN and path.exists() and not os.access(path.parent, os.W_OK):
        code = _READONLY  # read-only media: the -journal, -wal or -shm file cannot be created
    if code == _NOTADB and not _is_sqlite_file(path):
        return (f"{path} is not a usable results database ({detail}); point --db (or HARNESS_DB) "
                "at another file.")
    if code in (_CORRUPT, _NOTADB):
        return (f"{path} is damaged ({detail}); nothing was changed. Recover what is readable with "
                f"`sqlite3 {where} \".recover\" | sqlite3 recovered.db`, then use --db recovered.db.")
    if code == _READONLY:
        return (f"{path} is read-only ({detail}); nothing was stored. Run with a writable copy of "
                "it, or point --db (or HARNESS_DB) at another file.")
    if code == _FULL:
        return (f"The disk holding {path} is full ({detail}); the records stored so far are kept. "
                "Free some space and run again.")
    if code in (_BUSY, _LOCKED):
        return (f"{path} is locked: another process holds it ({detail}). Wait for that process "
                "to finish, or point --db (or HARNESS_DB) at another file.")
    if code == _CANTOPEN:
        return (f"{path} cannot be opened ({detail}); check the path and its permissions, or "
                "point --db (or HARNESS_DB) at another file.")
    if code == _IOERR:
        return (f"Reading or writing {path} failed ({detail}); the records stored so far are kept. "
                "Check the disk and run again.")
    return (f"{path} could not be used ({detail}); the records stored so far are kept. If it "
            "happens again, point --db (or HARNESS_DB) at another file.")


def translate_sqlite_errors(method):
    """Decorate a `Store` method (anything with `.path`) so SQLite failures become StoreError."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise
        except (sqlite3.Error, json.JSONDecodeError) as exc:
            raise StoreError(describe_sqlite_error(self.path, exc)) from exc

    return wrapper


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def strict_json(value) -> str:
    """JSON without the non-standard tokens NaN and Infinity: a non-finite float becomes null.

    Null rather than an error, because these columns hold derived figures (a CI, a ratio, an
    energy estimate) next to the raw samples: a cell must never be lost because one of them is
    not finite, and the samples it was derived from are stored either way. Python's json would
    write `NaN`, which strict parsers (JavaScript, jq, Go) refuse for the whole row.
    """
    return json.dumps(_finite(value), allow_nan=False)
