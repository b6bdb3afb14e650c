"""farm.yaml: what a farm measures every night, where, and what counts as a regression.

The file is checked against farm.schema.json before anything runs; the first problem is one line
with its key path (`farm.yaml: settings.threads: 0 is less than the minimum of 1`). Unknown keys
are errors, not ignored: a misspelt `retries` must not silently mean no retries. docs/farm.md
shows a whole file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from harness.bench.settings import MeasurementSettings, farm_settings_schema
from harness.data_shape import ShapeProblem, check_shape
from harness.errors import UsageError
from harness.placement.contracts import ContractError, Expectation, parse_expectations

SCHEMA_PATH = Path(__file__).with_name("farm.schema.json")
DEFAULT_FORMATS = ("executorch", "tflite")
# A farm run's name (`--run`, or NAME-YYYYMMDD) names directories (the reports' `OUT/RUN/`) and
# runs (`RUN-DEVICE`), and arrives in task messages: a name, never a path.
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class FarmConfigError(UsageError):
    """farm.yaml cannot be used; the message is one line naming the key (exit code 2)."""


@dataclass(frozen=True)
class FarmDevice:
    name: str
    options: dict[str, Any] = field(default_factory=dict)  # by flag, as `harness run` takes them
    # A service that lends the device (device_runners.runner.DeviceProvider): (name, spec).
    provider: tuple[str, dict] | None = None

    @property
    def slug(self) -> str:
        """The device's part of a run id and of a queue name: letters, digits, - and _ only."""
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in self.name)


@dataclass(frozen=True)
class FarmConfig:
    name: str
    devices: tuple[FarmDevice, ...]
    models: str  # a selector as --models takes it: names, families, all
    formats: str
    # How every cell is measured: `settings:` (harness.bench.settings), its timeout from `cell:`.
    settings: MeasurementSettings = field(default_factory=MeasurementSettings)
    jobs: int | None = None  # exports at once; None: one per core
    retries: int = 1
    visibility_timeout_s: float | None = None  # None: computed from the cell timeout (queue.py)
    min_battery: float | None = None
    thermal_gate: float | None = None
    thermal_timeout: float | None = None
    quarantine_after: int = 3
    rolling: int = 5  # the baseline: the last K runs of this farm on the device ...
    baseline_run: str | None = None  # ... or this stored run
    threshold: float = 0.05
    alpha: float = 0.01
    db: str | None = None
    cache: str | None = None
    out: str = "results/farm"
    webhook: str | None = None
    webhook_timeout_s: float = 10.0
    broker: str | None = None
    # Delegation contracts on each cell's placement map (harness.placement.contracts).
    expect: tuple[Expectation, ...] = ()
    source: str = "farm.yaml"  # the file it came from, for messages

    def health_options(self) -> dict[str, Any]:
        """The health rules as device options (by dest): the phones among the devices take them."""
        options = {"min_battery_pct": self.min_battery, "gate_c": self.thermal_gate,
                   "gate_timeout_s": self.thermal_timeout}
        return {k: v for k, v in options.items() if v is not None}

    @property
    def cell_timeout_s(self) -> float:
        return self.settings.timeout_s

    def to_dict(self) -> dict:
        """What is stored with each run it makes (and compared when a farm run is continued);
        the settings themselves are stored with every run as `config["bench"]`."""
        return {"name": self.name, "models": self.models, "formats": self.formats,
                "devices": [d.name for d in self.devices], "retries": self.retries}


def check_run_name(name: str) -> str:
    """`name` when it can name a farm run; FarmConfigError (a usage error) otherwise."""
    if not isinstance(name, str) or not RUN_NAME.match(name):
        raise FarmConfigError(f"--run {name!r}: a farm run's name is up to 100 letters, digits, "
                              "'.', '_' and '-', starting with a letter or digit (it names "
                              "directories and runs, never a path).")
    return name


