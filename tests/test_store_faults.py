"""The results database under faults: real files, real processes, real SQLite errors.

The tests run as root, for whom chmod does not stop a write, and this interpreter lives where an
unprivileged uid cannot reach it; so read-only media and a full disk are made in a user+mount
namespace (`unshare --user --map-root-user --mount`): a read-only bind mount, a small tmpfs.
Those tests skip, saying why, where namespaces are not allowed.

What both backends must do alike (strict JSON, heartbeats and abandoned runs, resuming, a failed
write keeping what it replaces) runs on both (`db`, tests/support/store_backends.py). What is about an
SQLite file (a missing, foreign or damaged file, read-only media, WAL, a full disk under the
file, SQLite's locks) is SQLite's only; test_store_postgres.py has PostgreSQL's counterparts.
"""

import dataclasses
import functools
import json
import logging
import math
import os
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from click.testing import CliRunner
from tests.support.ci import unavailable
from tests.support.wait import wait_until
from tests.support.paths import ROOT
from tests.support.store_backends import is_postgres, sql
from tests.test_store import _V1_SCHEMA, DEVICE, _record

from device_runners.contract import EnergyInfo
from harness.cli import main
from harness.errors import StoreError
from harness.store import (
    RUN_ABANDONED,
    RUN_COMPLETE,
    RUN_INTERRUPTED,
    RUN_RUNNING,
    SCHEMA_VERSION,
    STALE_AFTER_S,
    Store,
)

READERS = (["show", "latest"], ["report", "--out", "board.md"], ["compare", "a", "b"])


def _error_line(out) -> str:
    """The one line a failed command printed, without click's `Error: `."""
    lines = out.output.strip().splitlines()
    assert out.exit_code == 1 and len(lines) == 1, out.output
    assert lines[0].startswith("Error: ")
    return lines[0][len("Error: "):]


def _db_with_a_record(path, model="m"):
    with Store(path) as store:
        run_id = store.begin_run(DEVICE, {}, "harness run", None, "0.1")
        store.add_record(_record(run_id, model=model))
        store.finish_run(run_id)
    return run_id


# --- readers never create or alter a file ---------------------------------------------------


