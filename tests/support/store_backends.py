"""The store's tests run against both backends: `db` is a new, empty results database on each,
an SQLite file's path or a PostgreSQL URL (a fresh database on the private server of
tests/support/pg_server.py), and `sql` reaches it beside the store, as another program would.

tests/conftest.py imports the fixtures (`db`, and pg_server.py's `pg_server` and `pg_url`), so
every test module has them; a module imports the helpers it uses (`sql`, `is_postgres`).
"""

from __future__ import annotations

import sqlite3

import pytest
from tests.support.pg_server import pg_server, pg_url  # noqa: F401 - fixtures, for conftest.py to offer

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path):
    """A new, empty results database on each backend: a file's path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "db.sqlite"
    return request.getfixturevalue("pg_url")


def is_postgres(db) -> bool:
    return str(db).startswith("postgresql://")


def sql(db, statement: str, params=()) -> list[tuple]:
    """Run one statement (`?` parameters) on `db` on a connection of its own, committed; its
    rows as tuples. A JSON column reads as the value on PostgreSQL: CAST it AS TEXT for its text."""
    if is_postgres(db):
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            cur = conn.execute(statement.replace("%", "%%").replace("?", "%s"), tuple(params))
            return cur.fetchall() if cur.description else []
    conn = sqlite3.connect(db)
    try:
        with conn:
            cur = conn.execute(statement, params)
            return cur.fetchall()
    finally:
        conn.close()


def backend_sql(db, sqlite: str, postgresql: str) -> str:
    """The statement for `db`'s backend, where the two dialects differ."""
    return postgresql if is_postgres(db) else sqlite


def stored_count(path) -> int:
    """Records in an SQLite results database another process is writing; 0 before it exists."""
    from pathlib import Path

    if not Path(path).exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
