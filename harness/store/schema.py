"""The schema of the results database, its version, and the migrations from older versions,
for both backends: SQLite (the embedded default) and PostgreSQL (many hosts).

Schema versions (bump on any change, with a migration from the version before):
  1  runs, records, samples(record_id, phase, idx, ms).
  2  samples gain `trial` (part of the key); records gain `trials_json`. Version-1 samples
     become trial 0; a version-1 record reads as one trial.
  3  runs gain `heartbeat_at` (NULL for older runs, which are then judged by `started_at`).
  4  samples are stored one row per (record, phase, trial): `ms` holds them all as a BLOB of
     little-endian float64 values in time order, `n` how many (so length(ms) = 8 n). Records
     gain `stats_version` (harness.bench.stats.STATS_VERSION of the stored `stats_json`, NULL
     when there are no stats) and `warnings_json` (the stability warnings, a JSON list of
     sentences, computed when the record was stored). Migrating packs every trial's samples in
     `idx` order, marks the stats stored before as version 1, and the store then recomputes
     them (and the warnings) with the current statistics, in the same transaction.
     The PostgreSQL backend starts here: its databases are created at version 4.

The same schema on both backends means the same tables, columns (names, order, meaning, NULLs),
keys, indexes and `meta` row, each column in the backend's type for it: SQLite's REAL, BLOB and
TEXT holding JSON are PostgreSQL's DOUBLE PRECISION, BYTEA and JSON (which keeps the text as
written, so a record reads back the same from either); AUTOINCREMENT ids are BIGSERIAL.
tests/test_store_postgres.py checks that the two agree, column by column.

A migration is written once per backend, in MIGRATIONS: version v -> v + 1 is a `Migration`
with its SQLite step and its PostgreSQL step (None only where no database of that backend was
ever at version v). Both run through `migrate`, inside the store's one migration transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby

from harness.errors import StoreError
from harness.store.samples import pack

SCHEMA_VERSION = 4

# One row per (record, phase, trial): the samples in time order as little-endian float64.
# A plain rowid table: its rows are large, which a WITHOUT ROWID table handles badly.
SAMPLES_TABLE = """
CREATE TABLE {name} (
    record_id INTEGER NOT NULL REFERENCES records(id),
    phase TEXT NOT NULL,
    trial INTEGER NOT NULL,
    n INTEGER NOT NULL,
    ms BLOB NOT NULL CHECK (length(ms) = 8 * n),
    PRIMARY KEY (record_id, phase, trial)
);
"""

# The current schema, for a new SQLite database; older ones are brought here by MIGRATIONS.
SQLITE_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,
    device_id TEXT NOT NULL,
    device_json TEXT NOT NULL,
    config_json TEXT NOT NULL,
    argv TEXT NOT NULL,
    git_sha TEXT,
    harness_version TEXT,
    hostname TEXT,
    pid INTEGER,
    heartbeat_at REAL
);
CREATE TABLE records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id),
    created_at REAL NOT NULL,
    model TEXT NOT NULL,
    format TEXT NOT NULL,
    device_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    artifact_sha256 TEXT,
    artifact_json TEXT NOT NULL,
    result_json TEXT,
    model_json TEXT NOT NULL,
    median_ms REAL,
    ci_low_ms REAL,
    ci_high_ms REAL,
    unstable INTEGER,
    stats_json TEXT,
    trials_json TEXT,
    stats_version INTEGER,
    warnings_json TEXT
);
CREATE INDEX records_by_run ON records(run_id);
CREATE INDEX records_by_cell ON records(device_id, model, format);
CREATE INDEX records_by_stats_version ON records(stats_version);
""" + SAMPLES_TABLE.format(name="samples")

# The current schema, for a new PostgreSQL database: SQLITE_SCHEMA in PostgreSQL's types, column
# for column. JSON (not JSONB) keeps each document's text as the store wrote it. The samples are
# stored out of line without compression (STORAGE EXTERNAL): float64 noise does not compress,
# and trying costs every write and read.
POSTGRESQL_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    started_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    status TEXT NOT NULL,
    device_id TEXT NOT NULL,
    device_json JSON NOT NULL,
    config_json JSON NOT NULL,
    argv TEXT NOT NULL,
    git_sha TEXT,
    harness_version TEXT,
    hostname TEXT,
    pid INTEGER,
    heartbeat_at DOUBLE PRECISION
);
CREATE TABLE records (
    id BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    created_at DOUBLE PRECISION NOT NULL,
    model TEXT NOT NULL,
    format TEXT NOT NULL,
    device_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    artifact_sha256 TEXT,
    artifact_json JSON NOT NULL,
    result_json JSON,
    model_json JSON NOT NULL,
    median_ms DOUBLE PRECISION,
    ci_low_ms DOUBLE PRECISION,
    ci_high_ms DOUBLE PRECISION,
    unstable INTEGER,
    stats_json JSON,
    trials_json JSON,
    stats_version INTEGER,
    warnings_json JSON
);
CREATE INDEX records_by_run ON records(run_id);
CREATE INDEX records_by_cell ON records(device_id, model, format);
CREATE INDEX records_by_stats_version ON records(stats_version);
CREATE TABLE samples (
    record_id BIGINT NOT NULL REFERENCES records(id),
    phase TEXT NOT NULL,
    trial INTEGER NOT NULL,
    n INTEGER NOT NULL,
    ms BYTEA NOT NULL CHECK (octet_length(ms) = 8 * n),
    PRIMARY KEY (record_id, phase, trial)
);
ALTER TABLE samples ALTER COLUMN ms SET STORAGE EXTERNAL;
"""

SCHEMAS = {"sqlite": SQLITE_SCHEMA, "postgresql": POSTGRESQL_SCHEMA}


def _samples_as_arrays(conn: sqlite3.Connection) -> None:
    """Version 3 -> 4: one row per sample becomes one array per (record, phase, trial)."""
    for statement in statements("""
