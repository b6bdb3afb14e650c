"""What the results database says when SQLite or PostgreSQL fails, and the strict JSON it writes.

Every `Store` method is wrapped (`translated`, below) so that a failure of the
database becomes a `StoreError` whose message is one line naming the database, what went wrong
and what to do; the texts are chosen here. Our own misuse of a driver (a closed connection, a
wrong number of parameters) is left alone: a bug should keep its traceback.

SQLite: the text is chosen by SQLite's primary result code (damaged, read-only, full, locked,
cannot open, I/O), so it does not depend on the wording of an SQLite release. Two failures that
are not SQLite's also mean a damaged file, and read as one: a text column that is not UTF-8
(the sqlite3 module refuses it) and a JSON column that does not parse (the store only writes
`strict_json`).

PostgreSQL: by SQLSTATE (disk full, read-only, permission, conflicting writers, connection
lost, ...); a connection that cannot be made has none (libpq gives only its message), so those
are told apart by libpq's and the server's wording, falling back to "could not connect".

`strict_json` is the only way the store turns a value into a JSON column.
"""

from __future__ import annotations

import functools

import json
import math
import os
import re
import shlex
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


_PG_PREFIX = re.compile(r'^(?:connection failed: |connection is bad: )?(?:connection to server '
                        r'(?:at "[^"]*"(?:, port \d+)?|on socket "[^"]*") failed: )?(?:FATAL:\s+)?')


def _pg_detail(exc: Exception) -> str:
    """The server's or libpq's message, first line only, without libpq's `connection to server
    at ... failed:` (the message says where) or the server's `LINE 1:` context."""
    text = _PG_PREFIX.sub("", str(exc).strip()).splitlines()
    return _detail(Exception(text[0] if text else ""))


def _connect_failure(server: str, where: str, user: str, dbname: str, detail: str) -> str:
    lower = detail.lower()
    if any(s in lower for s in ("password", "authentication failed", "pg_hba.conf", "role ")):
        return (f"PostgreSQL at {server} refused user {user!r} ({detail}); check the user and "
                "password in the URL (or PGPASSWORD, ~/.pgpass), or ask the server's admin for "
                "access (docs/store.md).")
    if "database" in lower and "does not exist" in lower:
        host, _, port = server.rpartition(":")
        return (f"PostgreSQL at {server} has no database {dbname!r} ({detail}); create it "
                f"(`createdb -h {host} -p {port} -U {user} {dbname}`, docs/store.md), or point "
                "--db (or HARNESS_DB) at another.")
    if "too many clients" in lower or "connection slots" in lower:
        return (f"PostgreSQL at {server} has no free connection ({detail}); nothing was stored. "
                "Run again when fewer clients are connected, or raise max_connections.")
    if "starting up" in lower or "shutting down" in lower or "recovery mode" in lower:
        return (f"PostgreSQL at {server} is not accepting connections yet ({detail}); wait for "
                "it to be up, then run again.")
    if "no space left" in lower or "could not write init file" in lower:
        # A backend writes the relation cache's init file into the database's directory when it
        # starts: with that disk full, PostgreSQL refuses the session.
        return (f"The disk of PostgreSQL at {server} is full ({detail}): it starts no session in "
                f"{dbname!r}; the records stored so far are kept. Free some space on the server "
                "and run again.")
    if lower.startswith(("invalid ", "missing ")):
        return (f"{where} is not a usable PostgreSQL URL ({detail}); write it as "
                "postgresql://USER@HOST:PORT/DATABASE (docs/store.md).")
    return (f"Could not connect to PostgreSQL at {server}: {detail}; start it, or point --db "
            "(or HARNESS_DB) at a running server or a SQLite file.")


def describe_postgres_error(where: str, server: str, user: str, dbname: str, exc: Exception,
                            connecting: bool = False, lost: bool = False) -> str:
    """One line for the user: the database (`where`, its URL without a password; `server`,
    host:port), what PostgreSQL said, and what to do about it. `connecting`: the connection
    could not be made; `lost`: it was lost (libpq's socket, no SQLSTATE)."""
    detail = _pg_detail(exc)
    if connecting:
        return _connect_failure(server, where, user, dbname, detail)
    state = getattr(exc, "sqlstate", None) or ""
    if isinstance(exc, json.JSONDecodeError) or state in ("XX001", "XX002"):
        return (f"{where} is damaged ({detail}); nothing was changed. Restore it from a backup, "
                "or point --db (or HARNESS_DB) at another database.")
    if state == "53100":
        return (f"The disk of PostgreSQL at {server} is full ({detail}); the records stored so far "
                "are kept. Free some space on the server and run again.")
    if state.startswith("53"):
        return (f"PostgreSQL at {server} ran out of resources ({detail}); the records stored so "
                "far are kept. Run again when it is less busy, or ask its admin.")
    if state == "25006":
        return (f"{where} is read-only ({detail}); nothing was stored. Point --db (or HARNESS_DB) "
                "at a writable (primary) server, or at another database.")
    if state == "42501":
        return (f"User {user!r} may not do this in {where} ({detail}); nothing was stored. Grant "
                "it (docs/store.md, Permissions), or put a user who may in the URL.")
    if state in ("40001", "40P01"):
        return (f"This write to {where} kept conflicting with other writers ({detail}) and was "
                "given up; nothing of it was stored, the records stored before are kept. Run "
                "again.")
    if state in ("55P03", "57014"):
        return (f"{where} is locked: another session holds what this needs ({detail}). Wait for "
                "it to finish, or point --db (or HARNESS_DB) at another database.")
    if state in ("42P01", "42703"):
        return (f"{where} is missing part of the harness's schema ({detail}); nothing was "
                "changed. Restore it from a backup, or point --db (or HARNESS_DB) at another "
                "database.")
    if state == "3D000":
        return _connect_failure(server, where, user, dbname, detail)
    if state.startswith(("08", "57P")) or lost:
        return (f"Lost the connection to PostgreSQL at {server} ({detail}); the records stored so "
                "far are kept. Check the server, then run again.")
    return (f"{where} could not be used ({detail}); the records stored so far are kept. If it "
            "happens again, point --db (or HARNESS_DB) at another database.")


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


def translated(method):
    """Wrap a store method: a failure of the database becomes a one-line StoreError (the
    backend's `_store_error`); one the backend says to retry (a serialization failure between
    writers, a connection lost and made again) runs the whole method, one transaction, again.
    While it runs again, `self._replaying` is true: a write that may have been committed before
    the connection went (its reply lost with it) looks for itself first (idempotent replays)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        attempt = 0
        outer = getattr(self, "_replaying", False)
        try:
            while True:
                try:
                    self._ready()
                    self._replaying = outer or attempt > 0
                    return method(self, *args, **kwargs)
                except StoreError:
                    raise
                except Exception as exc:
                    if self._retry(exc, attempt):
                        attempt += 1
                        continue
                    message = self._store_error(exc)
                    if message is None:
                        raise  # not the database's failure: a bug keeps its traceback
                    raise StoreError(message) from exc
        finally:
            self._replaying = outer

    return wrapper
