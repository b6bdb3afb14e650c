"""The store both backends share (`harness.store.Store` opens the SQLite one for a path and the
PostgreSQL one for a postgresql:// URL): every public method is written here once, over the few
primitives a backend gives (run a statement with `?` parameters, a transaction, the migration
transaction, the schema version, a JSON field, its errors as one line, a heartbeat connection).
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from pathlib import Path

from device_runners.process import pid_alive
from harness.bench.stats import STATS_VERSION, measurement_warnings
from harness.errors import NoSuchRun, StoreError
from harness.redact import redact_data, redact_text
from harness.store.migrating import Migrating
from harness.store import samples as stored_samples
from harness.store import schema
from harness.store.cell_key import newest_per_cell
from harness.store.errors import strict_json, translated
from harness.store.heartbeat import Heartbeat
from harness.store.location import DEFAULT_DB
from harness.store.records import (
    BenchmarkRecord,
    RunInfo,
    figure_columns,
    figures,
    loads,
    stored_prior,
    results_from_json,
    stats_from_json,
    warnings_from_json,
    without_samples,
)

RUN_RUNNING = "running"
RUN_COMPLETE = "complete"
RUN_INTERRUPTED = "interrupted"
RUN_ABANDONED = "abandoned"  # derived when reading, never stored

# A `running` run whose heartbeat is older than this reads as abandoned: ten missed beats of
# the default 30 s interval, so a busy disk or a long commit does not trip it.
STALE_AFTER_S = 300.0


def new_run_id() -> str:
    """The second the run began and two random bytes: readable, and sorted by time where it
    matters (runs are ordered by `started_at`, so ids within one second need no order). Two runs
    begun in one second clash once in 65,536: `StoreBase.unused_run_id` chooses again."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


