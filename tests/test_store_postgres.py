"""What only a PostgreSQL results database has, against the private server of tests/support/pg_server.py:
connecting (and failing to, in one line), read-only sessions, the schema made once by many
hosts, many writers at once, a lost connection, a full disk, and the read-only commands on a
postgresql:// URL. What both backends must do alike is in test_store.py and
test_store_faults.py, run on both.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from tests.support.ci import unavailable
from tests.support.wait import wait_until
from tests.support.paths import ROOT
from tests.support.pg_server import PW_PASSWORD, PW_USER, free_port
from tests.support.store_backends import sql
from tests.test_store import DEVICE, _record

from harness.bench.stats import STATS_VERSION
from harness.errors import StoreError
from harness.store import SCHEMA_VERSION, Store

HEAVY = ("torch", "executorch", "ai_edge_litert", "onnxruntime", "coremltools", "litert_torch")


def _dbname(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _tables(url: str) -> list[str]:
    return [r[0] for r in sql(url, "SELECT tablename FROM pg_tables WHERE schemaname='public'"
                                   " ORDER BY tablename")]


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.strip() == text, text
    return text


# --- naming and finding the database --------------------------------------------------------


def test_location_hides_the_password_and_logs_go_to_a_local_directory(pg_server, pg_url, tmp_path):
    secret_url = pg_server.url(_dbname(pg_url), "postgres", "s3cret-pw")  # trust: any password
    with Store(secret_url) as store:
        assert store.location == pg_url  # same URL, less the password
        assert "s3cret" not in repr(store.location)
        assert store.path is None and store.dialect == "postgresql"
        assert str(store.log_dir) == os.path.join("results", "logs")
    with Store(pg_url + "?password=s3cret-pw&connect_timeout=5", readonly=True) as store:
        assert store.location == pg_url + "?connect_timeout=5"
    # `postgres://` is libpq's other spelling; a URL folded by Path() is still a URL.
    with Store(pg_url.replace("postgresql://", "postgres://"), readonly=True) as store:
        assert store.dialect == "postgresql"
    from pathlib import Path

    with Store(Path(pg_url), readonly=True) as store:
        assert store.location == pg_url
    with Store(tmp_path / "sub" / "h.db") as store:  # SQLite's logs stay beside its file
        assert store.log_dir == tmp_path / "sub" / "logs" and store.location == str(tmp_path / "sub" / "h.db")


def test_harness_db_names_a_server(pg_url, monkeypatch):
    monkeypatch.setenv("HARNESS_DB", pg_url)
    with Store() as store:
        assert store.dialect == "postgresql" and store.location == pg_url
    assert "meta" in _tables(pg_url)


def test_failures_to_connect_are_one_line_each(pg_server, pg_url):
    name = _dbname(pg_url)
    cases = {
        "refused user 'pw_user'": pg_server.url(name, PW_USER, "the-wrong-password"),
        "has no database 'nosuchdb'": pg_server.url("nosuchdb"),
        "refused user 'nobody'": pg_server.url(name, "nobody"),
        "Could not connect to PostgreSQL at 127.0.0.1:": f"postgresql://postgres:pw@127.0.0.1:{free_port()}/x",
        "is not a usable PostgreSQL URL": "postgresql://postgres:pw@127.0.0.1:notaport/x",
    }
    for expected, url in cases.items():
        for readonly in (False, True):
            with pytest.raises(StoreError) as exc:
                Store(url, readonly=readonly)
            text = _one_line(exc)
            assert expected in text, (url, text)
            assert "wrong-password" not in text and ":pw@" not in text, text
    # The right password gets in; it is its own role's database to make tables in.
    sql(pg_url, f"GRANT ALL ON SCHEMA public TO {PW_USER}")
    with Store(pg_server.url(name, PW_USER, PW_PASSWORD)) as store:
        assert store.schema_version == SCHEMA_VERSION


# --- the schema ------------------------------------------------------------------------------


def test_a_reader_refuses_a_database_without_the_schema_and_creates_nothing(pg_url):
    with pytest.raises(StoreError, match="not a harness results database") as exc:
        Store(pg_url, readonly=True)
    _one_line(exc)
    assert _tables(pg_url) == []
    Store(pg_url).close()  # a writer creates it
    assert _tables(pg_url) == ["meta", "records", "runs", "samples"]
    assert sql(pg_url, "SELECT key, value FROM meta") == [("schema_version", str(SCHEMA_VERSION))]


def test_an_older_or_unknown_schema_is_refused_and_left_alone(pg_url):
    Store(pg_url).close()
    sql(pg_url, "UPDATE meta SET value='3' WHERE key='schema_version'")
    with pytest.raises(StoreError, match="older than this harness's") as exc:
        Store(pg_url, readonly=True)
    _one_line(exc)
    # No PostgreSQL database was ever at version 3: a writer refuses to guess a migration.
    with pytest.raises(StoreError, match="which no postgresql database of the harness ever had"):
        Store(pg_url)
    assert sql(pg_url, "SELECT value FROM meta") == [("3",)]


def _sqlite_columns(conn, table):
    return [(r[1], bool(r[3]) or bool(r[5]), r[5]) for r in conn.execute(f"PRAGMA table_info({table})")]


def test_the_schema_is_the_same_on_both_backends(pg_url, tmp_path):
    """Same tables, columns in the same order, the same NOT NULLs, keys and indexes."""
    Store(pg_url).close()
    Store(tmp_path / "h.db").close()
    lite = sqlite3.connect(tmp_path / "h.db")
    try:
        tables = [r[0] for r in lite.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        assert tables == _tables(pg_url)
        for table in tables:
            pg_columns = sql(pg_url, "SELECT column_name, is_nullable = 'NO' FROM information_schema.columns"
                                     " WHERE table_name=? ORDER BY ordinal_position", (table,))
            pg_keys = [r[0] for r in sql(pg_url, """
                SELECT a.attname FROM pg_index i
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                WHERE i.indrelid = ?::regclass AND i.indisprimary
                ORDER BY array_position(i.indkey::int2[], a.attnum)""", (table,))]
            lite_columns = _sqlite_columns(lite, table)
            assert [c[0] for c in lite_columns] == [c[0] for c in pg_columns], table
            assert [c[1] for c in lite_columns] == [c[1] for c in pg_columns], table
            assert [c[0] for c in sorted((c for c in lite_columns if c[2]), key=lambda c: c[2])] \
                == pg_keys, table
        lite_indexes = {r[0] for r in lite.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")}
        pg_indexes = {r[0] for r in sql(pg_url, "SELECT indexname FROM pg_indexes WHERE "
                                                "schemaname='public' AND indexname NOT LIKE '%_pkey'")}
        assert lite_indexes == pg_indexes == {"records_by_run", "records_by_cell",
                                              "records_by_stats_version"}
    finally:
        lite.close()


def started_together(procs) -> None:
    """A barrier: every process has imported what it needs and said `ready`; then all go at once
    (one line on each one's stdin), so they race however long their start took."""
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()


def test_many_hosts_opening_a_new_database_at_once_create_the_schema_once(pg_url):
    code = ("import sys\nfrom harness.store import Store\n"
            "print('ready', flush=True); sys.stdin.readline()\n"
            "Store(sys.argv[1]).close()\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url], cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    started_together(procs)
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert sql(pg_url, "SELECT value FROM meta") == [(str(SCHEMA_VERSION),)]


# --- reading --------------------------------------------------------------------------------


def test_a_reader_writes_nothing_and_recomputes_stale_figures_as_it_reads(pg_url):
    with Store(pg_url) as store:
        run_id = store.begin_run(DEVICE, {}, "", None, "0.1")
        store.add_record(_record(run_id, samples=(2.0, 2.0, 2.0, 2.0)))
        store.finish_run(run_id)
    # Figures of an older STATS_VERSION (and wrong): a reader recomputes them from the samples.
    sql(pg_url, "UPDATE records SET stats_version=?, median_ms=99,"
                " stats_json=jsonb_set(stats_json::jsonb, '{median}', '99')::json", (STATS_VERSION - 1,))
    stale_json = sql(pg_url, "SELECT CAST(stats_json AS TEXT) FROM records")
    with Store(pg_url, readonly=True) as reader:
        [rec] = reader.records(run_id)
        assert rec.stats.median == 2.0
        with pytest.raises(StoreError, match="read-only transaction") as exc:
            reader.begin_run(DEVICE, {}, "", None, "0.1")
        _one_line(exc)
        with pytest.raises(StoreError, match="opened read-only"):
            reader.start_heartbeat(run_id)
    assert sql(pg_url, "SELECT count(*) FROM runs") == [(1,)]
    assert sql(pg_url, "SELECT CAST(stats_json AS TEXT) FROM records") == stale_json  # untouched
    Store(pg_url).close()  # a writer recomputes them in the database, once
    assert sql(pg_url, "SELECT stats_version, median_ms FROM records") == [(STATS_VERSION, 2.0)]


# --- many writers ---------------------------------------------------------------------------

_WRITER = """
import sys
from tests.test_store import DEVICE, _record
from harness.store import Store
url, shared = sys.argv[1], sys.argv[2]
with Store(url) as store:
    own = store.begin_run(DEVICE, {}, "writer", None, "0.1")
    print("ready", flush=True)
    sys.stdin.readline()
    print(own, flush=True)
    for i in range(40):
        samples = [float(i + 1)] * 50 + [float(i + 2)] * 50
        store.add_record(_record(own if i % 2 else shared, model=f"{own}-{i}", samples=samples))
    store.finish_run(own)
"""


def test_two_processes_write_one_database_at_once_and_nothing_is_lost(pg_url):
    with Store(pg_url) as store:
        shared = store.begin_run(DEVICE, {}, "shared", None, "0.1")
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, pg_url, shared], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for _ in range(2)]
    started_together(procs)
    outs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, outs):
        assert proc.returncode == 0, err
    runs = [out.strip() for out, _ in outs]
    with Store(pg_url, readonly=True) as store:
        for run_id in runs:
            assert [r.model for r in store.records(run_id)] == [f"{run_id}-{i}" for i in range(1, 40, 2)]
        in_shared = store.records(shared, samples=True)
        assert sorted(r.model for r in in_shared) == sorted(
            f"{run_id}-{i}" for run_id in runs for i in range(0, 40, 2))
        for rec in in_shared:  # every record with its own samples and figures, none mixed up
            i = int(rec.model.rsplit("-", 1)[1])
            assert rec.result.samples_ms == (float(i + 1),) * 50 + (float(i + 2),) * 50
            assert rec.stats.median == pytest.approx(i + 1.5)
    # The writers' records interleaved in time: they did write at once.
    owners = [r[0] for r in sql(pg_url, "SELECT run_id FROM records WHERE run_id <> ? ORDER BY id",
                                (shared,))]
    switches = sum(a != b for a, b in zip(owners, owners[1:]))
    assert switches >= 1
    assert sql(pg_url, "SELECT count(*) FROM records") == [(80,)]
    assert sql(pg_url, "SELECT count(*) FROM samples") == [(160,)]


