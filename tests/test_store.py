"""The results store's behaviour, on both backends (`db`: an SQLite file and a PostgreSQL
database, tests/support/store_backends.py), and what only an SQLite file has (a foreign file, the
version-1 schema, which no PostgreSQL database ever had)."""

import secrets
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from tests.support.store_backends import backend_sql, is_postgres, sql

from device_runners.contract import DeviceInfo, RunResult
from harness.bench.stats import summarize, summarize_trials
from harness.errors import StoreError
from harness.store import RUN_COMPLETE, RUN_INTERRUPTED, RUN_RUNNING, BenchmarkRecord, Store

DEVICE = {"device_id": "host", "platform": "linux"}


def _record(run_id, model="m", samples=(1.0, 1.1, 0.9, 1.05)):
    result = RunResult(model=model, format="executorch", status="ok",
                       device=DeviceInfo("host", "linux"), load_ms=5.0, first_inference_ms=2.0,
                       samples_ms=tuple(samples), warmup_samples_ms=(3.0, 2.0))
    return BenchmarkRecord(run_id=run_id, model=model, format="executorch", device_id="host",
                           status="ok", reason="", artifact={"sha256": "abc"},
                           model_info={"params": 10}, result=result, stats=summarize(samples))


def test_records_and_raw_samples_round_trip(db):
    with Store(db) as store:
        run_id = store.begin_run(DEVICE, {"a": 1}, "harness run", None, "0.1")
        rid = store.add_record(_record(run_id))
        store.finish_run(run_id)
        assert store.samples(rid) == [1.0, 1.1, 0.9, 1.05]
        assert store.samples(rid, "warmup") == [3.0, 2.0]
        [rec] = store.records(run_id, recompute=True)
        assert rec.stats.median == pytest.approx(1.025)
        assert rec.result.load_ms == 5.0
        assert store.get_run(run_id[:10]).status == RUN_COMPLETE


def test_a_new_run_never_takes_an_id_already_stored(db, monkeypatch):
    # Two runs begun in one second share all of their ids but two random bytes, which clash once
    # in 65,536. The clock and the random source are held still here so that they clash now.
    monkeypatch.setattr(time, "strftime", lambda fmt, *t: "20261207-230136")
    draws = iter(["beef", "beef", "cafe"])
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(draws))
    with Store(db) as store:
        first = store.begin_run(DEVICE, {}, "harness run", None, "0.1")
        second = store.begin_run(DEVICE, {}, "harness run", None, "0.1")
        assert (first, second) == ("20261207-230136-beef", "20261207-230136-cafe")
        assert {r.id for r in store.runs()} == {first, second}

        monkeypatch.setattr(secrets, "token_hex", lambda n: "beef")  # every draw taken
        with pytest.raises(StoreError, match="No unused run id .* run again in a second"):
            store.begin_run(DEVICE, {}, "harness run", None, "0.1")
        assert len(store.runs()) == 2


def test_latest_records_keeps_the_newest_cell(db):
    with Store(db) as store:
        r1 = store.begin_run(DEVICE, {}, "", None, "0.1")
        store.add_record(_record(r1, samples=(5.0, 5.0, 5.0)))
        r2 = store.begin_run(DEVICE, {}, "", None, "0.1")
        store.add_record(_record(r2, samples=(2.0, 2.0, 2.0)))
        [latest] = store.latest_records()
        assert latest.run_id == r2 and latest.stats.median == 2.0


def test_run_of_a_dead_process_shows_as_interrupted(db):
    code = (
        "from harness.store import Store\n"
        f"s = Store({str(db)!r})\n"
        "rid = s.begin_run({'device_id': 'host', 'platform': 'linux'}, {}, '', None, '0.1')\n"
        "print(rid)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    run_id = out.stdout.strip()
    with Store(db) as store:
        info = store.get_run(run_id)
        assert info.status == RUN_INTERRUPTED
    [(raw,)] = sql(db, "SELECT status FROM runs WHERE id=?", (run_id,))
    assert raw == RUN_RUNNING  # the stored row is untouched; only the reading is derived


def test_newer_schema_is_refused_without_touching_the_file(db):
    Store(db).close()
    sql(db, "UPDATE meta SET value='99' WHERE key='schema_version'")
    for readonly in (False, True):
        with pytest.raises(StoreError, match="newer harness"):
            Store(db, readonly=readonly)
    assert sql(db, "SELECT value FROM meta") == [("99",)]


# SQLite only: a file that is not a database (PostgreSQL's counterpart, a database without the
# harness's schema, is in test_store_postgres.py).
def test_a_file_that_is_not_a_database_gives_one_clear_line(tmp_path):
    path = tmp_path / "db.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable results database"):
        Store(path)
    assert path.read_bytes().startswith(b"this is not sqlite")


