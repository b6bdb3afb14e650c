"""The schema of the results database, its version, and the migrations from older versions.

Schema versions (bump on any change, with a migration from the version before):
  1  runs, records, samples(record_id, phase, idx, ms).
  2  samples gain `trial` (part of the key); records gain `trials_json`. Version-1 samples
     become trial 0; a version-1 record reads as one trial.
  3  runs gain `heartbeat_at` (NULL for older runs, which are then judged by `started_at`).
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 3

# The current schema, for a new database; older ones are brought here by MIGRATIONS.
SCHEMA = """
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
    trials_json TEXT
);
CREATE INDEX records_by_run ON records(run_id);
CREATE INDEX records_by_cell ON records(device_id, model, format);
CREATE TABLE samples (
    record_id INTEGER NOT NULL REFERENCES records(id),
    phase TEXT NOT NULL,
    trial INTEGER NOT NULL DEFAULT 0,
    idx INTEGER NOT NULL,
    ms REAL NOT NULL,
    PRIMARY KEY (record_id, phase, trial, idx)
) WITHOUT ROWID;
"""

# MIGRATIONS[v] takes a database from version v to v + 1, inside the caller's transaction.
MIGRATIONS = {
    1: """
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
""",
    2: """
ALTER TABLE runs ADD COLUMN heartbeat_at REAL;
""",
}


def statements(script: str) -> list[str]:
    # executescript() would commit the open transaction first; a migration must be one unit.
    return [s.strip() for s in script.split(";") if s.strip()]



def schema_version(conn: sqlite3.Connection) -> int | None:
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
    if not has_meta:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else None
