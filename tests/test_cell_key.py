"""What a cell is, defined once (harness/store/cell_key.py): the label of a format with its
runtime variant printed and parsed in one place, a record's key from its run and its result,
and the store's leaderboard choosing one record per key."""

from __future__ import annotations

from harness.store import CellKey, Store, format_label, parse_format_label
from tests.test_store import DEVICE, _record


def test_format_labels_print_and_parse_in_one_place():
    assert format_label("coreml", "coreml:cpu_and_ne") == "coreml@cpu_and_ne"
    assert format_label("coreml", "cpu_and_ne") == "coreml@cpu_and_ne"
    assert format_label("executorch") == "executorch"
    assert parse_format_label("coreml@cpu_and_ne") == ("coreml", "cpu_and_ne")
    assert parse_format_label("tflite") == ("tflite", "")


def test_a_key_says_what_differs_between_two_runs_of_a_cell():
    a = CellKey("host", "m", "tflite", threads=1, input=(1, 3, 224, 224))
    b = CellKey("host", "m", "tflite", threads=2, placement=(0, 1), input=(1, 3, 224, 224))
    assert a.identity == b.identity == ("host", "m", "tflite") and a != b
    assert a.differences(b) == ["threads 1 -> 2", "placement n/a -> 0,1"]


def test_the_leaderboard_keeps_one_record_per_key(tmp_path):
    """Two runs that differ in threads are two cells; a third run of the first setting replaces
    the first run's record."""
    with Store(tmp_path / "h.db") as store:
        ids = []
        for threads in (1, 2, 1):
            run = store.begin_run(DEVICE, {"bench": {"threads": threads, "cpu_affinity": None}}, "", None, "0")
            ids.append(store.add_record(_record(run, model="m")))
            store.finish_run(run)
        latest = store.latest_records()
        runs = {r.id: r for r in store.runs()}
    assert sorted(r.id for r in latest) == [ids[1], ids[2]]
    keys = {CellKey.of(r, runs[r.run_id]) for r in latest}
    assert {k.threads for k in keys} == {1, 2} and len(keys) == 2
