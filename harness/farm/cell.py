"""One cell of a farm measured by a worker: the unit of work a farm across hosts queues.

A cell task names the farm run, the device, one model and one format, and the settings. The
worker that takes it:

1. skips it if the device's run already holds a record of the cell (the idempotency key is the
   farm run, the device, the model and the format: a task delivered twice, because its first
   worker died after storing, is stored once);
2. skips it as quarantined if the device's last `quarantine_after` records failed to run;
3. makes sure the artifact is in the shared cache, building it under a lock on the cache when it
   is missing, so two hosts missing it build it once;
4. opens the device and measures the cell into the device's run `<farm run>-<device>`
   (harness.run with resume: earlier cells kept, this one added), then closes the device.

Nothing here knows Celery (queue.py wraps it): `measure_cell(task)` is a plain function a test
or another queue can call.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

from device_runners.contract import STATUS_RUN_FAILED
from device_runners.errors import DeviceError
from harness.errors import HarnessError
from harness.farm.local import UNAVAILABLE
from harness.run import STATUS_SKIPPED, RunObserver
from harness.store import parse_format_label

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CellTask:
    """What a queue carries for one cell (JSON: `to_dict` / `from_dict`)."""

    farm: str
    farm_run: str
    device: str  # the name --device takes
    device_slug: str
    model: str  # a --models selector naming one model
    format: str
    settings: dict  # harness.bench.settings.MeasurementSettings.to_dict()
    retries: int = 1
    quarantine_after: int = 3
    device_options: dict = field(default_factory=dict)  # by dest
    farm_config: dict = field(default_factory=dict)  # stored with the device's run
    provider: list | None = None  # [name, spec] of a device a service lends (FarmDevice.provider)
    profile: bool = False  # a rule of farm.yaml's `expect:` on time needs the operator profile

    @property
    def run_id(self) -> str:
        return f"{self.farm_run}-{self.device_slug}"

    @property
    def key(self) -> str:
        """The idempotency key: one record per farm run, device, model and format."""
        return f"{self.run_id}/{self.model}/{self.format}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "CellTask":
        return cls(**data)


def _is_this_cell(record, model: str, fmt: str) -> bool:
    """A record of this model in this format, in any of its runtime variants."""
    return record.model == model and parse_format_label(record.format)[0] == fmt


def stored_outcome(store, task: CellTask, model_name: str) -> str | None:
    """The status already stored for this cell in the device's run, or None."""
    try:
        records = store.records(task.run_id)
    except HarnessError:  # no such run yet
        return None
    found = [r for r in records if _is_this_cell(r, model_name, task.format)]
    return found[-1].status if found else None


def quarantined(store, task: CellTask) -> str | None:
    """Why the device sits out the rest of the night: its newest `quarantine_after` records
    all failed to run (or were skipped by that same quarantine)."""
    try:
        records = sorted(store.records(task.run_id), key=lambda r: r.id or 0)
    except HarnessError:
        return None
    in_a_row = []
    for record in reversed(records):
        if record.status == STATUS_SKIPPED and "quarantined" in record.reason:
            return record.reason
        if record.status != STATUS_RUN_FAILED:
            break
        in_a_row.append(record)
    if len(in_a_row) >= task.quarantine_after:
        return (f"device quarantined for the night: {len(in_a_row)} cells in a row failed to run "
                f"(the last: {in_a_row[0].reason})")
    return None


@contextlib.contextmanager
def cache_lock(cache_root: Path, name: str):
    """An exclusive lock on the shared cache for one model (flock: works across hosts on NFS
    v4 and local disks); held while that model is exported."""
    locks = Path(cache_root) / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.write(f"{socket.gethostname()} {os.getpid()}\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _store_skip(store, task: CellTask, spec, fmt, device_id: str, why: str) -> None:
    """A cell not measured on purpose, in the device's run (begun here when it is the first)."""
    import harness
    from harness.run import git_sha
    from harness.store import BenchmarkRecord

    if not any(r.id == task.run_id for r in store.runs()):
        store.begin_run(device={"device_id": device_id, "kind": "unknown"},
                        config={"farm": {**_farm_identity(task)}}, argv="harness farm worker",
                        git_sha=git_sha(), harness_version=harness.__version__, run_id=task.run_id)
        store.finish_run(task.run_id)
    store.add_record(BenchmarkRecord(run_id=task.run_id, model=spec.name, format=fmt.name,
                                     device_id=device_id, status=STATUS_SKIPPED, reason=why,
                                     artifact={}, model_info={"family": spec.family}))


def _farm_identity(task: CellTask) -> dict:
    return {"name": task.farm, "run": task.farm_run, "device": task.device, "config": task.farm_config}


def measure_cell(task: CellTask, store, cache, *, log_path: Path | None = None,
                 observer: RunObserver | None = None) -> str:
    """Measure one cell (see the module docstring); returns what happened, in a word or two.
    The device is measured through a RunSession, as `harness run` measures."""
    from harness.bench.settings import MeasurementSettings
    from harness.export.base import resolve_formats
    from harness.export.isolated import export_all
    from harness.session import CellsToRun, RunSession
    from harness.zoo import resolve_models

    [spec] = resolve_models(task.model)
    [fmt] = resolve_formats(task.format)
    done = stored_outcome(store, task, spec.name)
    if done is not None:
        log.info("%s: already stored (%s); not measured again", task.key, done)
        return f"already stored: {done}"
    why = quarantined(store, task)
    if why:
        _store_skip(store, task, spec, fmt, task.device, why)
        return "skipped: quarantined"
    settings = MeasurementSettings.from_values(task.settings, where=f"task {task.key}")
    with cache_lock(cache.root, spec.name):  # a host missing the artifact builds it, once
        export_all([spec], lambda s: [fmt], cache, jobs=1, seed=settings.seed, log_path=log_path,
                   limits=settings.child_limits())
    session = RunSession(task.device, settings, task.device_options,
                         provider=tuple(task.provider) if task.provider else None, lenient=True)
    try:
        session.open()
    except (DeviceError, HarnessError) as exc:
        line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        _store_skip(store, task, spec, fmt, task.device, UNAVAILABLE + line)
        return "skipped: unavailable"
    exists = any(r.id == task.run_id for r in store.runs())
    cells = CellsToRun(jobs=1, resume=task.run_id if exists else None, run_id=task.run_id,
                       retries=task.retries, extra_config={"farm": _farm_identity(task)},
                       argv=f"harness farm worker ({task.key})", profile=task.profile)
    try:
        session.run([spec], [fmt], store, cache, cells, observer=observer)
    finally:
        session.close()
    status = stored_outcome(store, task, spec.name)
    return status or "not stored"
