"""One cell of a farm measured by a worker: the unit of work a farm across hosts queues.

A task message is untrusted: anyone who can write to the broker can write one. So a task names
a cell by name only, `{farm, farm_run, device, model, format}` (`CellTask`), and the worker
takes everything else from its own farm.yaml: the model's source, the formats, the settings,
the device's options, the provider that lends it (with its token) and the retries. A message
carrying anything else, or naming a device, model or format its farm.yaml does not list, is
refused in one line (`TaskRefused`); where it names a cell of the worker's own matrix, that
refusal is also a stored failed row, so no cell goes missing without a word (docs/security.md).

The worker that takes an accepted task (`FarmCell`):

1. skips it if the device's run already holds a record of the cell (the idempotency key is the
   farm run, the device, the model and the format: a task delivered twice, because its first
   worker died after storing, is stored once); a refused task's row does not count;
2. skips it as quarantined if the device's last `quarantine_after` records failed to run;
3. makes sure the artifact is in the shared cache, building it under a lock on the cache when it
   is missing, so two hosts missing it build it once;
4. opens the device and measures the cell into the device's run `<farm run>-<device>`
   (harness.run with resume: earlier cells kept, this one added), then closes the device.

Whatever fails on the way (the device, adb, an export, the store's write itself excepted) ends
as a stored row with the reason in one line: a cell is never lost to an exception.

Nothing here knows Celery (queue.py wraps it): `measure_cell(cell)` is a plain function a test
or another queue can call.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from device_runners.contract import STATUS_RUN_FAILED
from device_runners.errors import DeviceError
from harness.errors import HarnessError, StoreError
from harness.farm.config import FarmConfig, FarmDevice, check_run_name
from harness.farm.local import UNAVAILABLE, one_line
from harness.placement.contracts import needs_profile
from harness.run import STATUS_SKIPPED, RunObserver
from harness.store import parse_format_label

log = logging.getLogger(__name__)

REFUSED = "task refused: "
MAX_FIELD_CHARS = 200


@dataclass(frozen=True)
class CellTask:
    """What a queue carries for one cell: names, nothing a worker would act on (JSON:
    `to_dict`; a received message is checked by `accept_task`)."""

    farm: str
    farm_run: str
    device: str  # the farm device's name, as farm.yaml gives it
    model: str  # the model's name in the farm's matrix (ModelSpec.name)
    format: str

    def to_dict(self) -> dict:
        return asdict(self)


TASK_FIELDS = tuple(CellTask.__dataclass_fields__)


@dataclass(frozen=True)
class FarmCell:
    """A task accepted by a worker: the cell, resolved from the worker's own farm.yaml."""

    config: FarmConfig
    device: FarmDevice
    farm_run: str
    spec: object  # harness.zoo.registry.ModelSpec
    fmt: object  # harness.export.base.FormatSpec

    @property
    def run_id(self) -> str:
        return f"{self.farm_run}-{self.device.slug}"

    @property
    def key(self) -> str:
        """The idempotency key: one record per farm run, device, model and format."""
        return f"{self.run_id}/{self.spec.name}/{self.fmt.name}"


class TaskRefused(HarnessError):
    """A task message the worker will not act on: one line; `cell` is the cell of the worker's
    own matrix it names, when it names one (its refusal is then stored as a failed row)."""

    def __init__(self, line: str, cell: FarmCell | None = None):
        super().__init__(line)
        self.cell = cell


class Matrix:
    """A worker's own matrix: its farm.yaml's models and formats, by name."""

    def __init__(self, config: FarmConfig, specs, formats):
        self.config = config
        self.specs = {s.name: s for s in specs}
        self.formats = {f.name: f for f in formats}

    def tasks(self, farm_run: str) -> list[CellTask]:
        return [CellTask(farm=self.config.name, farm_run=farm_run, device=d.name, model=name,
                         format=fmt) for d in self.config.devices for name in self.specs
                for fmt in self.formats]