class StoreBase(Migrating):
    """The results database, whichever backend: what `harness.store.Store(path_or_url=None,
    readonly=False)` returns.

    A path (default: $HARNESS_DB or results/harness.db) opens SQLite (harness.store.sqlite),
    a postgresql:// or postgres:// URL opens PostgreSQL (harness.store.postgres); both are
    subclasses of this one, with the same methods. `readonly=True` is for commands that only read: see the
    package docstring. `location` names the database in messages (a URL without its
    password); `path` is the SQLite file, None for a server.
    """

    dialect = ""  # "sqlite" or "postgresql": the key of schema.SCHEMAS and schema.Migration
    path: Path | None = None
    location = ""
    readonly = False
    conn = None
    _replaying = False  # a method runs again after a lost connection (errors.translated)

    # --- what a backend gives ---------------------------------------------------------------

    def _execute(self, sql: str, params=()):
        """Run one statement with `?` parameters; a cursor whose rows read by column name."""
        raise NotImplementedError

    def _executemany(self, sql: str, rows) -> None:
        raise NotImplementedError

    def _transaction(self):
        """A context manager: one transaction, committed at its end, rolled back on an error."""
        raise NotImplementedError

    def _migration_transaction(self):
        """A transaction that only one process at a time can be in (the schema's lock)."""
        raise NotImplementedError

    def _read_schema_version(self) -> int | None:
        """The `meta` table's schema_version; None when there is no such table or row."""
        raise NotImplementedError

    def _json(self, column: str, *keys: str) -> str:
        """SQL for the value at `keys` inside a JSON column (an array may read as its text)."""
        raise NotImplementedError

    def _store_error(self, exc: Exception) -> str | None:
        """The one line for a failure of the database; None for anything else."""
        raise NotImplementedError

    def _retry(self, exc: Exception, attempt: int) -> bool:
        """Whether to run a method that failed with `exc` again (`attempt` retries so far)."""
        return False

    def _ready(self) -> None:
        """Called before every method: a backend can make a lost connection again here."""

    def _heartbeat_connection(self, interval_s: float):
        """(connect, beat) for `Heartbeat`: a new connection, and one beat on it."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def log_dir(self) -> Path:
        """Where `harness run` writes its logs: beside a SQLite file, else results/logs."""
        return (self.path.parent if self.path is not None else DEFAULT_DB.parent) / "logs"

    # --- schema -----------------------------------------------------------------------------

    @property
    @translated
    def schema_version(self) -> int:
        """The schema of what this store reads (after an in-memory migration, the current)."""
        return self._read_schema_version() or schema.SCHEMA_VERSION

    # --- runs -------------------------------------------------------------------------------

    def begin_run(self, device: dict, config: dict, argv: str, git_sha: str | None,
                  harness_version: str, run_id: str | None = None) -> str:
        # The id is chosen once, outside the write, so a write run again after a lost
        # connection begins the same run.
        return self._begin_run(device, config, argv, git_sha, harness_version,
                               run_id or self.unused_run_id())

    def unused_run_id(self) -> str:
        """A new run id (`new_run_id`) that no run in this store has. Two processes that choose
        the same unused id in the same instant still clash on the primary key, one in a line."""
        for _ in range(64):
            run_id = new_run_id()
            if not self._has_run(run_id):
                return run_id
        raise StoreError(f"No unused run id in {self.location} after 64 tries; run again in a "
                         "second.")

    @translated
    def _has_run(self, run_id: str) -> bool:
        row = self._execute("SELECT 1 AS found FROM runs WHERE id=?", (run_id,)).fetchone()
        return row is not None

    @translated
    def _begin_run(self, device: dict, config: dict, argv: str, git_sha: str | None,
                   harness_version: str, run_id: str) -> str:
        now = time.time()
        # A password given on the command line (`--db postgresql://user:PW@...`) or in a setting
        # is never stored: every output reads runs from here (harness.redact).
        argv, config = redact_text(argv), redact_data(config)
        if self._replaying and self._execute(  # committed before the connection was lost
                "SELECT 1 AS found FROM runs WHERE id=? AND hostname=? AND pid=?",
                (run_id, socket.gethostname(), os.getpid())).fetchone():
            return run_id
        with self._transaction():
            self._execute(
                "INSERT INTO runs(id, started_at, status, device_id, device_json, config_json, argv,"
                " git_sha, harness_version, hostname, pid, heartbeat_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, now, RUN_RUNNING, device["device_id"], strict_json(device),
                 strict_json(config), argv, git_sha, harness_version, socket.gethostname(),
                 os.getpid(), now),
            )
        return run_id

    @translated
    def finish_run(self, run_id: str, status: str = RUN_COMPLETE) -> None:
        with self._transaction():
            self._execute("UPDATE runs SET status=?, finished_at=? WHERE id=?",
                          (status, time.time(), run_id))

    @translated
    def reopen_run(self, run_id: str) -> None:
        """Set a stored run back to `running`, owned by this process, to add to it (resume)."""
        with self._transaction():
            cur = self._execute(
                "UPDATE runs SET status=?, finished_at=NULL, hostname=?, pid=?, heartbeat_at=?"
                " WHERE id=?", (RUN_RUNNING, socket.gethostname(), os.getpid(), time.time(), run_id))
        if cur.rowcount == 0:
            raise StoreError(f"No run {run_id!r} in {self.location} to reopen; `harness show "
                             "latest` shows the newest.")

    @translated
    def heartbeat(self, run_id: str) -> None:
        """Mark a running run as alive now."""
        with self._transaction():
            self._execute("UPDATE runs SET heartbeat_at=? WHERE id=?", (time.time(), run_id))

    def start_heartbeat(self, run_id: str, interval_s: float = 30.0) -> Heartbeat:
        """Keep `run_id` alive from a background thread until the returned object's `stop()`."""
        if self.readonly:
            raise StoreError(f"{self.location} was opened read-only; a run's heartbeat needs a "
                             "writer.")
        connect, beat = self._heartbeat_connection(interval_s)
        return Heartbeat(self.location, run_id, interval_s, connect, beat)

    def _run_status(self, row) -> str:
        if row["status"] != RUN_RUNNING:
            return row["status"]
        here = row["hostname"] == socket.gethostname()
        if here and row["pid"] is not None and not pid_alive(row["pid"]):
            return RUN_INTERRUPTED
        last_beat = row["heartbeat_at"] if row["heartbeat_at"] is not None else row["started_at"]
        if time.time() - last_beat > STALE_AFTER_S:
            return RUN_ABANDONED
        return RUN_RUNNING

    def _run_info(self, row) -> RunInfo:
        return RunInfo(
            id=row["id"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            status=self._run_status(row),
            device_id=row["device_id"],
            device=loads(row["device_json"]),
            config=loads(row["config_json"]),
            # A run an older harness stored with a password in its command line shows none.
            argv=redact_text(row["argv"]) if row["argv"] else row["argv"],
            git_sha=row["git_sha"],
            harness_version=row["harness_version"],
            heartbeat_at=row["heartbeat_at"],
        )

    @translated
    def runs(self) -> list[RunInfo]:
        rows = self._execute("SELECT * FROM runs ORDER BY started_at DESC").fetchall()
        return [self._run_info(r) for r in rows]

    @translated
    def get_run(self, run_id: str) -> RunInfo:
        """A run by id or unique id prefix (any case; `latest` for the newest)."""
        if run_id == "latest":
            rows = self._execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT 1").fetchall()
        else:
            rows = self._execute(
                "SELECT * FROM runs WHERE lower(substr(id, 1, ?)) = lower(?)"
                " ORDER BY started_at DESC", (len(run_id), run_id)).fetchall()
        if not rows:
            raise NoSuchRun(f"No run {run_id!r} in {self.location}; `harness show latest` shows "
                             "the newest.")
        if len(rows) > 1 and rows[0]["id"] != run_id:
            ids = ", ".join(r["id"] for r in rows[:5])
            raise NoSuchRun(f"Run id {run_id!r} is ambiguous ({ids}); give more characters.")
        return self._run_info(rows[0])

    # --- records ----------------------------------------------------------------------------

    @translated
    def add_record(self, record: BenchmarkRecord, replaces: tuple[int, ...] = ()) -> int:
        """Store a record, its raw samples and its figures in one transaction; returns its id.

        The figures are computed once, here: `record.stats` (computed from the trials' samples
        by `summarize_trials`, or here when a measured record comes without them) and the
        warnings about them (`measurement_warnings`, from the stats, the combined result and
        the trials; `record.warnings` is not read), stored as of STATS_VERSION.

        `replaces`: ids of records this one supersedes (a resumed cell); they and their samples
        are deleted in the same transaction, so a failure keeps them.

        Idempotent when written again after a lost connection: the write is keyed by the run,
        the cell (model, format) and the record's own `created_at`, which every trial of the
        record shares.
        """
        result = record.result
        trials = record.trial_results
        stats, warnings = record.stats, ()
        if stats is None and result is not None and result.ok and result.samples_ms:
            stats, warnings = figures(result, trials)
        elif stats is not None:
            warnings = tuple(measurement_warnings(stats, result, trials))
        if self._replaying:  # committed before the connection was lost: stored once, not twice
            row = self._execute("SELECT id FROM records WHERE run_id=? AND model=? AND format=?"
                                " AND created_at=?", (record.run_id, record.model, record.format,
                                                      record.created_at)).fetchone()
            if row:
                return row["id"]
        with self._transaction():
            for old_id in replaces:
                self._execute("DELETE FROM samples WHERE record_id=?", (old_id,))
                self._execute("DELETE FROM records WHERE id=?", (old_id,))
            record_id = self._execute(
                "INSERT INTO records(run_id, created_at, model, format, device_id, status, reason,"
                " artifact_sha256, artifact_json, result_json, model_json, trials_json, median_ms,"
                " ci_low_ms, ci_high_ms, unstable, stats_json, stats_version, warnings_json)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (
                    record.run_id, record.created_at, record.model, record.format, record.device_id,
                    record.status, record.reason, record.artifact.get("sha256"),
                    strict_json(record.artifact),
                    strict_json(without_samples(result)) if result else None,
                    strict_json(record.model_info),
                    strict_json([without_samples(t) for t in trials]) if trials else None,
                    *figure_columns(stats, warnings),
                ),
            ).fetchone()["id"]
            stored_samples.insert_samples(self._executemany,
                                          stored_samples.sample_rows(record_id, trials))
            # A stored record is a sign of life too, should the heartbeat thread be starved.
            self._execute("UPDATE runs SET heartbeat_at=? WHERE id=? AND status=?",
                          (time.time(), record.run_id, RUN_RUNNING))
        return record_id

    @translated
    def samples(self, record_id: int, phase: str = "timed", trial: int | None = None) -> list[float]:
        """A record's samples of one phase: one trial's, or every trial's in trial order."""
        if trial is not None:
            return stored_samples.trial_of(self._execute, record_id, phase, trial)
        return [v for t in stored_samples.trial_samples(self._execute, record_id, phase) for v in t]

    @translated
    def trial_samples(self, record_id: int, phase: str = "timed") -> list[list[float]]:
        """A record's samples of one phase, one list per trial."""
        return stored_samples.trial_samples(self._execute, record_id, phase)

    def _results(self, row, with_samples: bool):
        """The combined result and each trial's; their samples put back when `with_samples`."""
        if not row["result_json"]:
            return None, ()
        timed = warmup = None
        if with_samples:
            by_phase = stored_samples.record_samples(self._execute, row["id"])
            timed, warmup = by_phase[stored_samples.TIMED], by_phase[stored_samples.WARMUP]
        return results_from_json(row["result_json"], row["trials_json"], timed, warmup)

    def _record(self, row, samples: bool, recompute: bool) -> BenchmarkRecord:
        # Figures of an older STATS_VERSION that no writer has recomputed yet (a reader of a
        # PostgreSQL database, which migrates nothing) are recomputed here, as `recompute` would.
        stale = row["stats_version"] is not None and row["stats_version"] < STATS_VERSION
        loaded = samples or recompute or stale
        result, trials = self._results(row, loaded)
        if (recompute or stale) and row["stats_json"] and result is not None and result.samples_ms:
            # The stored figures are not parsed, but for the device spread they used: an older
            # version's may be of another shape.
            stats, warnings = figures(result, trials, stored_prior(row["stats_json"]))
        else:
            stats = stats_from_json(row["stats_json"]) if row["stats_json"] else None
            warnings = warnings_from_json(row["warnings_json"])
        return BenchmarkRecord(
            id=row["id"],
            run_id=row["run_id"],
            created_at=row["created_at"],
            model=row["model"],
            format=row["format"],
            device_id=row["device_id"],
            status=row["status"],
            reason=row["reason"],
            artifact=loads(row["artifact_json"]),
            model_info=loads(row["model_json"]),
            result=result,
            stats=stats,
            warnings=warnings,
            trials=trials,
            samples_loaded=loaded,
        )

    @translated
    def records(self, run_id: str | None = None, samples: bool = False,
                recompute: bool = False) -> list[BenchmarkRecord]:
        """A run's records (every record without `run_id`), in stored order, with the figures
        stored with them. Their samples are not read unless `samples` (or `trial_samples()`);
        `recompute` reads them and recomputes the figures from them."""
        if run_id is None:
            rows = self._execute("SELECT * FROM records ORDER BY id").fetchall()
        else:
            rows = self._execute("SELECT * FROM records WHERE run_id=? ORDER BY id",
                                 (run_id,)).fetchall()
        return [self._record(r, samples, recompute) for r in rows]

    def latest_records(self, samples: bool = False) -> list[BenchmarkRecord]:
        """The newest record of every leaderboard cell, across all runs (`latest_record_ids`),
        by device, format and model."""
        records = self.records_by_id(self.latest_record_ids(), samples)
        return sorted(records, key=lambda r: (r.device_id, r.format, r.model, r.id))

    @translated
    def latest_record_ids(self) -> list[int]:
        """The ids of the newest record of every leaderboard cell, across all runs.

        A cell is what `CellKey` says (harness.store.cell_key): the device, the model, the
        format with its runtime variant, the backend and precision, the threads and CPUs the
        run asked for, and the input. Two runs that differ in any of these fill two cells;
        neither hides the other.

        A record cut short by an interrupted run (`ok`, but fewer trials than planned) stands
        for its cell only when no whole record of that cell exists; the reports mark it.
        """
        j = self._json
        rows = self._execute(
            "SELECT r.id, r.device_id, r.model, r.format, r.status,"
            f" {j('runs.config_json', 'bench')} AS bench,"
            f" {j('runs.config_json', 'cli', 'input_shape')} AS cli_shape,"
            f" {j('r.result_json', 'threads')} AS result_threads,"
            f" {j('r.result_json', 'cpu_affinity')} AS result_cpus,"
            f" {j('r.result_json', 'backend')} AS result_backend,"
            f" {j('r.result_json', 'precision')} AS result_precision,"
            f" {j('r.result_json', 'context', 'input')} AS context_input,"
            f" {j('r.result_json', 'context', 'imported')} AS imported,"
            f" {j('r.result_json', 'context', 'cores', 'asked')} AS cores_asked,"
            f" {j('r.result_json', 'context', 'sustained', 'seconds')} AS sustained_s,"
            f" {j('r.model_json', 'input_size')} AS input_size,"
            f" {j('r.artifact_json', 'backend')} AS backend,"
            f" {j('r.artifact_json', 'precision')} AS artifact_precision,"
            f" {j('r.artifact_json', 'details', 'input_shape')} AS given_shape,"
            f" {j('r.result_json', 'context', 'trials')} AS trials,"
            f" {j('r.result_json', 'context', 'trials_planned')} AS planned"
            " FROM records r LEFT JOIN runs ON runs.id = r.run_id"
        ).fetchall()
        return newest_per_cell(rows, loads)

    @translated
    def records_by_id(self, ids, samples: bool = False) -> list[BenchmarkRecord]:
        """The records of these ids (in id order), as `records()` reads them."""
        ids = sorted(ids)
        records = []
        for start in range(0, len(ids), 500):  # SQLite's limit on bound parameters
            batch = ids[start:start + 500]
            records += [self._record(r, samples, recompute=False) for r in self._execute(
                f"SELECT * FROM records WHERE id IN ({','.join('?' * len(batch))}) ORDER BY id",
                batch).fetchall()]
        return records

    @translated
    def record_index(self, run_id: str | None = None) -> list[tuple[str, str, str, int]]:
        """(device id, model, format, id) of every record (of one run): what an export orders
        its records by, without reading them."""
        where, params = ("WHERE run_id=?", (run_id,)) if run_id is not None else ("", ())
        return [(r["device_id"], r["model"], r["format"], r["id"]) for r in self._execute(
            f"SELECT id, device_id, model, format FROM records {where}", params).fetchall()]

    @translated
    def session_prior(self, device_id: str, threads: int | None = None,
                      cpus: tuple[int, ...] | None = None):
        """The spread between sessions of a device in a setting of threads and CPUs, pooled
        from its newest stored cells of two trials or more (harness.bench.sessions): what a
        new cell of the device is given beside its own trials. None when none is stored."""
        from harness.bench.sessions import PRIOR_CELLS, pooled_spread

        j = self._json
        rows = self._execute(
            f"SELECT stats_json, {j('result_json', 'threads')} AS threads,"
            f" {j('result_json', 'cpu_affinity')} AS cpus FROM records"
            " WHERE device_id=? AND status='ok' AND stats_json IS NOT NULL"
            " ORDER BY id DESC LIMIT ?", (device_id, PRIOR_CELLS * 4)).fetchall()
        cells = []
        for row in rows:
            row_cpus = loads(row["cpus"])
            if threads is not None and row["threads"] is not None and row["threads"] != threads:
                continue
            if tuple(row_cpus or ()) != tuple(cpus or ()):
                continue
            medians = (loads(row["stats_json"]) or {}).get("trial_medians") or ()
            if len(medians) >= 2:
                cells.append(medians)
            if len(cells) >= PRIOR_CELLS:
                break
        return pooled_spread(cells)

    @translated
    def run_listing(self) -> list[tuple[RunInfo, int, int]]:
        """Every run, newest first, with its number of records and of measured (`ok`) ones."""
        counts = {row["run_id"]: (row["n"], row["ok"] or 0) for row in self._execute(
            "SELECT run_id, COUNT(*) AS n, SUM(CASE WHEN status = 'ok' THEN 1 ELSE 0 END) AS ok"
            " FROM records GROUP BY run_id").fetchall()}
        return [(run, *counts.get(run.id, (0, 0))) for run in self.runs()]

