"""The results database in an SQLite file, the default (see the package docstring for what it
guarantees; base.py for the methods, written once for both backends)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from pathlib import Path

from harness.errors import StoreError
from harness.store import schema
from harness.store.base import StoreBase
from harness.store.errors import translated
from harness.store.location import as_location
from harness.store.errors import describe_sqlite_error


def _schema_version(conn: sqlite3.Connection) -> int | None:
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
    if not has_meta:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else None


class SQLiteStore(StoreBase):
    """The results database in the file `path` (default: $HARNESS_DB or results/harness.db).

    Writers create the file and migrate it; readers open it read-only (`immutable` when a WAL
    database sits on read-only media) and read an older schema by migrating an in-memory copy.
    """

    dialect = "sqlite"

    def __init__(self, path: str | Path | None = None, readonly: bool = False):
        self.path = Path(as_location(path))
        self.location = str(self.path)
        self.readonly = readonly
        self.conn: sqlite3.Connection | None = None
        try:
            if readonly:
                self._open_for_reading()
            else:
                self._open_for_writing()
        except BaseException:
            if self.conn is not None:
                self.conn.close()
            raise

    # --- the backend's primitives ----------------------------------------------------------

    def _execute(self, sql: str, params=()):
        return self.conn.execute(sql, params)

    def _executemany(self, sql: str, rows) -> None:
        self.conn.executemany(sql, rows)

    def _transaction(self):
        return self.conn  # `with conn:` commits, or rolls back on an error

    @contextlib.contextmanager
    def _migration_transaction(self):
        # IMMEDIATE takes the write lock first: a second process waits for the first.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    def _read_schema_version(self) -> int | None:
        return _schema_version(self.conn)

    def _json(self, column: str, *keys: str) -> str:
        return f"json_extract({column}, '$.{'.'.join(keys)}')"

    def _store_error(self, exc: Exception) -> str | None:
        if isinstance(exc, (sqlite3.ProgrammingError, sqlite3.InterfaceError)):
            return None  # our own misuse of the API (a closed connection, wrong parameters)
        if isinstance(exc, (sqlite3.Error, json.JSONDecodeError)):
            return describe_sqlite_error(self.path, exc)
        return None

    def _heartbeat_connection(self, interval_s: float):
        path, timeout = self.path, min(interval_s, 5.0)

        def connect():  # mode=rw: a beat never creates a database
            return sqlite3.connect(path.absolute().as_uri() + "?mode=rw", uri=True, timeout=timeout)

        def beat(conn, run_id):
            with conn:
                conn.execute("UPDATE runs SET heartbeat_at=? WHERE id=?", (time.time(), run_id))

        return connect, beat

    @translated
    def close(self) -> None:
        self.conn.close()

    # --- opening ---------------------------------------------------------------------------

    def _connect(self, target: str, uri: bool = False) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = sqlite3.connect(target, uri=uri, timeout=30)
        self.conn.row_factory = sqlite3.Row

    @translated
    def _open_for_writing(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connect(str(self.path))
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    @translated
    def _open_for_reading(self) -> None:
        if not self.path.exists():
            raise StoreError(f"No results database at {self.path}; run `harness run` first, or "
                             "point --db (or HARNESS_DB) at one.")
        uri = self.path.absolute().as_uri()
        self._connect(uri + "?mode=ro", uri=True)
        try:
            version = _schema_version(self.conn)
        except sqlite3.OperationalError as exc:
            # A WAL database needs its -shm file to be read; on read-only media nobody can
            # create it, so SQLite cannot open it. Nothing can be writing there either, so the
            # file is read as it is (immutable=1: no locks, no -shm).
            if exc.sqlite_errorname != "SQLITE_CANTOPEN" or os.access(self.path.parent, os.W_OK):
                raise  # another failure, or not read-only media
            self._connect(uri + "?mode=ro&immutable=1", uri=True)
            version = _schema_version(self.conn)
        self._refuse_foreign(version)
        self._refuse_newer(version)
        if version < schema.SCHEMA_VERSION or self._stale_stats():
            # Migrate a copy in memory (and recompute stale figures there); the file stays as
            # it is. A writer migrates the file once, and reads are quick again.
            memory = sqlite3.connect(":memory:")
            self.conn.backup(memory)
            self.conn.close()
            self.conn = memory
            self.conn.row_factory = sqlite3.Row
            self._migrate()
        # Writes through this connection fail (as a read-only database) instead of vanishing
        # into the in-memory copy.
        self.conn.execute("PRAGMA query_only=ON")
