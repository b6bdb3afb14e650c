"""The measurement settings, declared once.

Every setting that decides how a cell is measured is one field of `MeasurementSettings`, and
its metadata says everything else about it: the `harness run` option (`cli`), the key under
farm.yaml's `settings:` (`farm`), the help text, its bounds, and the `RunRequest` field it
becomes (`request`). The click options (harness.cli.options.measurement_options), farm.yaml's
schema for `settings:` (`farm_settings_schema`) and the requests (`request`) are all derived
from these fields, and tests/test_settings.py holds the contract's own defaults to them, so no
copy can drift. `from_values` is the one place settings are made from outside values (the
command line, a farm.yaml, a farm task's JSON); every value is checked there, before any work.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from device_runners.contract import RunRequest
from harness.errors import UsageError


def setting(default, *, help: str, cli: str | None = None, farm: str | None = None,
            kind: str = "", minimum: float | None = None, request: str | None = None):
    """A field of MeasurementSettings with what the CLI, farm.yaml and the request call it.

    `kind` is "int", "float", "flag", "cpus" (a list of CPU numbers) or "duration" (seconds,
    or 10m, 90s, 1h), from the default's type when not given; `request` names the RunRequest
    field it becomes."""
    if not kind:
        kind = {bool: "flag", int: "int", float: "float"}[type(default)]
    return field(default=default, metadata={"help": help, "cli": cli, "farm": farm, "kind": kind,
                                            "minimum": minimum, "request": request})


@dataclass(frozen=True)
class MeasurementSettings:
    warmup_iterations: int = setting(
        10, cli="--warmup", farm="warmup", minimum=0, request="warmup_iterations",
        help="Warm-up iterations (the minimum, with --warmup-until-settled).")
    warmup_until_settled: bool = setting(
        False, cli="--warmup-until-settled", farm="warmup_until_settled",
        request="warmup_until_settled",
        help="Warm up until the running median of 10 iterations moves less than 2%.")
    min_iterations: int = setting(
        50, cli="--iterations", farm="iterations", minimum=1, request="min_iterations",
        help="Minimum timed iterations per trial.")
    min_duration_s: float = setting(
        1.0, cli="--min-time", farm="min_time", minimum=0, request="min_duration_s",
        help="Minimum seconds of timed iterations per trial.")
    # Bounds of one trial, whatever the minimums ask; not options (a trial must end).
    max_iterations: int = setting(100_000, minimum=1, request="max_iterations",
                                  help="Most timed iterations of one trial.")
    max_duration_s: float = setting(120.0, minimum=0, request="max_duration_s",
                                    help="Most seconds of timed iterations of one trial.")
    trials: int | str = setting(
        3, cli="--trials", farm="trials", minimum=1, kind="trials",
        help="Independent trials per cell (fresh process on the host, fresh load on a device), "
             "or auto: 3, then more until the interval between sessions is narrower than "
             "--target-ci, up to --max-trials.")
    max_trials: int = setting(
        10, cli="--max-trials", farm="max_trials", minimum=1,
        help="With --trials auto: at most this many trials per cell.")
    target_ci: float = setting(
        0.02, cli="--target-ci", farm="target_ci", minimum=0,
        help="With --trials auto: add trials until the cell's 95% interval between sessions is "
             "at most this fraction of its median (0.02: 2%).")
    interleave: bool = setting(
        False, cli="--interleave", farm="interleave",
        help="Alternate trials between cells (A, B, A, B...) so drift falls on all alike.")
    threads: int = setting(1, cli="--threads", farm="threads", minimum=1, request="threads",
                           help="Runtime threads.")
    cpu_affinity: tuple[int, ...] | None = setting(
        None, cli="--affinity", farm="affinity", kind="cpus", request="cpu_affinity",
        help="Pin to these CPUs, e.g. 0,1 (checked against the device before any work).")
    cooldown_s: float = setting(
        0.0, cli="--cooldown", farm="cooldown", minimum=0,
        help="Seconds to pause between models, before the device's thermal gate.")
    seed: int = setting(0, cli="--seed", farm="seed", request="seed",
                        help="Seed of the random weights and inputs.")
    # farm.yaml gives the timeout per cell (`cell: timeout:`), beside the cell's retries.
    timeout_s: float = setting(
        600.0, cli="--timeout", minimum=1, request="timeout_s",
        help="Seconds before one measurement, or building one model, is stopped.")
    export_timeout_s: float = setting(
        3600.0, cli="--export-timeout", farm="export_timeout", minimum=1,
        help="Seconds before one format's export (and numerics check) is stopped.")
    sustained_s: float | None = setting(
        None, cli="--sustained", farm="sustained", kind="duration", minimum=1,
        help="Measure each cell in one long trial of this long (10m, 90s, 600), in windows: "
             "time to the first throttle, steady-state against burst, energy in each "
             "(harness.bench.sustained). A cell of its own beside the burst one.")
    memory_limit_gib: float | None = setting(
        None, cli="--memory-limit", farm="memory_limit", kind="float", minimum=0,
        help="Memory one export process or one trial may map, GiB (default 80% of this "
             "machine's, shared by --jobs; 0: no limit).")

    def __post_init__(self):
        for f in fields(self):
            check_value(f, getattr(self, f.name), f"--{f.name}")
        if self.max_iterations < self.min_iterations:
            object.__setattr__(self, "max_iterations", self.min_iterations)
        if self.max_duration_s < self.min_duration_s:
            object.__setattr__(self, "max_duration_s", self.min_duration_s)

    # --- made from outside values, and given out ---------------------------------------------

    @classmethod
    def from_values(cls, values: Mapping[str, Any], where: str = "") -> "MeasurementSettings":
        """Settings from `values` by field name (the command line's, a farm task's JSON);
        missing ones keep their defaults, unknown names are refused. The one constructor that
        takes outside values: every value is checked (a UsageError naming it)."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise UsageError(f"{where or 'settings'}: no measurement setting {', '.join(unknown)}.")
        given = {}
        for name, value in values.items():
            if value is None:
                continue  # not given: the default
            given[name] = _coerce(known[name], value, _label(known[name], where))
        return cls(**given)

    @classmethod
    def from_farm(cls, section: Mapping[str, Any], source: str = "farm.yaml", **extra) -> "MeasurementSettings":
        """Settings from farm.yaml's `settings:` (by its keys), plus `extra` by field name."""
        by_key = {f.metadata["farm"]: f.name for f in fields(cls) if f.metadata["farm"]}
        values = {by_key[k]: v for k, v in section.items() if k in by_key}
        return cls.from_values({**values, **extra}, where=f"{source}: settings")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cpu_affinity"] = list(self.cpu_affinity) if self.cpu_affinity else None
        return d

    def with_(self, **changes) -> "MeasurementSettings":
        return replace(self, **changes)

    @property
    def adaptive(self) -> bool:
        """--trials auto: as many trials as the cell's spread asks for (harness.run)."""
        return self.trials == "auto" and not self.sustained_s

    @property
    def first_trials(self) -> int:
        """The trials every cell gets; with --trials auto, 3 (or --max-trials, if fewer); one
        long one with --sustained."""
        if self.sustained_s:
            return 1
        return min(3, self.max_trials) if self.adaptive else self.trials

    @property
    def trial_budget(self) -> int:
        """The most trials a cell can get: what timeouts and estimates plan for."""
        return max(self.max_trials, self.first_trials) if self.adaptive else self.first_trials

    @property
    def trial_seconds(self) -> float:
        """The timed seconds one trial asks for at least."""
        return self.sustained_s or self.min_duration_s

    @property
    def memory_limit_bytes(self) -> int | None:
        """What one process may map: the limit given (0: none), else 80% of this machine's."""
        if self.memory_limit_gib is None:
            from harness.export.isolated import default_memory_limit

            return default_memory_limit()
        return int(self.memory_limit_gib * 2**30) or None

    def child_limits(self, jobs: int = 1):
        """The limits of export children; the default memory is shared by `jobs` at once."""
        from harness.export.isolated import ChildLimits

        memory = self.memory_limit_bytes
        if self.memory_limit_gib is None and memory:
            memory //= jobs
        return ChildLimits(timeout_s=self.timeout_s, export_timeout_s=self.export_timeout_s,
                           memory_limit_bytes=memory)

    def request(self, *, model: str, format: str, runtime: str, artifact_path: str,
                artifact_sha256: str, input_shape: tuple[int, ...], backend: str = "",
                precision: str = "fp32", check_inputs_path: str = "") -> RunRequest:
        """The request of one trial: the cell's facts, and every setting a request carries."""
        carried = {f.metadata["request"]: getattr(self, f.name) for f in fields(self)
                   if f.metadata["request"]}
        if self.sustained_s:  # one trial of exactly that long, however fast the model
            carried.update(min_duration_s=self.sustained_s, max_duration_s=self.sustained_s,
                           max_iterations=SUSTAINED_MAX_ITERATIONS,
                           timeout_s=max(self.timeout_s, self.sustained_s * 1.2 + 120.0))
        return RunRequest(model=model, format=format, runtime=runtime, artifact_path=artifact_path,
                          artifact_sha256=artifact_sha256, input_shape=tuple(input_shape),
                          backend=backend, precision=precision, check_inputs_path=check_inputs_path,
                          **carried)


