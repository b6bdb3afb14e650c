"""`harness farm run farm.yaml`: the whole matrix on the devices attached to this host.

    1. every model is exported first, `jobs` at a time (nothing is measured while exporting);
    2. then the devices one after another, each a harness run `<farm run>-<device>` holding one
       record per cell: measured, failed with its reason, unsupported, or skipped;
    3. then each device's cells against their baseline (regression.py), and the reports.

The farm run is named `<name>-<YYYYMMDD>` (or `--run`). Running the same farm run again
continues it: a device whose run completed is not measured again, an interrupted one resumes
(its measured cells kept, the rest measured), a missing one starts.

A device that cannot be opened (not attached, locked, battery below the floor) has every cell
stored as skipped with that line. A device whose cells fail to run `quarantine_after` times in a
row is quarantined for the night: its remaining cells are stored as skipped with the reason, so
one broken phone costs minutes, not the night. A trial that fails to run is retried `retries`
times first (the record says so).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from device_runners.contract import STATUS_RUN_FAILED
from device_runners.errors import DeviceError
from harness.errors import HarnessError, StoreError
from harness.farm.config import FarmConfig, FarmDevice
from harness.farm.regression import check_run
from harness.farm.reports import DeviceOutcome, FarmOutcome
from harness.placement.contracts import needs_profile
from harness.run import STATUS_SKIPPED, RunObserver
from harness.store import BenchmarkRecord, Store

log = logging.getLogger(__name__)
UNAVAILABLE = "device unavailable: "


def farm_run_name(config: FarmConfig, when: float | None = None) -> str:
    return f"{config.name}-{time.strftime('%Y%m%d', time.localtime(when))}"


def device_run_id(farm_run: str, device: FarmDevice) -> str:
    return f"{farm_run}-{device.slug}"


class Quarantine:
    """Counts a device's cells that failed to run, in a row; past the limit, says skip."""

    def __init__(self, limit: int):
        self.limit = limit
        self.in_a_row = 0
        self.last = ""
        self.reason = ""

    def see(self, record: BenchmarkRecord) -> None:
        if record.status == STATUS_RUN_FAILED:
            self.in_a_row += 1
            self.last = record.reason
            if self.in_a_row >= self.limit and not self.reason:
                self.reason = (f"device quarantined for the night: {self.in_a_row} cells in a row "
                               f"failed to run (the last: {self.last})")
                log.warning("%s", self.reason)
        elif record.status == "ok":
            self.in_a_row = 0

    def why_skip(self, model: str, fmt: str) -> str | None:
        return self.reason or None


class _FarmObserver(RunObserver):
    def __init__(self, quarantine: Quarantine, outer: RunObserver | None):
        self.quarantine, self.outer = quarantine, outer or RunObserver()

    def run_started(self, run_id, cells):
        self.outer.run_started(run_id, cells)

    def cell_started(self, model, format, step):
        self.outer.cell_started(model, format, step)

    def cell_finished(self, record):
        self.quarantine.see(record)
        self.outer.cell_finished(record)


def _device_options(device: FarmDevice, config: FarmConfig) -> dict:
    """farm.yaml's device options (by flag) and health rules, as `open_runner` takes them."""
    from harness.devices import device_options

    by_flag = {o.flag: o.dest for o in device_options()}
    options = dict(config.health_options())
    for flag, value in device.options.items():
        dest = by_flag.get(flag if flag.startswith("--") else f"--{flag}")
        if dest is None:
            raise HarnessError(f"{config.source}: devices: {device.name}: no device option "
                               f"{flag!r}; `harness run --help` lists them.")
        options[dest] = value
    return options


def farm_session(config: FarmConfig, name: str, provider: tuple[str, dict] | None, options: dict):
    """The session of a farm device: its settings from farm.yaml, borrowed from its provider
    when it names one, else attached here. Health rules apply to the phones among the devices
    only (lenient)."""
    from harness.session import RunSession

    return RunSession(name, config.settings, options, provider=provider, lenient=True)


def _store_unreachable(store: Store, run_id: str, device: FarmDevice, why: str, specs, formats,
                       extra_config: dict, argv: str) -> None:
    """Every cell of a device that could not be opened, stored as skipped with the line."""
    import harness
    from harness.run import git_sha

    store.begin_run(device={"device_id": device.name, "kind": "unknown"},
                    config={"models": [s.name for s in specs], "formats": [f.name for f in formats],
                            **extra_config},
                    argv=argv, git_sha=git_sha(), harness_version=harness.__version__, run_id=run_id)
    for spec in specs:
        for fmt in formats:
            store.add_record(BenchmarkRecord(run_id=run_id, model=spec.name, format=fmt.name,
                                             device_id=device.name, status=STATUS_SKIPPED,
                                             reason=UNAVAILABLE + why, artifact={},
                                             model_info={"family": spec.family}))
    store.finish_run(run_id)