def test_unknown_and_ambiguous_run_ids(db):
    with Store(db) as store:
        store.begin_run(DEVICE, {}, "", None, "0.1", run_id="20260101-000000-aaaa")
        store.begin_run(DEVICE, {}, "", None, "0.1", run_id="20260101-000000-aaab")
        with pytest.raises(StoreError, match="ambiguous"):
            store.get_run("20260101")
        with pytest.raises(StoreError, match="No run"):
            store.get_run("1999")
        assert store.get_run("latest").id in ("20260101-000000-aaaa", "20260101-000000-aaab")
        assert store.get_run("20260101-000000-AAAB").id == "20260101-000000-aaab"  # any case
        with pytest.raises(StoreError, match="No run"):
            store.get_run("2026_101")  # a prefix, not a pattern


# The version-1 schema, as the first release created it (SQLite only: PostgreSQL databases
# start at version 4).
_V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (id TEXT PRIMARY KEY, started_at REAL NOT NULL, finished_at REAL,
    status TEXT NOT NULL, device_id TEXT NOT NULL, device_json TEXT NOT NULL,
    config_json TEXT NOT NULL, argv TEXT NOT NULL, git_sha TEXT, harness_version TEXT,
    hostname TEXT, pid INTEGER);
CREATE TABLE records (id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id), created_at REAL NOT NULL, model TEXT NOT NULL,
    format TEXT NOT NULL, device_id TEXT NOT NULL, status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '', artifact_sha256 TEXT, artifact_json TEXT NOT NULL,
    result_json TEXT, model_json TEXT NOT NULL, median_ms REAL, ci_low_ms REAL, ci_high_ms REAL,
    unstable INTEGER, stats_json TEXT);
CREATE INDEX records_by_run ON records(run_id);
CREATE INDEX records_by_cell ON records(device_id, model, format);
CREATE TABLE samples (record_id INTEGER NOT NULL REFERENCES records(id), phase TEXT NOT NULL,
    idx INTEGER NOT NULL, ms REAL NOT NULL, PRIMARY KEY (record_id, phase, idx)) WITHOUT ROWID;