def test_show_report_and_compare_create_no_database(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "not-yet" / "harness.db"
    for args in READERS:
        line = _error_line(CliRunner().invoke(main, [*args, "--db", str(db)]))
        assert line == (f"No results database at {db}; run `harness run` first, or point --db "
                        "(or HARNESS_DB) at one.")
    assert list(tmp_path.iterdir()) == []  # not even the directory


def test_a_foreign_sqlite_file_is_refused_and_left_byte_identical(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes(text TEXT)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    for args in READERS:
        line = _error_line(CliRunner().invoke(main, [*args, "--db", str(other)]))
        assert line.startswith(f"{other} is not a harness results database (")
        assert "nothing was changed" in line
    assert other.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["other.sqlite"]  # no -wal, -shm, board.md


def test_a_file_that_is_not_sqlite_is_refused_by_a_reader(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("model,ms\nm,1.0\n")
    with pytest.raises(StoreError, match="is not a usable results database"):
        Store(path, readonly=True)
    assert path.read_text() == "model,ms\nm,1.0\n"


def test_an_older_schema_is_read_through_an_in_memory_copy(tmp_path):
    path = tmp_path / "v1.sqlite"
    result = _record("r1").result
    conn = sqlite3.connect(path)
    conn.executescript(_V1_SCHEMA)
    conn.execute("INSERT INTO runs VALUES ('r1', 1.0, 2.0, 'complete', 'host', ?, '{}', 'harness run',"
                 " NULL, '0.1', 'h', 1)", (json.dumps(DEVICE),))
    conn.execute("INSERT INTO records(run_id, created_at, model, format, device_id, status,"
                 " artifact_json, result_json, model_json) VALUES"
                 " ('r1', 1.5, 'm', 'executorch', 'host', 'ok', '{}', ?, '{}')", (result.to_json(),))
    conn.executemany("INSERT INTO samples VALUES (1, 'timed', ?, ?)", enumerate(result.samples_ms))
    conn.commit()
    conn.close()
    before = path.read_bytes()

    with Store(path, readonly=True) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.get_run("r1").status == RUN_COMPLETE
        [rec] = store.records("r1", recompute=True)
        assert rec.result.samples_ms == result.samples_ms
        with pytest.raises(StoreError, match="is read-only .*; nothing was stored"):
            store.begin_run(DEVICE, {}, "", None, "0.1")  # not silently into the copy
    shown = CliRunner().invoke(main, ["show", "r1", "--db", str(path)])
    assert shown.exit_code == 0, shown.output
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["v1.sqlite"]
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT value FROM meta").fetchone()[0] == "1"


# --- a damaged file -------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["page header", "middle of the page"])
def test_a_damaged_database_gives_one_line(tmp_path, where):
    path = tmp_path / "harness.db"
    _db_with_a_record(path)
    with sqlite3.connect(path) as raw:
        page_size = raw.execute("PRAGMA page_size").fetchone()[0]
        root = raw.execute("SELECT rootpage FROM sqlite_master WHERE name='records'").fetchone()[0]
    raw.close()
    data = bytearray(path.read_bytes())
    start = (root - 1) * page_size + (0 if where == "page header" else page_size // 2)
    length = 32 if where == "page header" else page_size // 2  # the row sits at the page's end
    data[start:start + length] = b"\xff" * length
    path.write_bytes(data)

    with Store(path, readonly=True) as store:
        assert store.get_run("latest").status == RUN_COMPLETE  # the runs page is intact
        with pytest.raises(StoreError) as raised:
            store.records()
    line = str(raised.value)
    assert "\n" not in line and "\xff" not in line and "\ufffd" not in line
    assert line.startswith(f"{path} is damaged (")
    assert "nothing was changed" in line
    assert f"`sqlite3 {shlex.quote(str(path))} \".recover\" | sqlite3 recovered.db`" in line
    assert line.endswith("then use --db recovered.db.")
    assert _error_line(CliRunner().invoke(main, ["show", "latest", "--db", str(path)])) == line
    assert path.read_bytes() == data


def test_a_write_to_a_damaged_database_changes_nothing(tmp_path):
    path = tmp_path / "harness.db"
    run_id = _db_with_a_record(path)
    with sqlite3.connect(path) as raw:
        page_size = raw.execute("PRAGMA page_size").fetchone()[0]
        root = raw.execute("SELECT rootpage FROM sqlite_master WHERE name='records'").fetchone()[0]
    raw.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page_size:(root - 1) * page_size + 32] = b"\xff" * 32
    path.write_bytes(data)
    with Store(path) as store, \
            pytest.raises(StoreError, match=r"is damaged \(database disk image is malformed\)"):
        store.add_record(_record(run_id, model="new"))
    assert path.read_bytes() == data


# --- read-only media and a full disk, in a user+mount namespace ----------------------------


@functools.cache
def _namespaces_work() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run([unshare, "--user", "--map-root-user", "--mount", "true"],
                           check=False, capture_output=True)
    return probe.returncode == 0


def _confined(tmp_path, mounts: str, script: str, *args: str) -> dict:
    """Run `script` in a new user+mount namespace after the shell command `mounts` (which sees
    `args` as $1, $2, ...); `script` gets the same argv and prints one JSON object."""
    if not _namespaces_work():
        unavailable("needs `unshare --user --map-root-user --mount`: as root, chmod cannot make a "
                    "file read-only, and no unprivileged uid can reach this interpreter")
    script_path = tmp_path / "confined.py"
    script_path.write_text(textwrap.dedent(script))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
         f'{mounts} && exec "{sys.executable}" "{script_path}" "$@"', "sh", *args],
        check=False, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


READ_ONLY_BIND = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1"'


def test_a_read_only_file_refuses_a_write_with_one_line(tmp_path):
    path = tmp_path / "harness.db"
    _db_with_a_record(path)
    before = path.read_bytes()
    out = _confined(tmp_path, READ_ONLY_BIND, """
        import json, sys
        from harness.errors import StoreError
        from harness.store import Store
        from tests.test_store import _record
        out = {}
        try:
            with Store(sys.argv[1]) as store:
                store.add_record(_record(store.runs()[0].id, model="new"))
        except StoreError as exc:
            out["error"] = str(exc)
        with Store(sys.argv[1], readonly=True) as store:
            out["models"] = [r.model for r in store.records()]
        print(json.dumps(out))
    """, str(path))
    assert out["error"] == (f"{path} is read-only (attempt to write a readonly database); nothing "
                            "was stored. Run with a writable copy of it, or point --db (or "
                            "HARNESS_DB) at another file.")
    assert out["models"] == ["m"]
    assert path.read_bytes() == before


def test_a_wal_database_in_a_read_only_directory_can_be_read(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    path = media / "harness.db"
    run_id = _db_with_a_record(path, model="on_cdrom")
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()
    assert [p.name for p in media.iterdir()] == ["harness.db"]  # no -shm to read through
    out = _confined(tmp_path, READ_ONLY_BIND, """
        import json, sys
        from click.testing import CliRunner
        from harness.cli import main
        from harness.errors import StoreError
        from harness.store import Store
        path = sys.argv[1] + "/harness.db"
        with Store(path, readonly=True) as store:
            out = {"models": [r.model for r in store.records()], "run": store.get_run("latest").id}
        shown = CliRunner().invoke(main, ["show", "latest", "--db", path])
        out["show"] = [shown.exit_code, shown.output]
        try:
            Store(path)
        except StoreError as exc:
            out["writer"] = str(exc)
        print(json.dumps(out))
    """, str(media))
    assert out["models"] == ["on_cdrom"] and out["run"] == run_id
    assert out["show"][0] == 0 and "on_cdrom" in out["show"][1]
    assert out["writer"].startswith(f"{path} is read-only (")


def test_a_full_disk_fails_one_write_and_keeps_every_earlier_record(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    out = _confined(tmp_path, 'mount -t tmpfs -o size=256k tmpfs "$1"', """
        import dataclasses, json, sys
        from harness.errors import StoreError
        from harness.store import Store
        from tests.test_store import DEVICE, _record

        def snapshot(store):
            return [[r.id, r.model, list(r.result.samples_ms), r.stats.to_dict(), list(r.warnings)]
                    for r in store.records(samples=True)]

        path = sys.argv[1] + "/harness.db"
        store = Store(path)
        run_id = store.begin_run(DEVICE, {}, "", None, "0.1")
        cell = _record(run_id, samples=[1.0 + i / 1000 for i in range(1000)])
        out = {"error": None, "before": [], "path": path}
        for i in range(100):
            try:
                store.add_record(dataclasses.replace(cell, model=f"m{i}"))
            except StoreError as exc:
                out["error"] = str(exc)
                break
            out["before"] = snapshot(store)
        out["after"] = snapshot(store)
        store.close()
        with Store(path, readonly=True) as reread:
            out["reread"] = snapshot(reread)
        print(json.dumps(out))
    """, str(disk))
    assert out["error"] == (f"The disk holding {out['path']} is full (database or disk is full); the "
                            "records stored so far are kept. Free some space and run again.")
    assert len(out["before"]) >= 2
    assert out["after"] == out["before"] == out["reread"]
    assert [r[1] for r in out["before"]] == [f"m{i}" for i in range(len(out["before"]))]


# --- locks -----------------------------------------------------------------------------------

_HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


def _hold_write_lock(path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(path)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _release(holder: subprocess.Popen) -> None:
    holder.stdin.close()
    holder.wait(timeout=10)


def test_a_database_locked_by_another_process_gives_one_line(tmp_path):
    path = tmp_path / "harness.db"
    _db_with_a_record(path)
    holder = _hold_write_lock(path)
    try:
        with Store(path) as store:
            store.conn.execute("PRAGMA busy_timeout=100")  # rather than the 30 s of a real run
            with pytest.raises(StoreError) as raised:
                store.begin_run(DEVICE, {}, "", None, "0.1")
            assert [r.model for r in store.records()] == ["m"]  # readers are not blocked
    finally:
        _release(holder)
    assert str(raised.value) == (f"{path} is locked: another process holds it (database is "
                                 "locked). Wait for that process to finish, or point --db (or "
                                 "HARNESS_DB) at another file.")


# --- strict JSON ----------------------------------------------------------------------------


def _strict(text):
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_are_stored_as_null(db):
    path = db
    base = _record("r")
    stats = dataclasses.replace(base.stats, cv=math.inf, ci_low=math.nan, trial_medians=(1.0, math.nan))
    result = dataclasses.replace(base.result, context={"ratio": -math.inf},
                                 energy=EnergyInfo(source="rapl", avg_power_w=math.nan))
    with Store(path) as store:
        run_id = store.begin_run(DEVICE, {"min_time": math.inf}, "", None, "0.1")
        record = dataclasses.replace(
            base, run_id=run_id, stats=stats, result=result, model_info={"gmacs": math.nan},
            artifact={"sha256": "abc", "size_ratio": math.nan, "nested": [math.inf, {"x": (-math.inf,)}]})
        store.add_record(record)
        [back] = store.records(run_id, samples=True)
    [row] = sql(db, "SELECT CAST(artifact_json AS TEXT), CAST(model_json AS TEXT),"
                " CAST(stats_json AS TEXT), CAST(result_json AS TEXT), CAST(trials_json AS TEXT)"
                " FROM records")
    [run_row] = sql(db, "SELECT CAST(device_json AS TEXT), CAST(config_json AS TEXT) FROM runs")
    artifact, model_info, stats_d, result_d, trials_d = (_strict(t) for t in row)
    assert artifact == {"sha256": "abc", "size_ratio": None, "nested": [None, {"x": [None]}]}
    assert model_info == {"gmacs": None}
    assert stats_d["cv"] is None and stats_d["ci_low"] is None and stats_d["trial_medians"] == [1.0, None]
    assert stats_d["median"] == base.stats.median
    for r in (result_d, *trials_d):
        assert r["context"] == {"ratio": None} and r["energy"]["avg_power_w"] is None
    assert _strict(run_row[1]) == {"min_time": None}
    # The cell reads back whole; a figure that was not finite reads as NaN.
    assert back.artifact["size_ratio"] is None and back.result.samples_ms == base.result.samples_ms
    assert math.isnan(back.stats.cv) and back.stats.median == base.stats.median


# --- heartbeat and abandoned runs -----------------------------------------------------------


def _set(db, run_id, **columns):
    assignments = ", ".join(f"{k}=?" for k in columns)
    sql(db, f"UPDATE runs SET {assignments} WHERE id=?", (*columns.values(), run_id))


def test_a_running_run_without_a_recent_heartbeat_reads_as_abandoned(db):
    path = db
    long_ago = time.time() - STALE_AFTER_S - 10
    with Store(path) as store:
        run_id = store.begin_run(DEVICE, {}, "", None, "0.1")
        info = store.get_run(run_id)
        assert info.status == RUN_RUNNING and info.heartbeat_at == pytest.approx(time.time(), abs=60)
        # Our own pid is alive (or reused): only the heartbeat tells.
        _set(path, run_id, heartbeat_at=long_ago)
        assert store.get_run(run_id).status == RUN_ABANDONED
        store.heartbeat(run_id)
        assert store.get_run(run_id).status == RUN_RUNNING
        # Another host's run, from before heartbeats: its start counts.
        _set(path, run_id, hostname="elsewhere", pid=1, heartbeat_at=None, started_at=long_ago)
        assert store.get_run(run_id).status == RUN_ABANDONED
        _set(path, run_id, started_at=time.time())
        assert store.get_run(run_id).status == RUN_RUNNING
        # Finished runs keep their status however old.
        store.finish_run(run_id, RUN_INTERRUPTED)
        _set(path, run_id, heartbeat_at=long_ago)
        assert store.get_run(run_id).status == RUN_INTERRUPTED
    assert sql(db, "SELECT status FROM runs") == [(RUN_INTERRUPTED,)]  # reading never rewrites it


# SQLite's lock; PostgreSQL's heartbeat survives a lost connection (test_store_postgres.py).
def test_the_heartbeat_thread_beats_and_survives_a_locked_database(tmp_path, caplog):
    path = tmp_path / "harness.db"
    with Store(path) as store:
        run_id = store.begin_run(DEVICE, {}, "", None, "0.1")
        first = store.get_run(run_id).heartbeat_at
        caplog.set_level(logging.WARNING, logger="harness.store")
        with store.start_heartbeat(run_id, interval_s=0.05):
            wait_until(lambda: store.get_run(run_id).heartbeat_at > first)
            holder = _hold_write_lock(path)
            try:
                wait_until(lambda: any("heartbeat of run" in r.getMessage() and "locked" in
                                        r.getMessage() for r in caplog.records))
            finally:
                _release(holder)
            stuck = store.get_run(run_id).heartbeat_at
            wait_until(lambda: store.get_run(run_id).heartbeat_at > stuck)
        assert not [t for t in threading.enumerate() if t.name == f"heartbeat {run_id}"]
    with pytest.raises(StoreError, match="read-only"):
        Store(path, readonly=True).start_heartbeat(run_id)


# --- resuming: reopen a run, replace records ------------------------------------------------


def test_reopen_run_takes_a_run_back_for_this_process(db):
    path = db
    with Store(path) as store:
        run_id = store.begin_run(DEVICE, {}, "", None, "0.1")
        store.finish_run(run_id, RUN_INTERRUPTED)
        _set(path, run_id, hostname="elsewhere", pid=1, heartbeat_at=time.time() - 9999)
        store.reopen_run(run_id)
        info = store.get_run(run_id)
        assert info.status == RUN_RUNNING and info.finished_at is None
        assert info.heartbeat_at == pytest.approx(time.time(), abs=60)
        assert sql(db, "SELECT hostname, pid FROM runs") == [(socket.gethostname(), os.getpid())]
        with pytest.raises(StoreError, match="No run 'nope'"):
            store.reopen_run("nope")


def test_add_record_replaces_records_in_its_own_transaction(db):
    with Store(db) as store:
        run_id = store.begin_run(DEVICE, {}, "", None, "0.1")
        keep = store.add_record(_record(run_id, model="keep"))
        old = store.add_record(_record(run_id, model="redo", samples=(9.0, 9.0, 9.0)))
        new = store.add_record(_record(run_id, model="redo", samples=(1.0, 1.0, 1.0)),
                               replaces=(old,))
        assert [(r.id, r.model) for r in store.records(run_id)] == [(keep, "keep"), (new, "redo")]
        assert store.samples(old) == [] and store.samples(old, "warmup") == []
        # An insert that fails keeps what it was to replace (here: a run that does not exist).
        refused = "violates foreign key constraint" if is_postgres(db) else "FOREIGN KEY constraint failed"
        with pytest.raises(StoreError, match=refused):
            store.add_record(_record("no-such-run"), replaces=(new,))
        assert [r.id for r in store.records(run_id)] == [keep, new]
        assert store.samples(new) == [1.0, 1.0, 1.0]
