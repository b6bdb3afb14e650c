"""The results database: SQLite, versioned schema, raw samples always kept.

Every record is committed the moment it is measured, so an interrupted run keeps everything it
finished. A run row starts as `running` and ends `complete` or `interrupted`; a run left
`running` by a process that no longer exists is shown as interrupted.

The derived columns of `records` (median, CI, unstable) are a convenience for queries; the truth
is the `samples` table, and `records(..., recompute=True)` recomputes them from it.

A record is one cell measured in one or more independent trials. `result_json` holds the
combined result (`harness.bench.trials`), `trials_json` each trial's own result; both are stored
without their samples, which live only in `samples`, one row per sample and trial, and are put
back when a record is read.

Schema versions (bump on any change, with a migration from the version before):
  1  runs, records, samples(record_id, phase, idx, ms).
  2  samples gain `trial` (part of the key); records gain `trials_json`. Version-1 samples
     become trial 0; a version-1 record reads as one trial.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from device_runners.contract import RunResult
from harness.bench.stats import SampleStats, measurement_warnings, summarize_trials
from harness.errors import StoreError

SCHEMA_VERSION = 2
DEFAULT_DB = Path("results") / "harness.db"

RUN_RUNNING = "running"
RUN_COMPLETE = "complete"
RUN_INTERRUPTED = "interrupted"

# The current schema, for a new database; older ones are brought here by _MIGRATIONS.
_SCHEMA = """
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
    pid INTEGER
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

# _MIGRATIONS[v] takes a database from version v to v + 1, inside the caller's transaction.
_MIGRATIONS = {
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
}


def _statements(script: str) -> list[str]:
    # executescript() would commit the open transaction first; a migration must be one unit.
    return [s.strip() for s in script.split(";") if s.strip()]


def default_db_path() -> Path:
    return Path(os.environ.get("HARNESS_DB", DEFAULT_DB))


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


@dataclass(frozen=True)
class RunInfo:
    id: str
    started_at: float
    finished_at: float | None
    status: str
    device_id: str
    device: dict
    config: dict
    argv: str
    git_sha: str | None
    harness_version: str | None


@dataclass(frozen=True)
class BenchmarkRecord:
    """One cell of a run: a model in a format on a device, measured or with its reason."""

    run_id: str
    model: str
    format: str
    device_id: str
    status: str
    reason: str
    artifact: dict
    model_info: dict
    result: RunResult | None = None  # all trials combined (harness.bench.trials)
    stats: SampleStats | None = None
    warnings: tuple[str, ...] = ()
    id: int | None = None
    created_at: float = field(default_factory=time.time)
    trials: tuple[RunResult, ...] = ()  # each trial's own result, in order

    @property
    def trial_results(self) -> tuple[RunResult, ...]:
        """Each trial's result; a record stored without trials counts its result as one."""
        if self.trials:
            return self.trials
        return (self.result,) if self.result is not None else ()

    @property
    def unstable(self) -> bool:
        return bool(self.warnings)