# --- checking values -------------------------------------------------------------------------


def _label(f, where: str) -> str:
    name = f.metadata["cli"] or f.name
    if where and f.metadata["farm"]:
        return f"{where}.{f.metadata['farm']}"
    return name


def parse_cpus(text) -> tuple[int, ...] | None:
    """CPU numbers from "0,1" (or a list); None for none. ValueError with a sentence."""
    if text is None or text == "" or text == []:
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        cpus = tuple(int(str(c).strip()) for c in items)
    except ValueError:
        raise ValueError("give CPU numbers separated by commas, e.g. 0,1") from None
    if min(cpus) < 0:
        raise ValueError("CPU numbers start at 0, e.g. 0,1")
    return cpus


DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
# A sustained trial is bounded by its duration, not a count: this is only a backstop.
SUSTAINED_MAX_ITERATIONS = 50_000_000


def parse_duration(text) -> float | None:
    """Seconds from 600, "600", "90s", "10m" or "1h"; None for none. ValueError with a sentence."""
    if text is None or text == "":
        return None
    if isinstance(text, bool):
        raise ValueError("give a duration such as 10m, 90s or 600")
    if isinstance(text, (int, float)):
        return float(text)
    spoken = str(text).strip().lower()
    unit = DURATION_UNITS.get(spoken[-1:], None)
    try:
        return float(spoken[:-1] if unit else spoken) * (unit or 1.0)
    except ValueError:
        raise ValueError("give a duration such as 10m, 90s or 600") from None