def run_device(config: FarmConfig, device: FarmDevice, farm_run: str, specs, formats, store: Store,
               cache, *, argv: str = "", observer: RunObserver | None = None) -> DeviceOutcome:
    """One device's part of the farm run, resumed if it was begun; its outcome. Measured
    through a RunSession, as `harness run` measures."""
    from harness.session import CellsToRun

    run_id = device_run_id(farm_run, device)
    extra = {"farm": {"name": config.name, "run": farm_run, "device": device.name,
                      "config": config.to_dict()}}
    started = time.monotonic()
    existing = next((r for r in store.runs() if r.id == run_id), None)
    quarantine = Quarantine(config.quarantine_after)
    if existing is not None and existing.status == "complete":
        log.info("%s: run %s is complete; not measured again", device.name, run_id)
    elif existing is not None and existing.device.get("kind") == "unknown":
        log.info("%s: run %s stored the device as unavailable; not tried again", device.name, run_id)
    else:
        session = farm_session(config, device.name, device.provider, _device_options(device, config))
        try:
            session.open()
        except Exception as exc:  # a DeviceError, or adb's, a driver's: the device is unavailable
            why = one_line(exc)
            log.warning("%s: %s", device.name, why, exc_info=not isinstance(exc, (DeviceError, HarnessError)))
            if existing is None:
                _store_unreachable(store, run_id, device, why, specs, formats, extra, argv)
        else:
            # A rule of `expect:` on time needs each cell's operator profile (--profile).
            cells = CellsToRun(jobs=config.jobs or 1, resume=run_id if existing else None,
                               run_id=run_id, retries=config.retries, skip_cell=quarantine.why_skip,
                               extra_config=extra, argv=argv,
                               profile=needs_profile(config.expect, device.name))
            try:
                session.run(specs, formats, store, cache, cells, observer=_FarmObserver(quarantine, observer))
            except (StoreError, KeyboardInterrupt):
                raise
            except Exception as exc:  # the device failed mid-night: its cells still get a row
                log.exception("%s: the device failed", device.name)
                _store_unfinished(store, run_id, device, f"the device failed: {one_line(exc)}",
                                  specs, formats)
            finally:
                session.close()
    return device_outcome(store, config, device, run_id, time.monotonic() - started)


def one_line(exc: BaseException) -> str:
    """An exception as one line: its own words for the harness's and devices' errors (they
    say what to do), with its type for anything else (an adb or driver error)."""
    text = " ".join(str(exc).split())
    if isinstance(exc, (DeviceError, HarnessError)):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _store_unfinished(store: Store, run_id: str, device: FarmDevice, why: str, specs, formats) -> None:
    """A row saying `why` for every cell of the device's run that has none (run_benchmarks
    stored those with finished trials): a failure never loses a cell."""
    have = {(r.model, r.format.split("@", 1)[0]) for r in store.records(run_id)}
    for spec in specs:
        for fmt in formats:
            if (spec.name, fmt.name) not in have:
                store.add_record(BenchmarkRecord(run_id=run_id, model=spec.name, format=fmt.name,
                                                 device_id=device.name, status=STATUS_RUN_FAILED,
                                                 reason=why, artifact={},
                                                 model_info={"family": spec.family}))


def device_outcome(store: Store, config: FarmConfig, device: FarmDevice, run_id: str,
                   seconds: float = 0.0) -> DeviceOutcome:
    """A device's night as stored: its cells' statuses, quarantine, and verdicts."""
    outcome = DeviceOutcome(device.name, run_id, seconds=seconds)
    run = next((r for r in store.runs() if r.id == run_id), None)
    records = store.records(run_id) if run is not None else []
    outcome.statuses = {(r.model, r.format): (r.status, r.reason) for r in records}
    if run is not None:  # JUnit's timestamp and each case's time: from when each cell was stored
        outcome.started_at = run.started_at
        previous = run.started_at
        for r in sorted(records, key=lambda r: r.created_at):
            outcome.cell_seconds[(r.model, r.format)] = max(0.0, r.created_at - previous)
            previous = r.created_at
    skipped = [r.reason for r in records if r.status == STATUS_SKIPPED and "quarantined" in r.reason]
    outcome.quarantined = skipped[0] if skipped else ""
    unavailable = [r.reason for r in records if r.status == STATUS_SKIPPED
                   and r.reason.startswith(UNAVAILABLE)]
    outcome.unavailable = unavailable[0][len(UNAVAILABLE):] if unavailable else ""
    if records:
        outcome.baseline, outcome.verdicts = check_run(store, config, device.name, run_id)
    return outcome


def report_farm(config: FarmConfig, store: Store, farm_run: str) -> FarmOutcome:
    """The outcome of a farm run from what is stored (a farm across hosts, once its cells are)."""
    return FarmOutcome(config.name, farm_run, [device_outcome(store, config, d, device_run_id(farm_run, d))
                                                for d in config.devices])


def run_farm(config: FarmConfig, store: Store, cache, *, farm_run: str | None = None,
             argv: str = "", log_dir: Path | None = None, observer: RunObserver | None = None,
             on_device: Callable[[DeviceOutcome], None] | None = None) -> FarmOutcome:
    """The whole farm run on this host; its outcome (the reports are the caller's)."""
    from harness.export.base import resolve_formats
    from harness.export.isolated import default_jobs, export_all
    from harness.zoo import resolve_models

    farm_run = farm_run or farm_run_name(config)
    specs = resolve_models(config.models)
    formats = resolve_formats(config.formats)
    log_path = (log_dir / f"farm-{farm_run}.log") if log_dir else None
    # Every artifact first, in parallel: no device measures while the host exports.
    jobs = config.jobs or default_jobs()
    export_all(specs, lambda spec: formats, cache, jobs=jobs, seed=config.settings.seed,
               log_path=log_path, limits=config.settings.child_limits(jobs))
    outcomes = []
    for device in config.devices:
        outcome = run_device(config, device, farm_run, specs, formats, store, cache, argv=argv,
                             observer=observer)
        outcomes.append(outcome)
        if on_device:
            on_device(outcome)
    return FarmOutcome(config.name, farm_run, outcomes)
