"""The results database in SQLite (see the package docstring for what it guarantees)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import sqlite3
import time
from pathlib import Path

from device_runners.contract import RunResult
from device_runners.host.process import pid_alive
from harness.bench.stats import measurement_warnings, summarize_trials
from harness.errors import StoreError
from harness.store.errors import strict_json, translate_sqlite_errors
from harness.store.heartbeat import Heartbeat
from harness.store.records import (
    BenchmarkRecord,
    RunInfo,
    stats_from_json,
    without_samples,
)
from harness.store.schema import (
    MIGRATIONS,
    SCHEMA,
    SCHEMA_VERSION,
    schema_version,
    statements,
)

DEFAULT_DB = Path("results") / "harness.db"

RUN_RUNNING = "running"
RUN_COMPLETE = "complete"
RUN_INTERRUPTED = "interrupted"
RUN_ABANDONED = "abandoned"  # derived when reading, never stored

# A `running` run whose heartbeat is older than this reads as abandoned: ten missed beats of
# the default 30 s interval, so a busy disk or a long commit does not trip it.
STALE_AFTER_S = 300.0

log = logging.getLogger("harness.store")


def default_db_path() -> Path:
    return Path(os.environ.get("HARNESS_DB", DEFAULT_DB))


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)



class Store:
    """The results database at `path` (default: $HARNESS_DB or results/harness.db).

    `readonly=True` is for commands that only read: see the module docstring.
    """

    def __init__(self, path: str | Path | None = None, readonly: bool = False):
        self.path = Path(path) if path else default_db_path()
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

    def _connect(self, target: str, uri: bool = False) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = sqlite3.connect(target, uri=uri, timeout=30)
        self.conn.row_factory = sqlite3.Row

    @translate_sqlite_errors
    def _open_for_writing(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connect(str(self.path))
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    @translate_sqlite_errors
    def _open_for_reading(self) -> None:
        if not self.path.exists():
            raise StoreError(f"No results database at {self.path}; run `harness run` first, or "
                             "point --db (or HARNESS_DB) at one.")
        uri = self.path.absolute().as_uri()
        self._connect(uri + "?mode=ro", uri=True)
        try:
            version = schema_version(self.conn)
        except sqlite3.OperationalError as exc:
            # A WAL database needs its -shm file to be read; on read-only media nobody can
            # create it, so SQLite cannot open it. Nothing can be writing there either, so the
            # file is read as it is (immutable=1: no locks, no -shm).
            if exc.sqlite_errorname != "SQLITE_CANTOPEN" or os.access(self.path.parent, os.W_OK):
                raise  # another failure, or not read-only media
            self._connect(uri + "?mode=ro&immutable=1", uri=True)
            version = schema_version(self.conn)
        if version is None:
            raise StoreError(f"{self.path} is not a harness results database (it has no `meta` "
                             "table with a schema_version); nothing was changed. Point --db (or "
                             "HARNESS_DB) at the database `harness run` wrote.")
        self._refuse_newer(version)
        if version < SCHEMA_VERSION:
            # Migrate a copy in memory; the file stays as it is.
            memory = sqlite3.connect(":memory:")
            self.conn.backup(memory)
            self.conn.close()
            self.conn = memory
            self.conn.row_factory = sqlite3.Row
            self._migrate()
        # Writes through this connection fail (as a read-only database) instead of vanishing
        # into the in-memory copy.
        self.conn.execute("PRAGMA query_only=ON")

    def _refuse_newer(self, version: int | None) -> None:
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer harness (schema {version}, this one "
                f"reads up to {SCHEMA_VERSION}); upgrade the harness or use another --db."
            )

    def _migrate(self) -> None:
        """Create the schema, or bring an older one up to date, in one transaction."""
        if schema_version(self.conn) == SCHEMA_VERSION:
            return  # the common case writes nothing
        # IMMEDIATE takes the write lock first, so two processes opening one old database
        # cannot both migrate it: the second waits and then finds it current.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(self.conn)
            self._refuse_newer(version)
            if version is None:
                for statement in statements(SCHEMA):
                    self.conn.execute(statement)
                self.conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                                  (str(SCHEMA_VERSION),))
            elif version < SCHEMA_VERSION:
                for v in range(version, SCHEMA_VERSION):
                    for statement in statements(MIGRATIONS[v]):
                        self.conn.execute(statement)
                self.conn.execute("UPDATE meta SET value=? WHERE key='schema_version'",
                                  (str(SCHEMA_VERSION),))
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    @property
    @translate_sqlite_errors
    def schema_version(self) -> int:
        """The schema of what this store reads (after an in-memory migration, the current)."""
        return schema_version(self.conn) or SCHEMA_VERSION

    @translate_sqlite_errors
    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- runs -------------------------------------------------------------------------------

    @translate_sqlite_errors
    def begin_run(self, device: dict, config: dict, argv: str, git_sha: str | None,
                  harness_version: str, run_id: str | None = None) -> str:
        run_id = run_id or new_run_id()
        now = time.time()
        with self.conn:
            self.conn.execute(
                "INSERT INTO runs(id, started_at, status, device_id, device_json, config_json, argv,"
                " git_sha, harness_version, hostname, pid, heartbeat_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, now, RUN_RUNNING, device["device_id"], strict_json(device),
                 strict_json(config), argv, git_sha, harness_version, socket.gethostname(),
                 os.getpid(), now),
            )
        return run_id

    @translate_sqlite_errors
    def finish_run(self, run_id: str, status: str = RUN_COMPLETE) -> None:
        with self.conn:
            self.conn.execute(
                "UPDATE runs SET status=?, finished_at=? WHERE id=?", (status, time.time(), run_id)
            )

    @translate_sqlite_errors
    def reopen_run(self, run_id: str) -> None:
        """Set a stored run back to `running`, owned by this process, to add to it (resume)."""
        with self.conn:
            cur = self.conn.execute(
                "UPDATE runs SET status=?, finished_at=NULL, hostname=?, pid=?, heartbeat_at=?"
                " WHERE id=?", (RUN_RUNNING, socket.gethostname(), os.getpid(), time.time(), run_id))
        if cur.rowcount == 0:
            raise StoreError(f"No run {run_id!r} in {self.path} to reopen; `harness show latest` "
                             "shows the newest.")

    @translate_sqlite_errors
    def heartbeat(self, run_id: str) -> None:
        """Mark a running run as alive now."""
        with self.conn:
            self.conn.execute("UPDATE runs SET heartbeat_at=? WHERE id=?", (time.time(), run_id))

    def start_heartbeat(self, run_id: str, interval_s: float = 30.0) -> Heartbeat:
        """Keep `run_id` alive from a background thread until the returned object's `stop()`."""
        if self.readonly:
            raise StoreError(f"{self.path} was opened read-only; a run's heartbeat needs a writer.")
        return Heartbeat(self.path, run_id, interval_s)

    def _run_status(self, row: sqlite3.Row) -> str:
        if row["status"] != RUN_RUNNING:
            return row["status"]
        here = row["hostname"] == socket.gethostname()
        if here and row["pid"] is not None and not pid_alive(row["pid"]):
            return RUN_INTERRUPTED
        last_beat = row["heartbeat_at"] if row["heartbeat_at"] is not None else row["started_at"]
        if time.time() - last_beat > STALE_AFTER_S:
            return RUN_ABANDONED
        return RUN_RUNNING

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
            heartbeat_at=row["heartbeat_at"],
        )

    @translate_sqlite_errors
    def runs(self) -> list[RunInfo]:
        rows = self.conn.execute("SELECT * FROM runs ORDER BY started_at DESC").fetchall()
        return [self._run_info(r) for r in rows]

    @translate_sqlite_errors
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

    @translate_sqlite_errors
    def add_record(self, record: BenchmarkRecord, replaces: tuple[int, ...] = ()) -> int:
        """Store a record and its raw samples in one transaction; returns the record id.

        `replaces`: ids of records this one supersedes (a resumed cell); they and their samples
        are deleted in the same transaction, so a failure keeps them.
        """
        result = record.result
        stats = record.stats
        trials = record.trial_results
        with self.conn:
            for old_id in replaces:
                self.conn.execute("DELETE FROM samples WHERE record_id=?", (old_id,))
                self.conn.execute("DELETE FROM records WHERE id=?", (old_id,))
            cur = self.conn.execute(
                "INSERT INTO records(run_id, created_at, model, format, device_id, status, reason,"
                " artifact_sha256, artifact_json, result_json, model_json, median_ms, ci_low_ms,"
                " ci_high_ms, unstable, stats_json, trials_json)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.run_id, record.created_at, record.model, record.format, record.device_id,
                    record.status, record.reason, record.artifact.get("sha256"),
                    strict_json(record.artifact),
                    strict_json(without_samples(result)) if result else None,
                    strict_json(record.model_info),
                    stats.median if stats else None, stats.ci_low if stats else None,
                    stats.ci_high if stats else None,
                    int(record.unstable) if stats else None,
                    strict_json(stats.to_dict()) if stats else None,
                    strict_json([without_samples(t) for t in trials]) if trials else None,
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
            # A stored record is a sign of life too, should the heartbeat thread be starved.
            self.conn.execute("UPDATE runs SET heartbeat_at=? WHERE id=? AND status=?",
                              (time.time(), record.run_id, RUN_RUNNING))
        return record_id

    @translate_sqlite_errors
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

    @translate_sqlite_errors
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
            trials.append(RunResult.from_dict(data, check_problems=False))
        combined = json.loads(row["result_json"])
        # Version-1 records kept their samples in result_json as well; the table is the truth.
        combined["samples_ms"] = [v for t in timed for v in t]
        combined["warmup_samples_ms"] = [v for t in warmup for v in t]
        return RunResult.from_dict(combined, check_problems=False), tuple(trials)

    def _record(self, row: sqlite3.Row, recompute: bool) -> BenchmarkRecord:
        result, trials = self._results(row)
        stats = stats_from_json(row["stats_json"]) if row["stats_json"] else None
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

    @translate_sqlite_errors
    def records(self, run_id: str | None = None, recompute: bool = False) -> list[BenchmarkRecord]:
        if run_id is None:
            rows = self.conn.execute("SELECT * FROM records ORDER BY id").fetchall()
        else:
            rows = self.conn.execute(
                "SELECT * FROM records WHERE run_id=? ORDER BY id", (run_id,)
            ).fetchall()
        return [self._record(r, recompute) for r in rows]

    @translate_sqlite_errors
    def latest_records(self) -> list[BenchmarkRecord]:
        """The newest record of every (device, model, format) cell, across all runs."""
        rows = self.conn.execute(
            "SELECT * FROM records WHERE id IN ("
            " SELECT MAX(id) FROM records GROUP BY device_id, model, format)"
            " ORDER BY device_id, format, model"
        ).fetchall()
        return [self._record(r, recompute=False) for r in rows]