def _coerce(f, value, label: str):
    kind = f.metadata["kind"]
    try:
        if kind == "cpus":
            return parse_cpus(value)
        if kind == "duration":
            return parse_duration(value)
        if kind == "trials":
            if isinstance(value, str) and value.strip().lower() == "auto":
                return "auto"
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError("give a whole number, or auto")
            number = float(value)
            if not math.isfinite(number) or number != int(number):
                raise ValueError("give a whole number, or auto")
            return int(number)
        if kind == "flag":
            if not isinstance(value, bool):
                raise ValueError("give true or false")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("give a number")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError("give a finite number")
        if kind == "int":
            if number != int(number):
                raise ValueError("give a whole number")
            return int(number)
        return number
    except ValueError as exc:
        raise UsageError(f"{label} {value!r}: {exc}.") from None


def check_value(f, value, label: str) -> None:
    """A value within its setting's bounds and finite; UsageError naming it otherwise."""
    if value is None or f.metadata["kind"] in ("flag", "cpus") or value == "auto":
        return
    label = f.metadata["cli"] or label
    if not math.isfinite(value):
        raise UsageError(f"{label} {value}: give a finite number.")
    minimum = f.metadata["minimum"]
    if minimum is not None and value < minimum:
        raise UsageError(f"{label} {value:g} is below its minimum of {minimum:g}.")


# --- what the other declarations derive ------------------------------------------------------


def setting_fields():
    return fields(MeasurementSettings)


def cli_fields():
    """The settings `harness run` takes as options, in declaration order."""
    return [f for f in fields(MeasurementSettings) if f.metadata["cli"]]


def farm_settings_schema() -> dict:
    """The JSON schema of farm.yaml's measurement keys under `settings:`."""
    types = {"int": "integer", "float": "number", "flag": "boolean", "trials": "integer",
             "duration": "number"}
    properties = {}
    for f in fields(MeasurementSettings):
        key, kind = f.metadata["farm"], f.metadata["kind"]
        if not key:
            continue
        if kind == "cpus":
            properties[key] = {"type": "array", "items": {"type": "integer", "minimum": 0},
                               "minItems": 1, "description": f.metadata["help"]}
            continue
        schema = {"type": types[kind], "description": f.metadata["help"]}
        if f.metadata["minimum"] is not None:
            schema["minimum"] = f.metadata["minimum"]
        if kind == "trials":
            schema = {"oneOf": [schema, {"const": "auto"}], "description": f.metadata["help"]}
        if kind == "duration":
            schema = {"oneOf": [{"type": "number", "minimum": f.metadata["minimum"]},
                                {"type": "string", "pattern": r"^\s*[0-9.]+\s*[smhSMH]?\s*$"},
                                {"type": "null"}],
                      "description": f.metadata["help"]}
        if kind == "float" and f.default is None:
            schema = {"type": ["number", "null"], **{k: v for k, v in schema.items() if k != "type"}}
        properties[key] = schema
    return properties


def defaults() -> dict:
    return {f.name: f.default for f in fields(MeasurementSettings) if f.default is not MISSING}
