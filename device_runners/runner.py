"""The seam between the harness and every kind of device: the `Runner` protocol and the
`DeviceKind` descriptor each kind exports.

A kind of device (this host, Android phones, later iPhones) is one package beside this module.
It exports one `DeviceKind`: how to list its devices, how a `--device` string matches one, how
to open a runner for it, and the CLI options only it takes. The harness keeps a list of these
descriptors (harness/devices.py) and never asks which kind a runner is: it asks the runner.

What the harness asks a runner, in the order of a run:

    runtimes()        which runtimes (executorch, litert, onnxruntime, torch, coreml) it can run
                      now, with the delegates each lacks, and why the others cannot run. Decided
                      when asked (installed packages, the platform, the tools given), never frozen
                      into an artifact or a format.
    variants(rt)      the variants of a runtime it offers, each measured as a cell of its own
                      (Core ML compute units on a Mac; later GPU or NPU delegates); () = one way.
    prepare(artifact) make an artifact ready before its first trial (push it to a phone, copy it
                      into an app's container). Faults are not raised: the trial reports them.
    gate()            before each model: the fixed cooldown pause (between models only) and the
                      wait until the device is cool, as one `GateReport`.
    run(request)      one trial, always a `RunResult` (a lost device is a failed result).
    close()           remove what the run left on the device.

Every thermal wait goes through `pass_gate`, whatever reads the temperature.
"""

from __future__ import annotations

import dataclasses
import time
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from device_runners.contract import DeviceInfo, RunRequest, RunResult
from device_runners.sensors.thermal import ThermalReading

# Runtimes a format may name. A runner may offer others; these are the ones the harness exports to.
RUNTIMES = ("executorch", "litert", "onnxruntime", "torch", "coreml")

# Thermal words that mean "no pressure": Android's status "none", iOS's state "nominal", and
# "unknown" where the device has no such word (Linux hosts, old phones: then only the
# temperature decides).
COOL_STATES = ("none", "nominal", "unknown")
GATE_POLL_S = 1.0


@dataclass(frozen=True)
class ArtifactFile:
    """What a runner needs to know of an artifact to stage it: the file and who runs it."""

    path: str
    sha256: str
    runtime: str
    format: str
    check_inputs_path: str = ""  # the check inputs to stage beside it (contract version 3)


@dataclass(frozen=True)
class RuntimeSupport:
    """The runtimes a runner can run right now, and one line on why each other one cannot.

    `missing_backends` names delegates an available runtime lacks here (ExecuTorch's Core ML
    delegate off Apple platforms). A backend not named there is assumed present: the runtime
    itself says so at load time if it is not.
    """

    available: frozenset[str]
    missing: Mapping[str, str] = field(default_factory=dict)
    missing_backends: Mapping[tuple[str, str], str] = field(default_factory=dict)
    device_label: str = "this device"

    def why_not(self, runtime: str, backend: str = "") -> str | None:
        """None when `runtime` (with `backend`) runs here, else the reason in one line."""
        if runtime not in self.available:
            return self.missing.get(runtime) or f"{self.device_label} has no {runtime} runtime"
        return self.missing_backends.get((runtime, backend))


@dataclass(frozen=True)
class GateReport:
    """What one pass through the cooldown and the thermal gate did."""

    waited_s: float  # everything: the fixed pause and the wait for the temperature
    state: str  # the device's thermal word when the gate opened or gave up ("unknown": none)
    hottest_c: float | None  # the hottest sensor then; None where there are none
    threshold_c: float
    timed_out: bool
    error: str = ""  # why the temperature could not be read, when it could not

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def pass_gate(
    read: Callable[[], ThermalReading],
    threshold_c: float,
    timeout_s: float,
    *,
    pause_s: float = 0.0,
    poll_s: float = GATE_POLL_S,
    cool_states: tuple[str, ...] = COOL_STATES,
    read_errors: tuple[type[BaseException], ...] = (),
) -> GateReport:
    """Sleep `pause_s`, then wait until the device is cool: its thermal word is one of
    `cool_states` and its hottest sensor is under `threshold_c` (a device without sensors is
    cool at once). Gives up after `timeout_s` of waiting and says so. An exception of
    `read_errors` from `read` ends the gate with the error in the report instead of raising:
    the next trial is the one to report a device that went away.
    """
    start = time.monotonic()
    if pause_s > 0:
        time.sleep(pause_s)
    waiting_since = time.monotonic()
    while True:
        try:
            reading = read()
        except read_errors as exc:
            return GateReport(time.monotonic() - start, "unknown", None, threshold_c,
                              timed_out=True, error=str(exc) or type(exc).__name__)
        hottest = reading.max_temp_c
        cool = reading.state in cool_states and (hottest is None or hottest < threshold_c)
        waited = time.monotonic() - waiting_since
        if cool or waited >= timeout_s:
            return GateReport(time.monotonic() - start, reading.state, hottest, threshold_c,
                              timed_out=not cool)
        time.sleep(min(poll_s, max(0.0, timeout_s - waited)))


def attach_gate(result: RunResult, gate: GateReport | None) -> RunResult:
    """The result of the first trial after a gate, carrying how long the gate held it back."""
    if gate is None:
        return result
    return dataclasses.replace(
        result,
        context={**result.context, "thermal_gate": gate.to_dict()},
        thermal=dataclasses.replace(result.thermal, waited_s=gate.waited_s),
    )


