"""Trust boundaries, the database's server (issue 26, point 13; docs/security.md): the harness
trusts its database, not the network to it. A PostgreSQL restart in the middle of a run costs a
reconnection, said in the run's log, not the run; a write whose reply was lost is stored once;
a server that stays down is one line, the records stored before it kept.
"""

from __future__ import annotations

import logging
import threading

import pytest

from harness.errors import StoreError
from harness.store import BenchmarkRecord, Store
from tests.support.ci import unavailable
from tests.support.cli import harness_cli, one_line
from tests.support.paths import TESTS, TINY
from tests.support.pg_server import PgServer, PgServerError
from tests.support.store_backends import sql
from tests.support.tcp_proxy import TcpProxy
from tests.support.wait import wait_until

SLOW = f"{TESTS / 'tiny_models.py'}:slow_convnet"


def _record(run_id: str, model: str) -> BenchmarkRecord:
    return BenchmarkRecord(run_id=run_id, model=model, format="eager", device_id="host",
                           status="run_failed", reason="r", artifact={}, model_info={})


def test_a_write_whose_reply_was_lost_is_stored_once(pg_server, pg_url, caplog):
    """The COMMIT reaches the server, its answer never reaches the harness: the write is run
    again on a new connection, finds itself stored, and is not stored twice."""
    caplog.set_level(logging.WARNING, logger="harness.store")
    with TcpProxy("127.0.0.1", pg_server.port) as proxy:
        through = pg_url.replace(f":{pg_server.port}/", f":{proxy.port}/")
        with Store(through) as store:
            run_id = store.begin_run({"device_id": "host"}, {}, "argv", None, "0")
            proxy.lose_reply_to(b"COMMIT")
            record_id = store.add_record(_record(run_id, "once"))
            assert proxy.lost == 1  # the reply was lost ...
            assert [r.id for r in store.records(run_id)] == [record_id]  # ... and it is stored once
            proxy.lose_reply_to(b"COMMIT")
            again = store.begin_run({"device_id": "host"}, {}, "argv", None, "0", run_id="r-2")
            assert again == "r-2" and proxy.lost == 2
    assert sql(pg_url, "SELECT model FROM records") == [("once",)]
    assert sql(pg_url, "SELECT id FROM runs ORDER BY id")[1:] == [("r-2",)]
    lost = [r.getMessage() for r in caplog.records if "Lost the connection" in r.getMessage()]
    assert len(lost) == 2 and all("running the write again (1 of 8)" in m for m in lost)


@pytest.fixture
def own_server():
    """A private server to restart and stop (the session's is shared)."""
    try:
        server = PgServer()
    except PgServerError as exc:
        unavailable(f"no private PostgreSQL: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow  # a lost connection stays in the default tier through the test above
def test_a_run_goes_on_across_a_restart_of_the_server(own_server, tmp_path, shared_cache):
    url = own_server.create_database()
    env = {"HARNESS_CACHE": str(shared_cache)}
    restarted = threading.Event()

    def restart_once_a_cell_is_stored():
        wait_until(lambda: sql(url, "SELECT count(*) FROM records")[0][0] >= 1
                   if sql(url, "SELECT to_regclass('records') IS NOT NULL")[0][0] else False,
                   300, poll_s=0.1, what="the first stored cell")
        own_server.restart(down_s=0.3)
        restarted.set()

    thread = threading.Thread(target=restart_once_a_cell_is_stored, daemon=True)
    thread.start()
    out = harness_cli("run", "--db", url, "--models", f"{TINY},{SLOW}", "--formats", "eager",
                      "--warmup", "1", "--iterations", "5", "--min-time", "2", "--trials", "2",
                      "--leaderboard", tmp_path / "lb.md", env=env, cwd=tmp_path, check=0)
    thread.join(timeout=60)
    assert restarted.is_set() and "Traceback" not in out.stderr
    models = sql(url, "SELECT model, status FROM records ORDER BY model")
    assert models == [("tiny_models_slow_convnet", "ok"), ("tiny_models_tiny_convnet", "ok")]
    assert sql(url, "SELECT status FROM runs") == [("complete",)]
    [log] = (tmp_path / "results" / "logs").glob("run-*.log")
    assert "Lost the connection to PostgreSQL" in log.read_text()
    assert "running the write again (1 of 8)" in log.read_text()


@pytest.mark.slow  # about 15 s of waiting for the server to come back (the pauses are real)
def test_a_server_that_stays_down_is_one_line_and_keeps_what_was_stored(own_server, caplog):
    url = own_server.create_database()
    with Store(url) as store:
        run_id = store.begin_run({"device_id": "host"}, {}, "argv", None, "0")
        store.add_record(_record(run_id, "kept"))
        own_server._run([str(own_server.bindir / "pg_ctl"), "-D", str(own_server.data), "-m",
                         "fast", "-w", "stop"])
        with pytest.raises(StoreError) as lost:
            store.add_record(_record(run_id, "never"))
        line = one_line(str(lost.value))
        assert line.startswith(f"Lost the connection to PostgreSQL at 127.0.0.1:{own_server.port}")
        assert "stayed lost through 8 attempts to connect again" in line
        assert "the records stored so far are kept" in line
        own_server._run([str(own_server.bindir / "pg_ctl"), "-D", str(own_server.data), "-l",
                         str(own_server.log), "-w", "-o", own_server._options(), "start"],
                        prefix=own_server._prefix)
        assert [r.model for r in store.records(run_id)] == ["kept"]
