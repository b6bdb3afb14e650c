"""Databases written by older harnesses, built with their own schema SQL: version 3 (one row per
sample, bootstrap CIs) and version 2 (before heartbeats) are migrated to version 4 in one
transaction, samples packed into arrays and every stored figure recomputed with today's
statistics; a reader migrates an in-memory copy and leaves the file alone; stored figures of an
older STATS_VERSION are recomputed once."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner

from device_runners.contract import DeviceInfo, RunResult
from harness.bench.stats import STATS_VERSION, median_ci, summarize_trials
from harness.bench.trials import combine_trials
from harness.cli import main
from harness.errors import StoreError
from harness.store import SCHEMA_VERSION, Store
from harness.store.records import figures, without_samples

DEVICE = {"device_id": "host", "platform": "linux"}

# The version-3 schema, as harness 0.1 (commit e7cbe83) created it.
_V3_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (id TEXT PRIMARY KEY, started_at REAL NOT NULL, finished_at REAL,
    status TEXT NOT NULL, device_id TEXT NOT NULL, device_json TEXT NOT NULL,
    config_json TEXT NOT NULL, argv TEXT NOT NULL, git_sha TEXT, harness_version TEXT,
    hostname TEXT, pid INTEGER, heartbeat_at REAL);
CREATE TABLE records (id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id), created_at REAL NOT NULL, model TEXT NOT NULL,
    format TEXT NOT NULL, device_id TEXT NOT NULL, status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '', artifact_sha256 TEXT, artifact_json TEXT NOT NULL,
    result_json TEXT, model_json TEXT NOT NULL, median_ms REAL, ci_low_ms REAL, ci_high_ms REAL,
    unstable INTEGER, stats_json TEXT, trials_json TEXT);
CREATE INDEX records_by_run ON records(run_id);
CREATE INDEX records_by_cell ON records(device_id, model, format);
CREATE TABLE samples (record_id INTEGER NOT NULL REFERENCES records(id), phase TEXT NOT NULL,
    trial INTEGER NOT NULL DEFAULT 0, idx INTEGER NOT NULL, ms REAL NOT NULL,
    PRIMARY KEY (record_id, phase, trial, idx)) WITHOUT ROWID;
INSERT INTO meta VALUES ('schema_version', '3');
"""

# Version 2: the same, before runs had a heartbeat.
_V2_SCHEMA = (_V3_SCHEMA.replace(" pid INTEGER, heartbeat_at REAL);", " pid INTEGER);")
              .replace("'schema_version', '3'", "'schema_version', '2'"))


def _trials():
    """A cell of three trials of 30 samples, each trial 1 ms slower than the one before."""
    def trial(samples, warmup):
        return RunResult(model="m", format="tflite", status="ok", device=DeviceInfo("host", "linux"),
                         load_ms=5.0, first_inference_ms=2.0, samples_ms=samples,
                         warmup_samples_ms=warmup)

    rng = np.random.default_rng(0)
    return [trial(tuple(float(v) for v in rng.lognormal(0.0, 0.02, 30) + k), (9.0, 8.0))
            for k in range(3)]


def _old_database(path, schema: str):
    """A database as an old harness wrote it: a measured cell of three trials with version-1
    statistics (a bootstrap CI, here deliberately off), a failed cell, and every sample a row."""
    trials = _trials()
    result = combine_trials(trials)
    old_stats = dataclasses.replace(summarize_trials([t.samples_ms for t in trials]),
                                    ci_low=0.5, ci_high=9.5, ci_level=0.95)
    conn = sqlite3.connect(path)
    conn.executescript(schema)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(runs)")]
    run = ["r1", 1.0, 2.0, "complete", "host", json.dumps(DEVICE), "{}", "harness run", None,
           "0.1", "h", 1, 1.5][:len(columns)]
    conn.execute(f"INSERT INTO runs VALUES ({','.join('?' * len(run))})", run)
    insert = ("INSERT INTO records(run_id, created_at, model, format, device_id, status, reason,"
              " artifact_json, result_json, model_json, median_ms, ci_low_ms, ci_high_ms, unstable,"
              " stats_json, trials_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
    conn.execute(insert, ("r1", 1.5, "m", "tflite", "host", "ok", "", "{}",
                          json.dumps(without_samples(result)), "{}", old_stats.median, 0.5, 9.5, 1,
                          json.dumps(old_stats.to_dict()),
                          json.dumps([without_samples(t) for t in trials])))
    conn.execute(insert, ("r1", 1.6, "broken", "tflite", "host", "run_failed", "worker died",
                          "{}", None, "{}", None, None, None, None, None, None))
    for t, trial in enumerate(trials):
        for phase, values in (("timed", trial.samples_ms), ("warmup", trial.warmup_samples_ms)):
            conn.executemany("INSERT INTO samples VALUES (1, ?, ?, ?, ?)",
                             [(phase, t, i, v) for i, v in enumerate(values)])
    conn.commit()
    conn.close()
    return trials


def _assert_migrated(store, trials):
    measured, failed = store.records("r1", samples=True)
    assert [t.samples_ms for t in measured.trials] == [t.samples_ms for t in trials]
    assert [t.warmup_samples_ms for t in measured.trials] == [(9.0, 8.0)] * 3
    stats, warnings = figures(combine_trials(trials), trials)
    assert measured.stats == stats and measured.warnings == warnings
    low, high, _ = median_ci([v for t in trials for v in t.samples_ms])
    # the within-session interval of the pooled samples, not the old 0.5, 9.5; the interval between
    # sessions (from the three trial medians) is wider
    assert (measured.stats.within_ci_low, measured.stats.within_ci_high) == (low, high)
    assert measured.stats.ci_low <= low and measured.stats.ci_high >= high
    assert measured.stats.between_sessions
    assert any("trials spread over" in w for w in measured.warnings)
    assert failed.stats is None and failed.result is None and failed.warnings == ()
    assert store.records("r1", recompute=True)[0].stats == stats


@pytest.mark.parametrize("schema", [_V3_SCHEMA, _V2_SCHEMA], ids=["version 3", "version 2"])
def test_an_old_database_is_migrated_its_samples_packed_and_its_figures_recomputed(tmp_path, schema):
    path = tmp_path / "old.sqlite"
    trials = _old_database(path, schema)
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 4
        _assert_migrated(store, trials)
        assert store.get_run("r1").heartbeat_at in (None, 1.5)
    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT record_id, phase, trial, n, ms FROM samples"
                           " ORDER BY phase, trial").fetchall()
        versions = raw.execute("SELECT stats_version FROM records ORDER BY id").fetchall()
        ci = raw.execute("SELECT ci_low_ms, ci_high_ms, unstable FROM records WHERE id=1").fetchone()
    raw.close()
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("timed", 0, 30), ("timed", 1, 30), ("timed", 2, 30),
        ("warmup", 0, 2), ("warmup", 1, 2), ("warmup", 2, 2)]
    assert [tuple(np.frombuffer(r[4], "<f8")) for r in rows[:3]] == [t.samples_ms for t in trials]
    assert versions == [(STATS_VERSION,), (None,)]
    assert ci[:2] != (0.5, 9.5) and ci[2] == 1