def _describe(payload, limit: int = 120) -> str:
    """A message's content (or a key of it) for a refusal line: short and printable."""
    text = payload if isinstance(payload, str) else repr(payload)
    text = " ".join(text.split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def accept_task(payload, device: FarmDevice, matrix: Matrix) -> FarmCell:
    """The cell a task message names, resolved from the worker's own farm.yaml (module
    docstring); TaskRefused saying what is wrong with it otherwise."""
    config = matrix.config
    if not isinstance(payload, dict):
        raise TaskRefused(f"{REFUSED}not a cell task ({_describe(payload)})")
    names = {k: payload.get(k) for k in TASK_FIELDS}
    cell = None
    if all(isinstance(v, str) and len(v) <= MAX_FIELD_CHARS for v in names.values()) \
            and names["farm"] == config.name and names["device"] == device.name \
            and names["model"] in matrix.specs and names["format"] in matrix.formats:
        try:
            check_run_name(names["farm_run"])
            cell = FarmCell(config, device, names["farm_run"], matrix.specs[names["model"]],
                            matrix.formats[names["format"]])
        except HarnessError:
            cell = None
    where = cell.key if cell else _describe({k: v for k, v in names.items() if v is not None})
    extra = sorted(_describe(k, 30) for k in payload if k not in TASK_FIELDS)
    if extra:
        listed = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        raise TaskRefused(f"{REFUSED}{where} carries {listed}: a worker takes the settings, "
                          "devices, providers and model sources from its own farm.yaml, never "
                          "from a task", cell)
    missing = [k for k in TASK_FIELDS if not isinstance(payload.get(k), str) or not payload[k]]
    if missing:
        raise TaskRefused(f"{REFUSED}{where}: {', '.join(missing)} must be given as names (text "
                          f"of 1 to {MAX_FIELD_CHARS} characters)", cell)
    if cell is not None:
        return cell
    if names["farm"] != config.name:
        raise TaskRefused(f"{REFUSED}{where} is for farm {names['farm']!r}; this worker serves "
                          f"{config.name!r} ({config.source})")
    if names["device"] != device.name:
        raise TaskRefused(f"{REFUSED}{where} is for device {names['device']!r}; this worker "
                          f"serves {device.name!r}")
    if names["model"] not in matrix.specs:
        raise TaskRefused(f"{REFUSED}{where} names model {names['model']!r}, which "
                          f"{config.source} does not list")
    if names["format"] not in matrix.formats:
        raise TaskRefused(f"{REFUSED}{where} names format {names['format']!r}, which "
                          f"{config.source} does not list")
    try:
        check_run_name(names["farm_run"])
    except HarnessError as exc:
        raise TaskRefused(f"{REFUSED}{where}: {exc}") from None
    raise TaskRefused(f"{REFUSED}{where} is not a cell of {config.source}")


def _is_this_cell(record, model: str, fmt: str) -> bool:
    """A record of this model in this format, in any of its runtime variants."""
    return record.model == model and parse_format_label(record.format)[0] == fmt


def stored_outcome(store, cell: FarmCell) -> str | None:
    """The status already stored for this cell in the device's run, or None. The row of a
    refused task does not count: a genuine task for the cell still measures it."""
    try:
        records = store.records(cell.run_id)
    except HarnessError:  # no such run yet
        return None
    found = [r for r in records if _is_this_cell(r, cell.spec.name, cell.fmt.name)
             and not (r.reason or "").startswith(REFUSED)]
    return found[-1].status if found else None


def quarantined(store, cell: FarmCell) -> str | None:
    """Why the device sits out the rest of the night: its newest `quarantine_after` records
    all failed to run (or were skipped by that same quarantine)."""
    try:
        records = sorted(store.records(cell.run_id), key=lambda r: r.id or 0)
    except HarnessError:
        return None
    in_a_row = []
    for record in reversed(records):
        if record.status == STATUS_SKIPPED and "quarantined" in record.reason:
            return record.reason
        if (record.reason or "").startswith(REFUSED):
            continue  # a forged task says nothing about the device
        if record.status != STATUS_RUN_FAILED:
            break
        in_a_row.append(record)
    if len(in_a_row) >= cell.config.quarantine_after:
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


def store_outcome(store, cell: FarmCell, status: str, why: str) -> None:
    """A cell not measured (skipped on purpose, refused, or failed before any trial), in the
    device's run (begun here when it is the first)."""
    import harness
    from harness.run import git_sha
    from harness.store import BenchmarkRecord

    if not any(r.id == cell.run_id for r in store.runs()):
        store.begin_run(device={"device_id": cell.device.name, "kind": "unknown"},
                        config={"farm": farm_identity(cell)}, argv="harness farm worker",
                        git_sha=git_sha(), harness_version=harness.__version__, run_id=cell.run_id)
        store.finish_run(cell.run_id)
    store.add_record(BenchmarkRecord(run_id=cell.run_id, model=cell.spec.name, format=cell.fmt.name,
                                     device_id=cell.device.name, status=status, reason=why,
                                     artifact={}, model_info={"family": cell.spec.family}))


def farm_identity(cell: FarmCell) -> dict:
    return {"name": cell.config.name, "run": cell.farm_run, "device": cell.device.name,
            "config": cell.config.to_dict()}


def measure_cell(cell: FarmCell, store, cache, *, log_path: Path | None = None,
                 observer: RunObserver | None = None) -> str:
    """Measure one cell (see the module docstring); returns what happened, in a word or two.
    Any failure but the store's own ends as a stored row saying why."""
    try:
        return _measure(cell, store, cache, log_path, observer)
    except StoreError:
        raise  # the row cannot be stored either: the task fails, and is delivered again
    except Exception as exc:  # every failure of a cell is a row (module docstring)
        log.exception("%s: failed", cell.key)
        if stored_outcome(store, cell) is None:
            store_outcome(store, cell, STATUS_RUN_FAILED, f"the worker failed: {one_line(exc)}")
        return "failed"


def _measure(cell: FarmCell, store, cache, log_path, observer) -> str:
    from harness.export.isolated import export_all
    from harness.farm.local import _device_options
    from harness.session import CellsToRun, RunSession

    done = stored_outcome(store, cell)
    if done is not None:
        log.info("%s: already stored (%s); not measured again", cell.key, done)
        return f"already stored: {done}"
    why = quarantined(store, cell)
    if why:
        store_outcome(store, cell, STATUS_SKIPPED, why)
        return "skipped: quarantined"
    config, spec, fmt = cell.config, cell.spec, cell.fmt
    with cache_lock(cache.root, spec.name):  # a host missing the artifact builds it, once
        export_all([spec], lambda s: [fmt], cache, jobs=1, seed=config.settings.seed,
                   log_path=log_path, limits=config.settings.child_limits())
    session = RunSession(cell.device.name, config.settings, _device_options(cell.device, config),
                         provider=cell.device.provider, lenient=True)
    try:
        session.open()
    except Exception as exc:  # a DeviceError, or adb's, a driver's: the device is unavailable
        log.warning("%s: %s", cell.key, one_line(exc), exc_info=not isinstance(exc, (DeviceError, HarnessError)))
        store_outcome(store, cell, STATUS_SKIPPED, UNAVAILABLE + one_line(exc))
        return "skipped: unavailable"
    exists = any(r.id == cell.run_id for r in store.runs())
    cells = CellsToRun(jobs=1, resume=cell.run_id if exists else None, run_id=cell.run_id,
                       retries=config.retries, extra_config={"farm": farm_identity(cell)},
                       argv=f"harness farm worker ({cell.key})",
                       profile=needs_profile(config.expect, cell.device.name))
    try:
        session.run([spec], [fmt], store, cache, cells, observer=observer)
    finally:
        session.close()
    status = stored_outcome(store, cell)
    return status or "not stored"