INSERT INTO meta VALUES ('schema_version', '1');
"""


def test_a_version_1_database_is_migrated_and_keeps_its_samples(tmp_path):
    import json

    from harness.store import SCHEMA_VERSION

    path = tmp_path / "v1.sqlite"
    result = _record("r1").result
    stats = summarize(result.samples_ms)
    conn = sqlite3.connect(path)
    conn.executescript(_V1_SCHEMA)
    conn.execute("INSERT INTO runs VALUES ('r1', 1.0, 2.0, 'complete', 'host', ?, '{}', 'harness run',"
                 " NULL, '0.1', 'h', 1)", (json.dumps(DEVICE),))
    conn.execute("INSERT INTO records(run_id, created_at, model, format, device_id, status,"
                 " artifact_json, result_json, model_json, median_ms, stats_json)"
                 " VALUES ('r1', 1.5, 'm', 'executorch', 'host', 'ok', '{}', ?, '{}', ?, ?)",
                 (result.to_json(), stats.median, json.dumps(stats.to_dict())))
    conn.executemany("INSERT INTO samples VALUES (1, 'timed', ?, ?)", enumerate(result.samples_ms))
    conn.executemany("INSERT INTO samples VALUES (1, 'warmup', ?, ?)",
                     enumerate(result.warmup_samples_ms))
    conn.commit()
    conn.close()

    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 4
        [rec] = store.records("r1", recompute=True)
        assert store.samples(rec.id) == list(result.samples_ms)
        assert store.samples(rec.id, trial=0) == list(result.samples_ms)
        assert store.trial_samples(rec.id, "warmup") == [list(result.warmup_samples_ms)]
        assert rec.trials == () and rec.trial_results == (rec.result,)
        assert rec.stats == summarize_trials([result.samples_ms])  # today's figures, not the old
        assert rec.stats.median == stats.median and rec.stats.trial_medians == ()
        [stored] = store.records("r1")  # recomputed with today's statistics by the migration
        assert (stored.stats, stored.warnings) == (rec.stats, rec.warnings)
        # New records with trials go into the migrated tables.
        run_id = store.begin_run(DEVICE, {}, "", None, "0.1")
        new_id = store.add_record(_trial_record(run_id))
        assert store.trial_samples(new_id) == [[1.0, 1.2], [2.0, 2.2, 2.4]]
    with sqlite3.connect(path) as raw:
        columns = [r[1] for r in raw.execute("PRAGMA table_info(samples)")]
        assert columns == ["record_id", "phase", "trial", "n", "ms"]
    raw.close()


def _trial_record(run_id):
    from harness.bench.stats import summarize_trials
    from harness.bench.trials import combine_trials

    def trial(samples, warmup):
        return RunResult(model="m", format="executorch", status="ok",
                         device=DeviceInfo("host", "linux"), load_ms=5.0, samples_ms=samples,
                         warmup_samples_ms=warmup, context={"pid": len(samples)})

    trials = (trial((1.0, 1.2), (3.0,)), trial((2.0, 2.2, 2.4), (4.0, 3.5)))
    return BenchmarkRecord(run_id=run_id, model="m", format="executorch", device_id="host",
                           status="ok", reason="", artifact={"sha256": "abc"}, model_info={},
                           result=combine_trials(list(trials)), trials=trials,
                           stats=summarize_trials([t.samples_ms for t in trials]))


def test_every_trial_round_trips_with_its_own_samples(db):
    with Store(db) as store:
        run_id = store.begin_run(DEVICE, {}, "", None, "0.1")
        rid = store.add_record(_trial_record(run_id))
        [rec] = store.records(run_id, samples=True)
        assert rec.id == rid
        assert [t.samples_ms for t in rec.trials] == [(1.0, 1.2), (2.0, 2.2, 2.4)]
        assert [t.warmup_samples_ms for t in rec.trials] == [(3.0,), (4.0, 3.5)]
        assert [t.context["pid"] for t in rec.trials] == [2, 3]
        assert rec.result.samples_ms == (1.0, 1.2, 2.0, 2.2, 2.4)
        assert store.samples(rid, trial=1) == [2.0, 2.2, 2.4]
        assert rec.stats.trial_medians == (1.1, 2.2)
        # The samples are stored once, in the samples table, not again inside the JSON: one
        # row per phase and trial, the values as little-endian float64.
    [raw] = sql(db, "SELECT CAST(result_json AS TEXT), CAST(trials_json AS TEXT) FROM records")
    assert "2.4" not in raw[0] and "2.4" not in raw[1]
    rows = sql(db, "SELECT phase, trial, n, ms FROM samples ORDER BY phase, trial")
    assert [(r[0], r[1], r[2], np.frombuffer(r[3], "<f8").tolist()) for r in rows] == [
            ("timed", 0, 2, [1.0, 1.2]), ("timed", 1, 3, [2.0, 2.2, 2.4]),
            ("warmup", 0, 1, [3.0]), ("warmup", 1, 2, [4.0, 3.5])]


# --- stored figures: reads never touch the samples -------------------------------------------


def _reads_touching_samples(db, store, reads: dict) -> set[str]:
    """The names of the `reads` (functions of a store) that read the samples table. SQLite's
    authorizer sees every column a statement reads; on PostgreSQL the reads run as a user who
    may not read `samples`, so a read of it fails."""
    touching = set()
    if not is_postgres(db):
        for name, read in reads.items():
            tables = set()

            def authorizer(action, table, column, database, trigger, tables=tables):
                if action == sqlite3.SQLITE_READ:
                    tables.add(table)
                return sqlite3.SQLITE_OK

            store.conn.set_authorizer(authorizer)
            try:
                read(store)
            finally:
                store.conn.set_authorizer(None)
            if "samples" in tables:
                touching.add(name)
        return touching
    user = "no_samples_" + secrets.token_hex(4)
    sql(db, f"CREATE ROLE {user} LOGIN")
    sql(db, f"GRANT SELECT ON meta, runs, records TO {user}")
    with Store(db.replace("postgres@", f"{user}@"), readonly=True) as blind:
        for name, read in reads.items():
            try:
                read(blind)
            except StoreError as exc:
                assert "permission denied for table samples" in str(exc), exc
                touching.add(name)
    return touching


def _busy_trials(run_id):
    """Three trials of 40 samples 10% apart, one measured on a busy machine: the record has
    warnings from its samples (the trials' spread) and from its trials' contexts (the load)."""
    from harness.bench.trials import combine_trials

    trials = tuple(
        RunResult(model="m", format="executorch", status="ok",
                  device=DeviceInfo("host", "linux", cpu_count=2), load_ms=5.0,
                  first_inference_ms=2.0, samples_ms=tuple(1.0 + 0.01 * ((i * 7 + t) % 5) + 0.1 * t
                                                           for i in range(40)),
                  warmup_samples_ms=(3.0,), context={"loadavg_before": {"1min": load}})
        for t, load in enumerate((0.5, 3.5, 0.5)))
    return BenchmarkRecord(run_id=run_id, model="m", format="executorch", device_id="host",
                           status="ok", reason="", artifact={"sha256": "abc"}, model_info={},
                           result=combine_trials(list(trials)), trials=trials)


def test_figures_are_stored_once_and_reads_never_touch_the_samples(db):
    from harness.bench.stats import STATS_VERSION, summarize_trials
    from harness.store.records import figures

    with Store(db) as store:
        run_id = store.begin_run(DEVICE, {}, "", None, "0.1")
        cell = _busy_trials(run_id)
        store.add_record(cell)  # no stats given: the store computes them, and the warnings
        store.finish_run(run_id)
        reads = {"records": lambda s: s.records(run_id), "all records": lambda s: s.records(),
                 "latest": lambda s: s.latest_records(), "get_run": lambda s: s.get_run(run_id),
                 "runs": lambda s: s.runs(), "listing": lambda s: s.run_listing(),
                 "with samples": lambda s: s.records(run_id, samples=True)}
        assert _reads_touching_samples(db, store, reads) == {"with samples"}

        [stored] = store.records(run_id)
        expected_stats, expected_warnings = figures(cell.result, cell.trials)
        assert stored.stats == expected_stats == summarize_trials([t.samples_ms for t in cell.trials])
        assert stored.warnings == expected_warnings and stored.unstable
        assert any("load average before a trial was 3.5" in w for w in stored.warnings)
        assert any("trials spread over" in w for w in stored.warnings)
        # Without samples the results carry none, and say so; everything else is there.
        assert not stored.samples_loaded and stored.result.samples_ms == ()
        assert [t.samples_ms for t in stored.trials] == [(), (), ()]
        assert stored.result.load_ms == 5.0 and stored.trials[1].context["loadavg_before"]
        # Recomputing from the raw samples gives the very same figures.
        [again] = store.records(run_id, recompute=True)
        assert again.samples_loaded and len(again.result.samples_ms) == 120
        assert (again.stats, again.warnings) == (stored.stats, stored.warnings)
    assert sql(db, "SELECT stats_version, median_ms, unstable FROM records") == [
        (STATS_VERSION, stored.stats.median, 1)]


def test_warnings_are_computed_when_stored_not_taken_from_the_record(db):
    with Store(db) as store:
        run_id = store.begin_run(DEVICE, {}, "", None, "0.1")
        record = _record(run_id)  # stats given, no warnings: four samples are too few
        assert record.warnings == ()
        store.add_record(record)
        [stored] = store.records(run_id)
        assert stored.stats == record.stats
        assert any("only 4 timed samples" in w for w in stored.warnings)


def test_stored_results_are_read_back_without_validating_them_again(db):
    # A result the contract's schema would refuse today (threads >= 1) still reads back: it was
    # checked when it entered, and a stored result must always read.
    with Store(db) as store:
        run_id = store.begin_run(DEVICE, {}, "", None, "0.1")
        store.add_record(_record(run_id))
        sql(db, backend_sql(
            db, "UPDATE records SET result_json=json_set(result_json, '$.threads', 0)",
            "UPDATE records SET result_json=jsonb_set(result_json::jsonb, '{threads}', '0')::json"))
        [rec] = store.records(run_id, samples=True)
        assert rec.result.threads == 0 and rec.result.samples_ms == (1.0, 1.1, 0.9, 1.05)
