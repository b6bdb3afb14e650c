"""The runner contract: what every runner (Python, C++, Kotlin, Swift) takes and returns.

Both objects travel as JSON and are validated against `contract.schema.json` beside this file,
the one schema every runner implementation shares. Runners measure; they never compute
statistics (that is `harness.bench`), so a result carries every raw sample.

Schema versions (bump on any change, and say what changed):
  1  first version: request, result, device, energy and thermal blocks.
  2  the request names the runtime that runs the artifact (`runtime`, required: executorch,
     litert, onnxruntime, torch, coreml), and runners dispatch on it, never on the format name
     or the file suffix; the result repeats it. Results of version 1 still read (runtime "").
     Later, same version (the wire format did not change, and every result a runner wrote that
     was sound already passes): JSON is strict both ways (no NaN or Infinity tokens, no number
     out of a double's range); load_ms and first_inference_ms are >= 0 in the schema; and
     `result_problems` refuses what the schema cannot say (see there).
  3  numerics on the device: the request may name `check_inputs_path`, a file of raw
     little-endian float32 tensors of `input_shape` back to back (the same seeded inputs the
     harness checks every export with); the runner runs each once after its timed iterations
     and returns the first output of each in `check_outputs` ({shape, values}, a value that is
     not finite written as null). Results of versions 1 and 2 still read.
     Later, same version (optional fields a runner of before simply lacks): the result says who
     measured it (`measured_by`), the tail of its program's log (`log`) and what it found
     doubtful (`warnings`), where these once were context keys guessed at by presence
     (`executorch_runner`, `runner`, `worker_log`, `runner_log`, `runner_warnings`, still read
     from stored results); the context keys the harness reads are declared with their types
     (`$defs/ResultContext`) and checked where results enter.

What the schema cannot express is checked in Python: `result_problems` (numbers that cannot be
measurements) runs in `RunResult.from_dict`; `answer_mismatch` (a result for another cell than
the request asked) needs the request, so the harness calls it where results enter.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# ContractError, SCHEMA_PATH, schema and wire_types are this module's names too.
from device_runners.contract_wire import (  # noqa: F401
    SCHEMA_PATH,
    ContractError,
    dumps,
    is_finite,
    loads,
    schema,
    show_number,
    validate,
    wire_types,
)

SCHEMA_VERSION = 3

# Status values a result may carry.
STATUS_OK = "ok"
STATUS_UNSUPPORTED = "unsupported"
STATUS_EXPORT_FAILED = "export_failed"
STATUS_RUN_FAILED = "run_failed"
STATUSES = (STATUS_OK, STATUS_UNSUPPORTED, STATUS_EXPORT_FAILED, STATUS_RUN_FAILED)


def _from_dict(cls, data: dict):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class RunRequest:
    """One model in one format on one device: what to load and how to time it."""

    model: str
    format: str
    runtime: str  # which runtime runs the artifact; runners dispatch on this
    artifact_path: str
    artifact_sha256: str
    input_shape: tuple[int, ...]
    threads: int = 1
    cpu_affinity: tuple[int, ...] | None = None
    warmup_iterations: int = 10
    # Warm up until the running median settles (device_runners.timing); `warmup_iterations` is
    # then the minimum count. A runner that does not know this field warms up by count.
    warmup_until_settled: bool = False
    min_iterations: int = 50
    min_duration_s: float = 1.0
    max_iterations: int = 100_000
    max_duration_s: float = 120.0
    seed: int = 0
    timeout_s: float = 600.0
    backend: str = ""
    precision: str = "fp32"
    profile: bool = False
    # Inputs to run once after timing and return the outputs of (see the version notes); "" none.
    check_inputs_path: str = ""
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        if not self.runtime:
            raise ContractError("a request must name its runtime (executorch, litert, ...).")
        if self.threads < 1:
            raise ContractError("threads must be at least 1.")
        if self.min_iterations < 1 or self.max_iterations < self.min_iterations:
            raise ContractError("min_iterations must be >= 1 and <= max_iterations.")
        if self.min_duration_s < 0 or self.max_duration_s < self.min_duration_s:
            raise ContractError("min_duration_s must be >= 0 and <= max_duration_s.")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["cpu_affinity"] = list(self.cpu_affinity) if self.cpu_affinity is not None else None
        return d

    def to_json(self) -> str:
        return dumps("RunRequest", self.to_dict())

    @classmethod
    def from_dict(cls, data: dict) -> "RunRequest":
        validate("RunRequest", data)
        data = dict(data)
        data["input_shape"] = tuple(data["input_shape"])
        if data.get("cpu_affinity") is not None:
            data["cpu_affinity"] = tuple(data["cpu_affinity"])
        return _from_dict(cls, data)

    @classmethod
    def from_json(cls, text: str) -> "RunRequest":
        return cls.from_dict(loads("RunRequest", text))


@dataclass(frozen=True)
class DeviceInfo:
    """Where a result was measured; enough to tell two devices apart and to reproduce."""

    device_id: str
    platform: str  # linux, android, ios, macos
    product_model: str = ""
    soc: str = ""
    cpu: str = ""
    os_version: str = ""
    cpu_count: int = 0
    kind: str = "host"  # host, android, ios

    @classmethod
    def from_dict(cls, data: dict) -> "DeviceInfo":
        return _from_dict(cls, data)


@dataclass(frozen=True)
class EnergyInfo:
    """Energy of the timed iterations. `source == "none"` means not measured, never zero."""

    source: str = "none"  # none, rapl, odpm, battery, ios
    joules_per_inference: float | None = None
    joules_per_inference_uncertainty: float | None = None
    avg_power_w: float | None = None
    avg_power_w_uncertainty: float | None = None
    idle_power_w: float | None = None
    duration_s: float | None = None
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict) -> "EnergyInfo":
        data = dict(data)
        data["warnings"] = tuple(data.get("warnings", ()))
        return _from_dict(cls, data)


@dataclass(frozen=True)
class ThermalInfo:
    """Thermal state before and after a model; `before`/`after` are the device's own words."""

    before: str = "unknown"
    after: str = "unknown"
    max_temp_c_before: float | None = None
    max_temp_c_after: float | None = None
    throttled: bool = False
    waited_s: float = 0.0

    @classmethod
    def from_dict(cls, data: dict) -> "ThermalInfo":
        return _from_dict(cls, data)