def _key_path(error: jsonschema.ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _selector(value: str | list[str] | None, default: tuple[str, ...] = ()) -> str:
    if value is None:
        return ",".join(default)
    return value if isinstance(value, str) else ",".join(value)


def farm_schema() -> dict:
    """farm.schema.json, with the measurement keys of `settings:` from their one declaration."""
    schema = json.loads(SCHEMA_PATH.read_text())
    schema["properties"]["settings"]["properties"].update(farm_settings_schema())
    return schema


def parse_farm(data: Any, source: str = "farm.yaml") -> FarmConfig:
    """A FarmConfig from farm.yaml's data; FarmConfigError naming the first problem."""
    try:
        check_shape(data)  # text keys and finite numbers, before the schema compares them
    except ShapeProblem as problem:
        raise FarmConfigError(f"{source}: {problem}.") from None
    schema = farm_schema()
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data),
                    key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        message = error.message
        if error.validator == "not" and error.validator_value == {"required": ["rolling", "run"]}:
            message = "give either rolling or run, not both"
        raise FarmConfigError(f"{source}: {_key_path(error)}: {message}.")
    settings, cell, health = data.get("settings", {}), data.get("cell", {}), data.get("health", {})
    baseline, results, notify = data.get("baseline", {}), data.get("results", {}), data.get("notify", {})
    devices = tuple(FarmDevice(d["name"], dict(d.get("options", {})),
                               next(iter(d["provider"].items())) if d.get("provider") else None)
                    for d in data["devices"])
    _check_providers(devices, source)
    try:
        measuring = MeasurementSettings.from_farm(settings, source, timeout_s=cell.get("timeout"))
    except UsageError as exc:
        raise FarmConfigError(str(exc)) from None
    longest = measuring.timeout_s * measuring.trial_budget * (1 + cell.get("retries", 1))
    if cell.get("visibility_timeout") is not None and cell["visibility_timeout"] <= longest:
        raise FarmConfigError(
            f"{source}: cell.visibility_timeout: {cell['visibility_timeout']:g} s is not above the "
            f"longest cell ({longest:g} s: timeout x trials x (1 + retries)); a slow cell would be "
            "given to a second worker.")
    try:
        expect = parse_expectations(data.get("expect"), source)
    except ContractError as exc:
        raise FarmConfigError(f"{exc}.") from None
    unknown = sorted({e.device for e in expect if e.device} - {d.name for d in devices})
    if unknown:
        raise FarmConfigError(f"{source}: expect: no device {unknown[0]!r} among devices.")
    slugs = [d.slug for d in devices]
    if len(set(slugs)) != len(slugs):
        twice = next(s for s in slugs if slugs.count(s) > 1)
        raise FarmConfigError(f"{source}: devices: {twice!r} is listed twice.")
    return FarmConfig(
        name=data["name"], devices=devices, models=_selector(data["models"]),
        formats=_selector(data.get("formats"), DEFAULT_FORMATS), settings=measuring,
        jobs=settings.get("jobs"), retries=cell.get("retries", 1),
        visibility_timeout_s=cell.get("visibility_timeout"),
        min_battery=health.get("min_battery"), thermal_gate=health.get("thermal_gate"),
        thermal_timeout=health.get("thermal_timeout"),
        quarantine_after=health.get("quarantine_after", 3),
        rolling=baseline.get("rolling", 5), baseline_run=baseline.get("run"),
        threshold=baseline.get("threshold", 0.05), alpha=baseline.get("alpha", 0.01),
        db=results.get("db"), cache=results.get("cache"), out=results.get("out", "results/farm"),
        webhook=notify.get("webhook"), webhook_timeout_s=notify.get("timeout", 10.0),
        broker=data.get("broker"), expect=expect, source=source,
    )


def _check_providers(devices: tuple[FarmDevice, ...], source: str) -> None:
    from harness.devices import KINDS

    known = {p.name: p for kind in KINDS for p in kind.providers}
    for index, device in enumerate(devices):
        if device.provider is None:
            continue
        name, spec = device.provider
        if name not in known:
            raise FarmConfigError(f"{source}: devices[{index}].provider: no provider {name!r}; "
                                  f"known: {', '.join(sorted(known))}.")
        missing = [key for key in known[name].required if key not in spec]
        if missing:
            raise FarmConfigError(f"{source}: devices[{index}].provider.{name}: "
                                  f"{', '.join(map(repr, missing))} {'is' if len(missing) == 1 else 'are'} "
                                  "required.")


def load_farm(path: str | Path) -> FarmConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise FarmConfigError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FarmConfigError(f"{path}:{where}: not YAML: {problem}.") from None
    if not isinstance(data, dict):
        raise FarmConfigError(f"{path}: a farm file is a mapping with name, devices and models "
                              "(docs/farm.md).")
    return parse_farm(data, str(path))
