import sqlite3
import subprocess
import sys

import pytest

from device_runners.contract import DeviceInfo, RunResult
from harness.bench.stats import summarize
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


def test_records_and_raw_samples_round_trip(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        run_id = store.begin_run(DEVICE, {"a": 1}, "harness run", None, "0.1")
        rid = store.add_record(_record(run_id))
        store.finish_run(run_id)
        assert store.samples(rid) == [1.0, 1.1, 0.9, 1.05]
        assert store.samples(rid, "warmup") == [3.0, 2.0]
        [rec] = store.records(run_id, recompute=True)
        assert rec.stats.median == pytest.approx(1.025)
        assert rec.result.load_ms == 5.0
        assert store.get_run(run_id[:10]).status == RUN_COMPLETE


def test_latest_records_keeps_the_newest_cell(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        r1 = store.begin_run(DEVICE, {}, "", None, "0.1")
        store.add_record(_record(r1, samples=(5.0, 5.0, 5.0)))
        r2 = store.begin_run(DEVICE, {}, "", None, "0.1")
        store.add_record(_record(r2, samples=(2.0, 2.0, 2.0)))
        [latest] = store.latest_records()
        assert latest.run_id == r2 and latest.stats.median == 2.0


def test_run_of_a_dead_process_shows_as_interrupted(tmp_path):
    path = tmp_path / "db.sqlite"
    code = (
        "from harness.store import Store\n"
        f"s = Store({str(path)!r})\n"
        "rid = s.begin_run({'device_id': 'host', 'platform': 'linux'}, {}, '', None, '0.1')\n"
        "print(rid)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    run_id = out.stdout.strip()
    with Store(path) as store:
        info = store.get_run(run_id)
        assert info.status == RUN_INTERRUPTED
        raw = store.conn.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()[0]
        assert raw == RUN_RUNNING  # the stored row is untouched; only the reading is derived


def test_newer_schema_is_refused_without_touching_the_file(tmp_path):
    path = tmp_path / "db.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer harness"):
        Store(path)


def test_a_file_that_is_not_a_database_gives_one_clear_line(tmp_path):
    path = tmp_path / "db.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable results database"):
        Store(path)
    assert path.read_bytes().startswith(b"this is not sqlite")


def test_unknown_and_ambiguous_run_ids(tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        store.begin_run(DEVICE, {}, "", None, "0.1", run_id="20260101-000000-aaaa")
        store.begin_run(DEVICE, {}, "", None, "0.1", run_id="20260101-000000-aaab")
        with pytest.raises(StoreError, match="ambiguous"):
            store.get_run("20260101")
        with pytest.raises(StoreError, match="No run"):
            store.get_run("1999")
        assert store.get_run("latest").id in ("20260101-000000-aaaa", "20260101-000000-aaab")