@dataclass(frozen=True)
class CheckOutput:
    """The model's first output for one check input, flattened, as the runner computed it."""

    shape: tuple[int, ...]
    values: tuple[float | None, ...]  # None: a value that was not finite (JSON has no NaN)

    @classmethod
    def from_array(cls, array) -> "CheckOutput":
        flat = [float(v) for v in array.reshape(-1).tolist()]
        return cls(tuple(int(d) for d in array.shape),
                   tuple(v if math.isfinite(v) else None for v in flat))

    @classmethod
    def from_dict(cls, data: dict) -> "CheckOutput":
        return cls(tuple(data["shape"]), tuple(data["values"]))


@dataclass(frozen=True)
class RunResult:
    """What a runner returns: raw measurements and the context to reproduce them."""

    model: str
    format: str
    status: str
    device: DeviceInfo
    runtime: str = ""  # "" in results of contract version 1
    backend: str = ""
    precision: str = "fp32"
    artifact_sha256: str = ""
    runtime_versions: dict[str, str] = field(default_factory=dict)
    threads: int = 1
    cpu_affinity: tuple[int, ...] | None = None
    load_ms: float | None = None
    first_inference_ms: float | None = None
    warmup_samples_ms: tuple[float, ...] = ()
    samples_ms: tuple[float, ...] = ()
    peak_rss_load_kb: int | None = None
    peak_rss_inference_kb: int | None = None
    energy: EnergyInfo = field(default_factory=EnergyInfo)
    # Raw power/energy readings the runner took (idle window and timed window); the harness turns
    # them into `energy` with harness.energy, so every energy figure traces back to these.
    energy_samples: dict[str, Any] = field(default_factory=dict)
    thermal: ThermalInfo = field(default_factory=ThermalInfo)
    # Who measured (the program: "native runner", "Python worker", "benchmark_model", ...),
    # the last lines of its log (a failed trial's traceback), what it found doubtful.
    measured_by: str = ""
    log: str = ""
    warnings: tuple[str, ...] = ()
    context: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    # The outputs of the request's check inputs (version 3); the harness compares them with
    # eager PyTorch where the result enters and keeps the comparison, not the values.
    check_outputs: tuple[CheckOutput, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ContractError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}.")

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cpu_affinity"] = list(self.cpu_affinity) if self.cpu_affinity is not None else None
        d["warmup_samples_ms"] = list(self.warmup_samples_ms)
        d["samples_ms"] = list(self.samples_ms)
        d["warnings"] = list(self.warnings)
        d["energy"]["warnings"] = list(self.energy.warnings)
        d["check_outputs"] = [{"shape": list(c.shape), "values": list(c.values)}
                              for c in self.check_outputs]
        return d

    def to_json(self) -> str:
        return dumps("RunResult", self.to_dict())

    @classmethod
    def from_dict(cls, data: dict, check_problems: bool = True,
                  check_schema: bool = True) -> "RunResult":
        """The result `data` describes; raises ContractError if the schema (unless
        `check_schema` is False) or `result_problems` (unless `check_problems` is False) refuses
        it. Results admitted and stored earlier are read back with both off: they were checked
        where they entered, and must always read back."""
        if check_schema:
            validate("RunResult", data)
            validate("ResultContext", data.get("context") or {})  # the keys the harness reads
        data = dict(data)
        data["device"] = DeviceInfo.from_dict(data["device"])
        data["energy"] = EnergyInfo.from_dict(data.get("energy") or {})
        data["thermal"] = ThermalInfo.from_dict(data.get("thermal") or {})
        data["warmup_samples_ms"] = tuple(data.get("warmup_samples_ms") or ())
        data["samples_ms"] = tuple(data.get("samples_ms") or ())
        data["warnings"] = tuple(data.get("warnings") or ())
        data["check_outputs"] = tuple(CheckOutput.from_dict(c) for c in data.get("check_outputs") or ())
        if data.get("cpu_affinity") is not None:
            data["cpu_affinity"] = tuple(data["cpu_affinity"])
        result = _from_dict(cls, data)
        problems = result_problems(result) if check_problems else []
        if problems:
            detail = "; ".join(problems)
            raise ContractError(f"RunResult is invalid: {detail}", detail)
        return result

    @classmethod
    def from_json(cls, text: str) -> "RunResult":
        return cls.from_dict(loads("RunResult", text))

    @classmethod
    def failed(
        cls, request: RunRequest, device: DeviceInfo, status: str, error: str
    ) -> "RunResult":
        """A result for a cell that produced no measurement, with its reason."""
        return cls(
            model=request.model,
            format=request.format,
            status=status,
            device=device,
            runtime=request.runtime,
            backend=request.backend,
            precision=request.precision,
            artifact_sha256=request.artifact_sha256,
            threads=request.threads,
            cpu_affinity=request.cpu_affinity,
            error=error,
        )


