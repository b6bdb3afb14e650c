"""One run session: a device opened with the whole of the measurement settings, cells measured
into a stored run, the device closed.

`harness run`, `harness farm run` and the farm's Celery workers all measure through a
RunSession (as asv's `Continuous.run` calls `Run.run` rather than a thinner copy of it), so every
path opens the runner with the same memory limit and cooldown, checks the CPU affinity against
the device before any work, warms up and times by the same settings, resumes the same way, and
writes the run's log to the same place (`<results>/logs/run-<run id>.log`).

    with RunSession("pixel7", settings, device_options) as session:
        run_id = session.run(specs, formats, store, cache, jobs=2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from device_runners.runner import Runner, RunnerSettings
from harness.bench.settings import MeasurementSettings
from harness.errors import UsageError
from harness.logs import log_to


def check_affinity(cpus: tuple[int, ...] | None, device_label: str, cpu_count: int) -> None:
    """Refuse, before any work, CPUs the device does not have (`cpu_count` 0: unknown)."""
    if not cpus or not cpu_count:
        return
    missing = [c for c in cpus if c >= cpu_count]
    if missing:
        raise UsageError(f"--affinity {','.join(map(str, cpus))}: {device_label} has CPUs "
                         f"0-{cpu_count - 1}, not {','.join(map(str, missing))}; give CPUs in "
                         f"0-{cpu_count - 1}, e.g. --affinity 0.")


@dataclass(frozen=True)
class CellsToRun:
    """What one `RunSession.run` measures beyond the settings: how it is built and stored."""

    jobs: int = 1  # models exported at once
    run_id: str | None = None  # a new run's id (default: a fresh one) ...
    resume: str | None = None  # ... or a stored run to continue under its own id
    retries: int = 0  # a trial that fails to run is tried again this many times
    skip_cell: Callable[[str, str], str | None] | None = None  # a farm's quarantine
    profile: bool = False
    calibration_dir: Path | None = None
    extra_config: dict = field(default_factory=dict)  # stored with the run
    argv: str = ""


class RunSession:
    """A device opened with `settings` for as long as the session lasts (module docstring).

    `device` is what `--device` takes, or a farm device's name; `provider` (name, spec) borrows
    it from a service instead (farm.yaml's `provider:`). `lenient` lets options meant for
    another kind pass silently (a farm's health rules apply to the phones among its devices).
    """

    def __init__(self, device: str, settings: MeasurementSettings,
                 device_options: Mapping[str, Any] | None = None, *,
                 provider: tuple[str, Mapping[str, Any]] | None = None, lenient: bool = False):
        self.device = device
        self.settings = settings
        self.device_options = dict(device_options or {})
        self.provider = provider
        self.lenient = lenient
        self.runner: Runner | None = None

    @property
    def runner_settings(self) -> RunnerSettings:
        # Trials run one at a time: each may map what the machine allows one process.
        return RunnerSettings(self.settings.cooldown_s, self.settings.memory_limit_bytes)

    def open(self) -> Runner:
        from harness.devices import open_provided_runner, open_runner

        if self.provider is not None:
            runner = open_provided_runner(self.provider[0], self.provider[1], self.runner_settings,
                                          self.device_options)
        else:
            runner = open_runner(self.device, self.runner_settings, self.device_options,
                                 lenient=self.lenient)
        try:
            check_affinity(self.settings.cpu_affinity, runner.device.device_id, runner.device.cpu_count)
        except BaseException:
            runner.close()
            raise
        self.runner = runner
        return runner

    def close(self) -> None:
        if self.runner is not None:
            runner, self.runner = self.runner, None
            runner.close()  # a phone's runner removes its trial files

    def __enter__(self) -> "RunSession":
        self.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def run(self, specs, formats, store, cache, cells: CellsToRun | None = None, observer=None) -> str:
        """Measure `specs` x `formats` into a stored run (harness.run); its id. The run's log
        is `<store's log dir>/run-<run id>.log` (a resumed run appends to its own)."""
        from harness.run import RunOptions, run_benchmarks

        if self.runner is None:
            raise RuntimeError("RunSession.run before open(): use `with RunSession(...)`.")
        cells = cells or CellsToRun()
        run_id = cells.resume or cells.run_id or store.unused_run_id()
        log_path = run_log_path(store, run_id)
        options = RunOptions(
            calibration_dir=cells.calibration_dir, limits=self.settings.child_limits(cells.jobs),
            jobs=cells.jobs, log_path=log_path, resume=cells.resume, run_id=run_id,
            extra_config={"device_options": _jsonable_options(self.device_options),
                          **cells.extra_config},
            retries=cells.retries, skip_cell=cells.skip_cell,
            profile=cells.profile)
        with log_to(log_path):
            return run_benchmarks(specs, formats, self.runner, store, cache, self.settings,
                                  argv=cells.argv, observer=observer, options=options)


def _jsonable_options(options: Mapping[str, Any]) -> dict:
    """The device options given (None and False left out), as stored with the run."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in options.items()
            if v is not None and v is not False}


def run_log_path(store, run_id: str) -> Path:
    return store.log_dir / f"run-{run_id}.log"