class Runner(Protocol):
    """Drives one device; see the module docstring for the order the harness calls it in.

    Runners subclass this to inherit the defaults of the optional methods; anything with the
    same methods and a `device` attribute serves as well.
    """

    device: DeviceInfo

    @abstractmethod
    def runtimes(self) -> RuntimeSupport:
        """The runtimes this device can run now."""

    def variants(self, runtime: str) -> tuple[str, ...]:
        """Backends of `runtime` measured one cell each (`coreml:cpu_and_ne`); () = as built."""
        return ()

    def prepare(self, artifact: ArtifactFile) -> None:
        """Make the artifact ready on the device before its first trial; never raises."""

    @abstractmethod
    def run(self, request: RunRequest) -> RunResult:
        """One trial; a fault becomes a failed result, never an exception."""

    @abstractmethod
    def gate(self) -> GateReport:
        """Before a model: the cooldown pause (not before the first), then the thermal wait."""

    def close(self) -> None:
        """Remove what the run left on the device."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ----------------------------------------------------------------------------------------------
# The descriptor a kind exports


@dataclass(frozen=True)
class DeviceOption:
    """A `harness run` option only one kind takes; the CLI builds the click option from it.

    `type` is "path" (a file, or a directory such as an .app bundle), "dir" (a directory only),
    "float" (with optional `minimum`/`maximum`), "flag", "choice"
    (one of `choices`) or "text". The default is always None (or False for a flag): the
    runner's own default applies then. Kinds may declare the same option (same flag, dest and
    help: phones' --min-battery); the CLI shows it once and gives it to each.
    """

    flag: str  # --native-runner
    dest: str  # the keyword the kind's `open_runner` receives: native_runner
    help: str
    type: str = "float"
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class SetupStep:
    """One step of setting a kind of device up on this host: done (saying where), or not done
    (saying what to do)."""

    name: str
    done: bool
    line: str


@dataclass(frozen=True)
class KindSetup:
    """`harness setup <kind>`: what this host needs to drive the kind's devices (tools built or
    fetched), with the kind's own options (by dest, None when not given). Every step runs; one
    that cannot be done does not stop the others."""

    description: str
    options: tuple[DeviceOption, ...]
    run: Callable[[Mapping[str, Any]], list[SetupStep]]


@dataclass(frozen=True)
class RunnerSettings:
    """What every kind's runner is opened with, whatever its own options."""

    cooldown_s: float = 0.0  # the pause between models, before the thermal wait
    # What one measurement process may map (RLIMIT_AS) where the runner starts processes of
    # its own (the host); None: no limit. A phone's runner leaves the phone's limits alone.
    memory_limit_bytes: int | None = None


@dataclass(frozen=True)
class AttachedDevice:
    """One device a kind sees, with a line on how it is right now, for `harness devices`."""

    info: DeviceInfo
    state: str = ""  # battery and heat, or what stops the device from being used
    label: str = ""  # how error messages name it: "SERIAL (Pixel 7)"; default the device id
    # Whether this host has what the device needs ("ready"), or what is missing and the fix.
    ready: str = "ready"

    def __post_init__(self):
        if not self.label:
            object.__setattr__(self, "label", self.info.device_id)


@dataclass(frozen=True)
class DeviceProvider:
    """A service that lends devices of a kind for a while (a lab's STF, AWS Device Farm).

    `open_runner(spec, settings, options)` borrows the device `spec` describes (farm.yaml's
    `provider: {<name>: spec}`) and returns its runner; closing the runner gives the device
    back. A device that cannot be lent raises a `DeviceError` with one line.
    """

    name: str  # the key under `provider:` in farm.yaml: stf, aws_device_farm
    description: str
    open_runner: Callable[[Mapping[str, Any], RunnerSettings, Mapping[str, Any]], Runner]
    required: tuple[str, ...] = ()  # keys the spec must have, checked before anything is borrowed


@dataclass(frozen=True)
class DeviceKind:
    """Everything the harness needs to know of one kind of device.

    `list_devices()` returns what is attached ([] when the kind's tooling is absent).
    `open_runner(name, settings, options)` returns a ready runner when `name` means one of
    this kind's devices, None when it means none of them, and raises `NoSuchDevice` when the
    name is this kind's (a catalog name) but no such device is attached, or another
    `DeviceError` when the device cannot be used. `options` holds only this kind's options
    that the user gave, by `DeviceOption.dest`. `no_devices_hint()`, when given, says in one
    line why the kind has no device and how to attach one.
    """

    name: str
    description: str
    list_devices: Callable[[], list[AttachedDevice]]
    open_runner: Callable[[str, RunnerSettings, Mapping[str, Any]], Runner | None]
    options: tuple[DeviceOption, ...] = ()
    # One line `harness devices` prints when the kind lists no device: why none, and how to
    # attach one ("no adb server at 127.0.0.1:5037: start one with `adb start-server`").
    no_devices_hint: Callable[[], str] | None = None
    # Services that lend this kind's devices (farm.yaml's `provider:`).
    providers: tuple[DeviceProvider, ...] = ()
    # `harness setup <kind>`: the tools this host needs for the kind, built or fetched.
    setup: KindSetup | None = None
    # The other names a device this kind knows by `name` ("iPhone 12") records as its model
    # (product types, `ro.product.model`s): what a paper's device class is matched against.
    also_known_as: Callable[[str], tuple[str, ...]] | None = None
    # The native runner's build targets this kind's devices run (`harness build-runner`).
    build_targets: tuple[str, ...] = ()
