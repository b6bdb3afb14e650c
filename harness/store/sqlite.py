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

from device_runners.host.process import pid_alive
from harness.bench.stats import STATS_VERSION, SampleStats, measurement_warnings
from harness.errors import StoreError
from harness.store import samples as stored_samples
from harness.store.errors import strict_json, translate_sqlite_errors
from harness.store.heartbeat import Heartbeat
from harness.store.records import (
    BenchmarkRecord,
    RunInfo,
    figures,
    results_from_json,
    stats_from_json,
    warnings_from_json,
    without_samples,
)
from harness.store.schema import (
    SCHEMA,
    SCHEMA_VERSION,
    migrate,
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


def _stale_stats(conn: sqlite3.Connection) -> bool:
    """Whether some record's stored figures are of an older STATS_VERSION (current schema only)."""
    return conn.execute("SELECT EXISTS(SELECT 1 FROM records WHERE stats_version < ?)",
                        (STATS_VERSION,)).fetchone()[0] == 1


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
        if version < SCHEMA_VERSION or _stale_stats(self.conn):
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

    def _refuse_newer(self, version: int | None) -> None:
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer harness (schema {version}, this one "
                f"reads up to {SCHEMA_VERSION}); upgrade the harness or use another --db."
            )

    def _migrate(self) -> None:
        """Create the schema, or bring an older one up to date and recompute stored figures of
        an older STATS_VERSION, in one transaction."""
        version = schema_version(self.conn)
        if version == SCHEMA_VERSION and not _stale_stats(self.conn):
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
                migrate(self.conn, version)
                self.conn.execute("UPDATE meta SET value=? WHERE key='schema_version'",
                                  (str(SCHEMA_VERSION),))
            self._recompute_stale_figures()
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    def _recompute_stale_figures(self) -> None:
        """Recompute, from the samples, the stored figures of every record whose statistics are
        of an older STATS_VERSION (inside the caller's transaction)."""
        rows = self.conn.execute("SELECT * FROM records WHERE stats_version < ?",
                                 (STATS_VERSION,)).fetchall()
        for row in rows:
            result, trials = self._results(row, with_samples=True)
            if result is None or not result.samples_ms:
                # Nothing to recompute from: the figures stay as stored, marked as of no version
                # (so they are not tried again on every open).
                self.conn.execute("UPDATE records SET stats_version=NULL WHERE id=?", (row["id"],))
                continue
            stats, warnings = figures(result, trials)
            self.conn.execute(
                "UPDATE records SET median_ms=?, ci_low_ms=?, ci_high_ms=?, unstable=?,"
                " stats_json=?, stats_version=?, warnings_json=? WHERE id=?",
                (*self._figure_columns(stats, warnings), row["id"]))

    @staticmethod
    def _figure_columns(stats: SampleStats | None, warnings) -> tuple:
        """median_ms, ci_low_ms, ci_high_ms, unstable, stats_json, stats_version, warnings_json."""
        if stats is None:
            return None, None, None, None, None, None, strict_json([])
        return (stats.median, stats.ci_low, stats.ci_high, int(bool(warnings)),
                strict_json(stats.to_dict()), STATS_VERSION, strict_json(list(warnings)))

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
        """Store a record, its raw samples and its figures in one transaction; returns its id.

        The figures are computed once, here: `record.stats` (computed from the trials' samples
        by `summarize_trials`, or here when a measured record comes without them) and the
        warnings about them (`measurement_warnings`, from the stats, the combined result and
        the trials; `record.warnings` is not read), stored as of STATS_VERSION.

        `replaces`: ids of records this one supersedes (a resumed cell); they and their samples
        are deleted in the same transaction, so a failure keeps them.
        """
        result = record.result
        trials = record.trial_results
        stats, warnings = record.stats, ()
        if stats is None and result is not None and result.ok and result.samples_ms:
            stats, warnings = figures(result, trials)
        elif stats is not None:
            warnings = tuple(measurement_warnings(stats, result, trials))
        with self.conn:
            for old_id in replaces:
                self.conn.execute("DELETE FROM samples WHERE record_id=?", (old_id,))
                self.conn.execute("DELETE FROM records WHERE id=?", (old_id,))
            cur = self.conn.execute(
                "INSERT INTO records(run_id, created_at, model, format, device_id, status, reason,"
                " artifact_sha256, artifact_json, result_json, model_json, trials_json, median_ms,"
                " ci_low_ms, ci_high_ms, unstable, stats_json, stats_version, warnings_json)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.run_id, record.created_at, record.model, record.format, record.device_id,
                    record.status, record.reason, record.artifact.get("sha256"),
                    strict_json(record.artifact),
                    strict_json(without_samples(result)) if result else None,
                    strict_json(record.model_info),
                    strict_json([without_samples(t) for t in trials]) if trials else None,
                    *self._figure_columns(stats, warnings),
                ),
            )
            record_id = cur.lastrowid
            stored_samples.insert_samples(self.conn, stored_samples.sample_rows(record_id, trials))
            # A stored record is a sign of life too, should the heartbeat thread be starved.
            self.conn.execute("UPDATE runs SET heartbeat_at=? WHERE id=? AND status=?",
                              (time.time(), record.run_id, RUN_RUNNING))
        return record_id

    @translate_sqlite_errors
    def samples(self, record_id: int, phase: str = "timed", trial: int | None = None) -> list[float]:
        """A record's samples of one phase: one trial's, or every trial's in trial order."""
        if trial is not None:
            return stored_samples.trial_of(self.conn, record_id, phase, trial)
        return [v for t in stored_samples.trial_samples(self.conn, record_id, phase) for v in t]

    @translate_sqlite_errors
    def trial_samples(self, record_id: int, phase: str = "timed") -> list[list[float]]:
        """A record's samples of one phase, one list per trial."""
        return stored_samples.trial_samples(self.conn, record_id, phase)

    def _results(self, row: sqlite3.Row, with_samples: bool):
        """The combined result and each trial's; their samples put back when `with_samples`."""
        if not row["result_json"]:
            return None, ()
        timed = warmup = None
        if with_samples:
            by_phase = stored_samples.record_samples(self.conn, row["id"])
            timed, warmup = by_phase[stored_samples.TIMED], by_phase[stored_samples.WARMUP]
        return results_from_json(row["result_json"], row["trials_json"], timed, warmup)

    def _record(self, row: sqlite3.Row, samples: bool, recompute: bool) -> BenchmarkRecord:
        loaded = samples or recompute
        result, trials = self._results(row, loaded)
        stats = stats_from_json(row["stats_json"]) if row["stats_json"] else None
        warnings = warnings_from_json(row["warnings_json"])
        if recompute and stats is not None and result is not None and result.samples_ms:
            stats, warnings = figures(result, trials)
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
            warnings=warnings,
            trials=trials,
            samples_loaded=loaded,
        )

    @translate_sqlite_errors
    def records(self, run_id: str | None = None, samples: bool = False,
                recompute: bool = False) -> list[BenchmarkRecord]:
        """A run's records (every record without `run_id`), in stored order, with the figures
        stored with them. Their samples are not read unless `samples` (or `trial_samples()`);
        `recompute` reads them and recomputes the figures from them."""
        if run_id is None:
            rows = self.conn.execute("SELECT * FROM records ORDER BY id").fetchall()
        else:
            rows = self.conn.execute(
                "SELECT * FROM records WHERE run_id=? ORDER BY id", (run_id,)
            ).fetchall()
        return [self._record(r, samples, recompute) for r in rows]

    @translate_sqlite_errors
    def latest_records(self, samples: bool = False) -> list[BenchmarkRecord]:
        """The newest record of every leaderboard cell, across all runs.

        A cell is everything that changes a latency: the device, the model, the format as
        records name it (with its runtime variant, `coreml@cpu_and_ne`), the backend and
        precision the artifact was built for, the threads and the CPU affinity the run asked
        for (`config["bench"]`, else the result's), and the input: the model's input size, and
        its channels when `--input-shape` gave them. Two runs that differ in any of these fill
        two cells; neither hides the other.

        A record cut short by an interrupted run (`ok`, but fewer trials than planned) stands
        for its cell only when no whole record of that cell exists; the reports mark it.
        """
        rows = self.conn.execute(
            "SELECT r.id, r.device_id, r.model, r.format, r.status,"
            " json_extract(runs.config_json, '$.bench.threads'),"
            " json_extract(r.result_json, '$.threads'),"
            " json_extract(runs.config_json, '$.bench.cpu_affinity'),"
            " json_extract(r.result_json, '$.cpu_affinity'),"
            " json_extract(r.model_json, '$.input_size'),"
            " json_extract(runs.config_json, '$.cli.input_shape'),"
            " json_extract(r.artifact_json, '$.backend'),"
            " json_extract(r.artifact_json, '$.precision'),"
            " json_extract(r.result_json, '$.context.trials'),"
            " json_extract(r.result_json, '$.context.trials_planned')"
            " FROM records r LEFT JOIN runs ON runs.id = r.run_id"
        ).fetchall()
        chosen: dict[tuple, tuple[bool, int]] = {}
        for row in rows:
            (record_id, device, model, fmt, status, config_threads, result_threads, config_cpus,
             result_cpus, input_size, cli_shape, backend, precision, trials, planned) = tuple(row)
            cpus = config_cpus if config_cpus is not None else result_cpus
            channels = json.loads(cli_shape)[1] if cli_shape else None
            key = (device, model, fmt, backend or "", precision or "",
                   config_threads if config_threads is not None else result_threads,
                   tuple(json.loads(cpus)) if cpus else None, input_size, channels)
            whole = not (status == "ok" and trials is not None and planned is not None
                         and trials < planned)
            rank = (whole, record_id)  # a whole record first, then the newest
            if key not in chosen or rank > chosen[key]:
                chosen[key] = rank
        ids = sorted(record_id for _, record_id in chosen.values())
        records = []
        for start in range(0, len(ids), 500):  # SQLite's limit on bound parameters
            batch = ids[start:start + 500]
            records += [self._record(r, samples, recompute=False) for r in self.conn.execute(
                f"SELECT * FROM records WHERE id IN ({','.join('?' * len(batch))})", batch)]
        return sorted(records, key=lambda r: (r.device_id, r.format, r.model, r.id))

    @translate_sqlite_errors
    def run_listing(self) -> list[tuple[RunInfo, int, int]]:
        """Every run, newest first, with its number of records and of measured (`ok`) ones."""
        counts = {row[0]: (row[1], row[2] or 0) for row in self.conn.execute(
            "SELECT run_id, COUNT(*), SUM(status = 'ok') FROM records GROUP BY run_id")}
        return [(run, *counts.get(run.id, (0, 0))) for run in self.runs()]