def test_a_reader_migrates_a_copy_and_leaves_the_old_file_alone(tmp_path):
    path = tmp_path / "old.sqlite"
    trials = _old_database(path, _V3_SCHEMA)
    before = path.read_bytes()
    with Store(path, readonly=True) as store:
        _assert_migrated(store, trials)
    shown = CliRunner().invoke(main, ["show", "r1", "--samples", "--db", str(path)])
    assert shown.exit_code == 0, shown.output
    header, *samples = shown.output.splitlines()
    assert header == "model format trial ms"
    assert len({tuple(line.split()[:3]) for line in samples}) == 3  # three trials
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["old.sqlite"]


def test_a_migration_that_fails_leaves_the_database_as_it_was(tmp_path):
    path = tmp_path / "old.sqlite"
    _old_database(path, _V3_SCHEMA)
    with sqlite3.connect(path) as raw:  # a record whose trials cannot be read back
        raw.execute("UPDATE records SET trials_json='[{' WHERE id=1")
    raw.close()
    with pytest.raises(StoreError, match="is damaged"):
        Store(path)
    with sqlite3.connect(path) as raw:  # (the writer did switch the file to WAL first)
        assert raw.execute("SELECT value FROM meta").fetchone()[0] == "3"
        assert raw.execute("SELECT count(*) FROM samples").fetchone()[0] == 3 * (30 + 2)
        assert [r[1] for r in raw.execute("PRAGMA table_info(records)")][-1] == "trials_json"
        assert raw.execute("SELECT ci_low_ms FROM records WHERE id=1").fetchone()[0] == 0.5
    raw.close()


def test_figures_of_an_older_stats_version_are_recomputed_once(tmp_path):
    path = tmp_path / "db.sqlite"
    with Store(path) as store:
        run_id = store.begin_run(DEVICE, {}, "", None, "0.1")
        trials = _trials()
        store.add_record(dataclasses.replace(
            _record_of(run_id, trials), stats=summarize_trials([t.samples_ms for t in trials])))
        [current] = store.records(run_id)
        # As a harness of STATS_VERSION 1 would have stored it.
        stale = dataclasses.replace(current.stats, ci_low=0.5, ci_high=9.5)
        store.conn.execute("UPDATE records SET stats_json=?, stats_version=1, warnings_json='[]'",
                           (json.dumps(stale.to_dict()),))
        store.conn.commit()
    before = path.read_bytes()
    with Store(path, readonly=True) as reader:  # recomputed in its copy; the file untouched
        [read] = reader.records(run_id)
        assert (read.stats, read.warnings) == (current.stats, current.warnings)
    assert path.read_bytes() == before
    with Store(path) as writer:  # recomputed in the file, once
        assert writer.conn.execute("SELECT stats_version FROM records").fetchone()[0] == STATS_VERSION
        [written] = writer.records(run_id)
        assert (written.stats, written.warnings) == (current.stats, current.warnings)


def _record_of(run_id, trials):
    from harness.store import BenchmarkRecord

    return BenchmarkRecord(run_id=run_id, model="m", format="tflite", device_id="host",
                           status="ok", reason="", artifact={}, model_info={},
                           result=combine_trials(trials), trials=tuple(trials))