# ----------------------------------------------------------------------------------------------
# What the schema cannot say

ENERGY_FIGURES = ("joules_per_inference", "joules_per_inference_uncertainty", "avg_power_w",
                  "avg_power_w_uncertainty", "idle_power_w", "duration_s")


def _bad_time(value: float) -> str | None:
    """What is wrong with a time in ms ("NaN", "-2 ms, below 0"), or None when it is sound."""
    if not is_finite(value):
        return show_number(value)
    return f"{value:g} ms, below 0" if value < 0 else None


def _series_problem(label: str, values: tuple[float, ...]) -> str | None:
    """One line on the NaN, infinite or negative values of a series, naming the first."""
    bad = [(i, why) for i, v in enumerate(values) if (why := _bad_time(v))]
    if not bad:
        return None
    i, why = bad[0]
    more = f" (and {len(bad) - 1} more of {len(values)} are NaN, infinite or negative)"
    return f"{label} {i + 1} is {why}" + (more if len(bad) > 1 else "")


def result_problems(result: RunResult) -> list[str]:
    """Why `result` cannot be a measurement, one short sentence a problem; [] when sound.

    An ok result needs a load time and a first-inference time, finite and >= 0 (or, in
    `context["not_measured"]`, the reason it has none); every sample,
    timed and warm-up, finite and >= 0; and timed samples that are not all 0 (a clock that did
    not advance). Any result's energy figures are finite where present. The schema checks the
    rest (types, required fields, samples >= 0), but not NaN: JSON has none, Python does.
    """
    problems = []
    # A runner that cannot measure a figure (XCTest reports no load time) says why in
    # context["not_measured"] = {field: why}; a figure missing without a reason is a problem.
    unmeasured = result.context.get("not_measured") or {}
    if result.ok:
        for name in ("load_ms", "first_inference_ms"):
            value = getattr(result, name)
            if value is None:
                if not unmeasured.get(name):
                    problems.append(f"{name} is missing")
            elif why := _bad_time(value):
                problems.append(f"{name} is {why}")
        for label, values in (("timed sample", result.samples_ms),
                              ("warm-up sample", result.warmup_samples_ms)):
            problem = _series_problem(label, values)
            if problem:
                problems.append(problem)
        n = len(result.samples_ms)
        if n == 0:
            problems.append("an ok result has no timed samples")
        elif all(v == 0 for v in result.samples_ms):
            what = "the only timed sample is" if n == 1 else f"all {n} timed samples are"
            problems.append(f"{what} 0 ms: the runner's clock did not advance")
    for name in ENERGY_FIGURES:
        value = getattr(result.energy, name)
        if value is not None and not is_finite(value):
            problems.append(f"energy {name} is {show_number(value)}")
    for i, output in enumerate(result.check_outputs, 1):
        size = math.prod(output.shape)
        if size != len(output.values):
            problems.append(f"check output {i} has {len(output.values)} values for shape "
                            f"{list(output.shape)}")
    return problems


def answer_mismatch(result: RunResult, request: RunRequest) -> str | None:
    """One sentence when `result` answers another cell than `request` asked for: another model,
    format or runtime (a version-1 result's runtime "" is not a mismatch). None when it matches.
    """
    pairs = [("model", result.model, request.model), ("format", result.format, request.format)]
    if result.runtime:
        pairs.append(("runtime", result.runtime, request.runtime))
    wrong = [f"{name} {got!r} where {asked!r} was asked"
             for name, got, asked in pairs if got != asked]
    if not wrong:
        return None
    return "the result is for another cell than the request: " + ", ".join(wrong)