# --- faults ---------------------------------------------------------------------------------


def _terminate(url: str, application_name: str) -> int:
    rows = sql(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname=current_database() AND application_name=?", (application_name,))
    return len(rows)


def test_a_lost_connection_is_made_again_and_the_write_stored_once(pg_url, caplog):
    """(A server down for longer: tests/test_security_store.py.)"""
    with Store(pg_url) as store:
        run_id = store.begin_run(DEVICE, {}, "", None, "0.1")
        kept = store.add_record(_record(run_id))
        assert _terminate(pg_url, "harness") == 1  # the server restarted, the network dropped
        store.add_record(_record(run_id, model="lost"))  # connected again, written again
        store.add_record(_record(run_id, model="after"))
        assert [r.model for r in store.records(run_id)] == ["m", "lost", "after"]
        assert store.samples(kept) == [1.0, 1.1, 0.9, 1.05]
    assert any("Lost the connection to PostgreSQL" in r.getMessage() and "(1 of 8)" in r.getMessage()
               for r in caplog.records)


def test_the_heartbeat_survives_a_lost_connection(pg_url, caplog):
    with Store(pg_url) as store:
        run_id = store.begin_run(DEVICE, {}, "", None, "0.1")
        sql(pg_url, "UPDATE runs SET heartbeat_at=0")
        beat = store.start_heartbeat(run_id, interval_s=0.05)
        try:
            beating = lambda: sql(pg_url, "SELECT heartbeat_at FROM runs")[0][0] > 0  # noqa: E731
            wait_until(beating, 10, what="the first heartbeat")
            assert _terminate(pg_url, "harness heartbeat") == 1
            sql(pg_url, "UPDATE runs SET heartbeat_at=0")
            wait_until(beating, 10, what="a heartbeat on a new connection")  # beating again
        finally:
            beat.stop()
    assert any("heartbeat of run" in r.getMessage() for r in caplog.records)


def test_a_full_disk_on_the_server_keeps_the_records_stored_before(pg_server):
    if not pg_server.small_tablespace:
        unavailable("no private mount namespace here for a small tablespace to fill")
    url = pg_server.create_database(tablespace=pg_server.small_tablespace)
    try:
        rng = np.random.default_rng(0)
        stored = []
        with Store(url) as store:
            run_id = store.begin_run(DEVICE, {}, "", None, "0.1")
            with pytest.raises(StoreError, match="disk of PostgreSQL .* is full") as exc:
                for i in range(40):  # 800 kB of samples each; the tablespace holds 8 MB
                    stored.append(store.add_record(_record(run_id, f"m{i}", rng.random(100_000) + 1)))
            _one_line(exc)
            assert len(stored) >= 2
            # The writer's own session reads every record committed before the disk filled.
            assert [r.id for r in store.records(run_id)] == stored
            assert len(store.samples(stored[0])) == 100_000
        # A new session may be refused while the disk is full: a backend that must write the
        # relation cache's init file into the database's directory first cannot (when it must
        # depends on the server's own catalog activity). Refused, it is the same one line.
        try:
            reader = Store(url, readonly=True)
        except StoreError as refused:
            assert re.fullmatch(r"The disk of PostgreSQL at \S+ is full \(.*could not write init "
                                r"file.*\): it starts no session in '\w+'; the records stored so "
                                r"far are kept\. Free some space on the server and run again\.",
                                str(refused)), refused
        else:
            with reader as store:
                assert [r.id for r in store.records(run_id)] == stored
                assert len(store.samples(stored[0])) == 100_000
    except BaseException:
        # Once in fifteen default tiers a new session was refused (above): what the server said.
        print(f"stored {len(stored)} records; the server's log ends:\n"
              f"{pg_server.log.read_text(errors='replace')[-4000:]}")
        raise
    finally:
        pg_server.drop_database(url)


# --- the commands ---------------------------------------------------------------------------


def _cli(args, env, expect=(0,)):
    probe = ("import sys, runpy\nsys.argv = ['harness', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('harness.cli', run_name='__main__')\n"
             "finally:\n"
             f"    print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", probe, *args], cwd=env["HOME"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in expect, (args, proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1] == "HEAVY []", proc.stderr  # no torch to read
    return proc


def _trials_record(run_id, model, trials):
    """A cell measured in several trials (sessions), as `harness run` stores it."""
    from harness.bench.stats import summarize_trials
    from harness.bench.trials import combine_trials
    from harness.store import BenchmarkRecord

    results = tuple(_record(run_id, model, samples).result for samples in trials)
    return BenchmarkRecord(run_id=run_id, model=model, format="executorch", device_id="host",
                           status="ok", reason="", artifact={"sha256": "abc"}, model_info={},
                           result=combine_trials(list(results)), trials=results,
                           stats=summarize_trials([t.samples_ms for t in results]))


def test_show_report_and_compare_read_a_postgresql_database(pg_server, pg_url, tmp_path):
    rng = np.random.default_rng(1)
    with Store(pg_url) as store:
        ids = []
        for slower in (1.0, 1.5):
            run_id = store.begin_run(DEVICE, {"bench": {"threads": 1}}, "harness run", None, "0.1")
            for model in ("alpha_net", "beta_net"):
                scale = slower if model == "beta_net" else 1.0
                sessions = [rng.normal(10 * (1 + rng.normal(0, 0.01)), 0.1, 200) * scale for _ in range(3)]
                store.add_record(_trials_record(run_id, model, [s.tolist() for s in sessions]))
            store.finish_run(run_id)
            ids.append(run_id)
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("HARNESS_DB", None)
    url = pg_server.url(_dbname(pg_url), "postgres", "unused-secret")  # trust: the password is ignored

    shown = _cli(["show", "latest", "--db", url], env)
    assert ids[1] in shown.stdout and "alpha_net" in shown.stdout and "beta_net" in shown.stdout
    assert "unused-secret" not in shown.stdout + shown.stderr
    out = tmp_path / "board.md"
    _cli(["report", "--out", str(out), "--db", url], env)
    board = out.read_text()
    assert "alpha_net" in board and "beta_net" in board
    compared = _cli(["compare", ids[0], ids[1], "--db", url], env, expect=(3,))  # 3: slower
    assert "slower" in compared.stdout
    listed = _cli(["runs"], {**env, "HARNESS_DB": url})
    assert ids[0] in listed.stdout and ids[1] in listed.stdout
    _cli(["site", "--out", str(tmp_path / "site"), "--db", url], env)
    assert "beta_net" in (tmp_path / "site" / "index.html").read_text()
    # Nothing of it wrote: no local database appeared, the server's is as it was.
    assert not (tmp_path / "results").exists()
    assert sql(pg_url, "SELECT count(*) FROM records") == [(4,)]

    wrong = pg_server.url(_dbname(pg_url), PW_USER, "not-the-password")
    failed = _cli(["show", "latest", "--db", wrong], env, expect=(1,))
    [line, _heavy] = failed.stderr.strip().splitlines()
    assert line.startswith("Error: PostgreSQL at 127.0.0.1:") and "refused user 'pw_user'" in line
    assert "not-the-password" not in failed.stderr