def _without_samples(result: RunResult) -> dict:
    """A result's dict minus its samples, which are stored in the `samples` table."""
    data = result.to_dict()
    data["samples_ms"] = []
    data["warmup_samples_ms"] = []
    return data


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=30)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path} is not a usable results database ({exc}); "
                "point --db (or HARNESS_DB) at another file."
            ) from None

    def _schema_version(self) -> int | None:
        has_meta = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has_meta:
            return None
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else None

    def _migrate(self) -> None:
        """Create the schema, or bring an older one up to date, in one transaction."""
        if self._schema_version() == SCHEMA_VERSION:
            return  # the common case writes nothing, so a read-only database can be read
        # IMMEDIATE takes the write lock first, so two processes opening one old database
        # cannot both migrate it: the second waits and then finds it current.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            version = self._schema_version()
            if version is None:
                for statement in _statements(_SCHEMA):
                    self.conn.execute(statement)
                self.conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                                  (str(SCHEMA_VERSION),))
            elif version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer harness (schema {version}, this one "
                    f"reads up to {SCHEMA_VERSION}); upgrade the harness or use another --db."
                )
            elif version < SCHEMA_VERSION:
                for v in range(version, SCHEMA_VERSION):
                    for statement in _statements(_MIGRATIONS[v]):
                        self.conn.execute(statement)
                self.conn.execute("UPDATE meta SET value=? WHERE key='schema_version'",
                                  (str(SCHEMA_VERSION),))
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    @property
    def schema_version(self) -> int:
        return self._schema_version() or SCHEMA_VERSION

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- runs -------------------------------------------------------------------------------

    def begin_run(self, device: dict, config: dict, argv: str, git_sha: str | None,
                  harness_version: str, run_id: str | None = None) -> str:
        run_id = run_id or new_run_id()
        with self.conn:
            self.conn.execute(
                "INSERT INTO runs(id, started_at, status, device_id, device_json, config_json, argv,"
                " git_sha, harness_version, hostname, pid) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, time.time(), RUN_RUNNING, device["device_id"], json.dumps(device),
                 json.dumps(config), argv, git_sha, harness_version, socket.gethostname(), os.getpid()),
            )
        return run_id

    def finish_run(self, run_id: str, status: str = RUN_COMPLETE) -> None:
        with self.conn:
            self.conn.execute(
                "UPDATE runs SET status=?, finished_at=? WHERE id=?", (status, time.time(), run_id)
            )

    def _run_status(self, row: sqlite3.Row) -> str:
        if row["status"] == RUN_RUNNING and row["hostname"] == socket.gethostname():
            if row["pid"] is not None and not _pid_alive(row["pid"]):
                return RUN_INTERRUPTED
        return row["status"]

    def _run_info(self, row: sqlite3.Row) -> RunInfo:
        return RunInfo(
            id=row["id"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            status=self._run_status(row),
            device_id=row["device_id"],
            device=json.loads(row["device_json"]),
            config=json.loads(row["config_json"]),
            argv=row["argv"],
            git_sha=row["git_sha"],
            harness_version=row["harness_version"],
        )

    def runs(self) -> list[RunInfo]:
        rows = self.conn.execute("SELECT * FROM runs ORDER BY started_at DESC").fetchall()
        return [self._run_info(r) for r in rows]

    def get_run(self, run_id: str) -> RunInfo:
        """A run by id or unique id prefix (`latest` for the newest)."""
        if run_id == "latest":
            rows = self.conn.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT 1").fetchall()
        else:
            rows = self.conn.execute(
                "SELECT * FROM runs WHERE id LIKE ? ORDER BY started_at DESC", (run_id + "%",)
            ).fetchall()
        if not rows:
            raise StoreError(f"No run {run_id!r} in {self.path}; `harness show latest` shows the newest.")
        if len(rows) > 1 and rows[0]["id"] != run_id:
            ids = ", ".join(r["id"] for r in rows[:5])
            raise StoreError(f"Run id {run_id!r} is ambiguous ({ids}); give more characters.")
        return self._run_info(rows[0])

    # --- records ----------------------------------------------------------------------------

    def add_record(self, record: BenchmarkRecord) -> int:
        """Store a record and its raw samples in one transaction; returns the record id."""
        result = record.result
        stats = record.stats
        trials = record.trial_results
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO records(run_id, created_at, model, format, device_id, status, reason,"
                " artifact_sha256, artifact_json, result_json, model_json, median_ms, ci_low_ms,"
                " ci_high_ms, unstable, stats_json, trials_json)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.run_id, record.created_at, record.model, record.format, record.device_id,
                    record.status, record.reason, record.artifact.get("sha256"),
                    json.dumps(record.artifact),
                    json.dumps(_without_samples(result)) if result else None,
                    json.dumps(record.model_info),
                    stats.median if stats else None, stats.ci_low if stats else None,
                    stats.ci_high if stats else None,
                    int(record.unstable) if stats else None,
                    json.dumps(stats.to_dict()) if stats else None,
                    json.dumps([_without_samples(t) for t in trials]) if trials else None,
                ),
            )
            record_id = cur.lastrowid
            rows = []
            for trial, t in enumerate(trials):
                rows += [(record_id, "timed", trial, i, ms) for i, ms in enumerate(t.samples_ms)]
                rows += [(record_id, "warmup", trial, i, ms)
                         for i, ms in enumerate(t.warmup_samples_ms)]
            self.conn.executemany(
                "INSERT INTO samples(record_id, phase, trial, idx, ms) VALUES (?,?,?,?,?)", rows
            )
        return record_id

    def samples(self, record_id: int, phase: str = "timed", trial: int | None = None) -> list[float]:
        """A record's samples of one phase: one trial's, or every trial's in trial order."""
        if trial is None:
            rows = self.conn.execute(
                "SELECT ms FROM samples WHERE record_id=? AND phase=? ORDER BY trial, idx",
                (record_id, phase)).fetchall()
        else:
            rows = self.conn.execute(
                "SELECT ms FROM samples WHERE record_id=? AND phase=? AND trial=? ORDER BY idx",
                (record_id, phase, trial)).fetchall()
        return [r[0] for r in rows]

    def trial_samples(self, record_id: int, phase: str = "timed") -> list[list[float]]:
        """A record's samples of one phase, one list per trial."""
        by_trial: dict[int, list[float]] = {}
        for trial, ms in self.conn.execute(
            "SELECT trial, ms FROM samples WHERE record_id=? AND phase=? ORDER BY trial, idx",
            (record_id, phase),
        ):
            by_trial.setdefault(trial, []).append(ms)
        return [by_trial[t] for t in sorted(by_trial)]

    def _results(self, row: sqlite3.Row) -> tuple[RunResult | None, tuple[RunResult, ...]]:
        """The combined result and each trial's, with their samples put back from `samples`."""
        if not row["result_json"]:
            return None, ()
        timed = self.trial_samples(row["id"], "timed")
        warmup = self.trial_samples(row["id"], "warmup")
        trial_dicts = json.loads(row["trials_json"]) if row["trials_json"] else []
        trials = []
        for i, data in enumerate(trial_dicts):
            data["samples_ms"] = timed[i] if i < len(timed) else []
            data["warmup_samples_ms"] = warmup[i] if i < len(warmup) else []
            trials.append(RunResult.from_dict(data))
        combined = json.loads(row["result_json"])
        # Version-1 records kept their samples in result_json as well; the table is the truth.
        combined["samples_ms"] = [v for t in timed for v in t]
        combined["warmup_samples_ms"] = [v for t in warmup for v in t]
        return RunResult.from_dict(combined), tuple(trials)

    def _record(self, row: sqlite3.Row, recompute: bool) -> BenchmarkRecord:
        result, trials = self._results(row)
        stats = SampleStats.from_dict(json.loads(row["stats_json"])) if row["stats_json"] else None
        if recompute and result is not None and result.samples_ms:
            stats = summarize_trials(self.trial_samples(row["id"]))
        return BenchmarkRecord(
            id=row["id"],
            run_id=row["run_id"],
            created_at=row["created_at"],
            model=row["model"],
            format=row["format"],
            device_id=row["device_id"],
            status=row["status"],
            reason=row["reason"],
            artifact=json.loads(row["artifact_json"]),
            model_info=json.loads(row["model_json"]),
            result=result,
            stats=stats,
            warnings=tuple(measurement_warnings(stats, result, trials)) if stats else (),
            trials=trials,
        )

    def records(self, run_id: str | None = None, recompute: bool = False) -> list[BenchmarkRecord]:
        if run_id is None:
            rows = self.conn.execute("SELECT * FROM records ORDER BY id").fetchall()
        else:
            rows = self.conn.execute(
                "SELECT * FROM records WHERE run_id=? ORDER BY id", (run_id,)
            ).fetchall()
        return [self._record(r, recompute) for r in rows]

    def latest_records(self) -> list[BenchmarkRecord]:
        """The newest record of every (device, model, format) cell, across all runs."""
        rows = self.conn.execute(
            "SELECT * FROM records WHERE id IN ("
            " SELECT MAX(id) FROM records GROUP BY device_id, model, format)"
            " ORDER BY device_id, format, model"
        ).fetchall()
        return [self._record(r, recompute=False) for r in rows]
