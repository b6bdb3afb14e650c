"""One run session for every path that measures (harness/session.py): `harness run`,
`harness farm run` and the farm's worker (`measure_cell`, which a Celery task calls) measure the
same cell with the same settings, and store them field by field the same: memory limit,
cooldown, affinity, warm-up mode and the rest."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from harness.cli import main
from harness.export.base import resolve_formats
from harness.export.cache import ArtifactCache
from harness.farm.cell import Matrix, accept_task, measure_cell
from harness.farm.config import load_farm
from harness.store import Store
from harness.zoo import resolve_models
from tests.support.paths import TINY

SETTINGS = {"warmup": 2, "warmup_until_settled": True, "iterations": 5, "min_time": 0.05,
            "trials": 2, "interleave": True, "threads": 1, "affinity": [0], "cooldown": 0.05,
            "seed": 3, "export_timeout": 900, "memory_limit": 6}
RUN_OPTIONS = ["--warmup", "2", "--warmup-until-settled", "--iterations", "5", "--min-time", "0.05",
               "--trials", "2", "--interleave", "--threads", "1", "--affinity", "0",
               "--cooldown", "0.05", "--seed", "3", "--export-timeout", "900", "--memory-limit", "6",
               "--timeout", "120"]


@pytest.mark.slow
def test_run_farm_run_and_the_worker_store_the_same_settings(tmp_path, shared_cache, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "h.db"
    farm = tmp_path / "farm.yaml"
    farm.write_text(yaml.safe_dump({
        "name": "same", "devices": [{"name": "host"}], "models": TINY, "formats": ["eager"],
        "settings": SETTINGS, "cell": {"timeout": 120, "retries": 0},
        "results": {"db": str(db), "cache": str(shared_cache), "out": str(tmp_path / "out")}}))

    by_run = CliRunner().invoke(main, ["run", "--models", TINY, "--formats", "eager", "--db", str(db),
                                       "--cache-dir", str(shared_cache), *RUN_OPTIONS])
    assert by_run.exit_code == 0, by_run.output
    by_farm = CliRunner().invoke(main, ["farm", "run", str(farm), "--run", "same-1"])
    assert by_farm.exit_code == 0, by_farm.output
    config = load_farm(farm)
    matrix = Matrix(config, resolve_models(config.models), resolve_formats(config.formats))
    [task] = matrix.tasks("same-2")  # names only: the worker's farm.yaml gives the settings
    cell = accept_task(task.to_dict(), config.devices[0], matrix)
    with Store(db) as store:
        assert measure_cell(cell, store, ArtifactCache(shared_cache)) == "ok"

    with Store(db, readonly=True) as store:
        stored = [(run.config["bench"], run.config["limits"], store.records(run.id)) for run in store.runs()]
    assert len(stored) == 3
    (bench, limits, records), *others = stored
    for other_bench, other_limits, other_records in others:
        assert other_bench == bench  # field by field
        assert other_limits == limits
    assert bench["memory_limit_gib"] == 6 and bench["cooldown_s"] == 0.05
    assert bench["cpu_affinity"] == [0] and bench["warmup_until_settled"] and bench["interleave"]
    assert limits["trial_memory_limit_bytes"] == 6 * 2**30 and limits["timeout_s"] == 120
    for _, _, cell_records in stored:
        [record] = cell_records
        assert record.status == "ok", record.reason
        assert len(record.trials) == 2
        for trial in record.trials:
            assert trial.cpu_affinity == (0,)
            assert trial.context["warmup"]["mode"] == "settle"  # the warm-up mode reached the trial