ALTER TABLE records ADD COLUMN stats_version INTEGER;
ALTER TABLE records ADD COLUMN warnings_json TEXT;
UPDATE records SET stats_version = 1 WHERE stats_json IS NOT NULL;
CREATE INDEX records_by_stats_version ON records(stats_version);
""" + SAMPLES_TABLE.format(name="samples_v4")):
        conn.execute(statement)
    rows = conn.execute("SELECT record_id, phase, trial, ms FROM samples"
                        " ORDER BY record_id, phase, trial, idx")

    def arrays():
        for (record_id, phase, trial), group in groupby(rows, key=lambda r: (r[0], r[1], r[2])):
            values = [r[3] for r in group]
            yield record_id, phase, trial, len(values), pack(values)

    conn.executemany("INSERT INTO samples_v4(record_id, phase, trial, n, ms) VALUES (?,?,?,?,?)",
                     arrays())
    conn.execute("DROP TABLE samples")
    conn.execute("ALTER TABLE samples_v4 RENAME TO samples")


@dataclass(frozen=True)
class Migration:
    """Version v -> v + 1 on each backend, inside the caller's transaction: SQL (statements
    separated by `;`), or a function of that backend's connection where SQL alone cannot do it
    (packing samples into arrays); None where no database of that backend was ever at v."""

    sqlite: str | Callable | None
    postgresql: str | Callable | None


# MIGRATIONS[v] takes a database from version v to v + 1. The next one is written for both:
#     4: Migration(sqlite="ALTER TABLE runs ADD COLUMN farm_run TEXT;",
#                  postgresql="ALTER TABLE runs ADD COLUMN farm_run TEXT;"),
# with SCHEMA_VERSION = 5, the column added to SQLITE_SCHEMA and POSTGRESQL_SCHEMA, and a line
# for version 5 in the docstring.
MIGRATIONS = {
    1: Migration(sqlite="""
ALTER TABLE records ADD COLUMN trials_json TEXT;
CREATE TABLE samples_v2 (
    record_id INTEGER NOT NULL REFERENCES records(id),
    phase TEXT NOT NULL,
    trial INTEGER NOT NULL DEFAULT 0,
    idx INTEGER NOT NULL,
    ms REAL NOT NULL,
    PRIMARY KEY (record_id, phase, trial, idx)
) WITHOUT ROWID;
INSERT INTO samples_v2(record_id, phase, trial, idx, ms) SELECT record_id, phase, 0, idx, ms FROM samples;
DROP TABLE samples;
ALTER TABLE samples_v2 RENAME TO samples;
""", postgresql=None),
    2: Migration(sqlite="""
ALTER TABLE runs ADD COLUMN heartbeat_at REAL;
""", postgresql=None),
    3: Migration(sqlite=_samples_as_arrays, postgresql=None),
}


def migrate(conn, dialect: str, version: int) -> None:
    """Take the database on `conn` (of backend `dialect`: "sqlite" or "postgresql") from `version`
    to SCHEMA_VERSION, inside the caller's transaction. (Stored statistics of an older
    STATS_VERSION are the caller's to recompute after.)"""
    for v in range(version, SCHEMA_VERSION):
        step = getattr(MIGRATIONS[v], dialect)
        if step is None:
            raise StoreError(f"The database says it has schema {v}, which no {dialect} database of "
                             "the harness ever had; nothing was changed. Point --db (or HARNESS_DB) "
                             "at the database `harness run` wrote.")
        if callable(step):
            step(conn)
        else:
            for statement in statements(step):
                conn.execute(statement)


def statements(script: str) -> list[str]:
    # executescript() would commit the open transaction first; a migration must be one unit.
    return [s.strip() for s in script.split(";") if s.strip()]
