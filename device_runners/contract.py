"""The runner contract: what every runner (Python, C++, Kotlin, Swift) takes and returns.

Both objects travel as JSON and are validated against `contract.schema.json` beside this file,
the one schema every runner implementation shares. Runners measure; they never compute
statistics (that is `harness.bench`), so a result carries every raw sample.

Schema versions (bump on any change, and say what changed):
  1  first version: request, result, device, energy and thermal blocks.
  2  the request names the runtime that runs the artifact (`runtime`, required: executorch,
     litert, onnxruntime, torch, coreml), and runners dispatch on it, never on the format name
     or the file suffix; the result repeats it. Results of version 1 still read (runtime "").
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from device_runners.errors import DeviceError

SCHEMA_VERSION = 2
SCHEMA_PATH = Path(__file__).with_name("contract.schema.json")

# Status values a result may carry.
STATUS_OK = "ok"
STATUS_UNSUPPORTED = "unsupported"
STATUS_EXPORT_FAILED = "export_failed"
STATUS_RUN_FAILED = "run_failed"
STATUSES = (STATUS_OK, STATUS_UNSUPPORTED, STATUS_EXPORT_FAILED, STATUS_RUN_FAILED)


class ContractError(DeviceError):
    """A request or result does not match the schema."""


@lru_cache(maxsize=1)
def _schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validate(kind: str, data: dict) -> None:
    """Validate `data` against the schema's definition `kind` ("RunRequest" or "RunResult")."""
    import jsonschema

    schema = dict(_schema())
    schema["$ref"] = f"#/$defs/{kind}"
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ContractError(f"{kind} is invalid at {where}: {exc.message}") from None


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
    min_duration_s: float = 2.0
    max_iterations: int = 100_000
    max_duration_s: float = 120.0
    seed: int = 0
    timeout_s: float = 600.0
    backend: str = ""
    precision: str = "fp32"
    profile: bool = False
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
        return json.dumps(self.to_dict())

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
        return cls.from_dict(json.loads(text))


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
    context: dict[str, Any] = field(default_factory=dict)
    error: str = ""
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
        d["energy"]["warnings"] = list(self.energy.warnings)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict) -> "RunResult":
        validate("RunResult", data)
        data = dict(data)
        data["device"] = DeviceInfo.from_dict(data["device"])
        data["energy"] = EnergyInfo.from_dict(data.get("energy") or {})
        data["thermal"] = ThermalInfo.from_dict(data.get("thermal") or {})
        data["warmup_samples_ms"] = tuple(data.get("warmup_samples_ms") or ())
        data["samples_ms"] = tuple(data.get("samples_ms") or ())
        if data.get("cpu_affinity") is not None:
            data["cpu_affinity"] = tuple(data["cpu_affinity"])
        return _from_dict(cls, data)

    @classmethod
    def from_json(cls, text: str) -> "RunResult":
        return cls.from_dict(json.loads(text))

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
