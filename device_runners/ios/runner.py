"""The iOS runner: an iPhone driven through a transport and the benchmark app (ios_app/).

    open      check the phone can be used (paired, Developer Mode, unlocked), install the app
              when `app` is given, and ask it for its status: the runtimes it was built with,
              its thermal state, the battery (refused below `min_battery_pct` unless charging)
    prepare   copy an artifact (every file of an .mlpackage) and the check inputs into the
              app's Documents, once per session (protocol.py has the layout)
    gate      before each model: the pause (between models only), then status requests until
              the app reports the thermal state "nominal" and the battery (its
              temperature from pymobiledevice3's readings; devicectl has none) is under `gate_c`
    run       write the request, launch the app with it (terminating any running instance),
              poll for the `.done` marker, read the result back; with pymobiledevice3, the
              battery's readings around it give the energy (energy.py)
    close     nothing: artifacts stay for the next run; the app deletes each request, and its
              results (a few kB each) stay in Documents until the app is reinstalled

Faults a user can fix (not paired, Developer Mode off, locked, app not installed, tunnel down:
one line each, transport.py) do not stop a run: `open` keeps the line, and every trial is a
`run_failed` result saying it until the phone answers again (each trial asks once more), so a
farm stores one row per cell and moves on. Only a low battery refuses the run at `open`, before
anything is stored, as on Android.
Optionally (`xctest`) trials run as the team's own XCTest performance tests (xctest.py).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import time
from pathlib import Path

from device_runners.contract import (
    STATUS_RUN_FAILED,
    STATUS_UNSUPPORTED,
    ContractError,
    DeviceInfo,
    RunRequest,
    RunResult,
    ThermalInfo,
)
from device_runners.host.runtimes import COREML_COMPUTE_UNITS
from device_runners.ios import protocol
from device_runners.ios.health import health_warnings, snapshot
from device_runners.ios.catalog import load_catalog
from device_runners.ios.energy import BatteryRecorder, energy_samples
from device_runners.ios.transport import IosDevice, IosDeviceError, MissingFile, Transport
from device_runners.runner import ArtifactFile, GateReport, Runner, RuntimeSupport, pass_gate
from device_runners.sensors import ThermalReading, no_energy_samples

logger = logging.getLogger(__name__)

APP_RUNTIMES = ("coreml", "executorch", "litert")
MIN_BATTERY_PCT = 20
# The gate: ProcessInfo's "nominal" and a battery under this temperature. iPhones idle at 25-32
# °C battery temperature; 35 °C leaves room before iOS itself starts shedding heat.
THERMAL_GATE_C = 35.0
THERMAL_GATE_TIMEOUT_S = 180.0
THERMAL_POLL_S = 5.0  # each reading launches the app: not every second
POLL_S = 0.5
# How often a wait asks whether the launched app still runs (each ask is a devicectl command).
PROCESS_CHECK_S = 2.0
STATUS_TIMEOUT_S = 60.0
STATUS_FRESH_S = 5.0  # a status this recent (the gate's) serves as the health before a trial
# Time a trial may take beyond the request's own timeout: launching the app, copying files.
SLACK_S = 60.0


def describe(device: IosDevice) -> DeviceInfo:
    """The device as results record it: the catalog's name for a product type it knows, else
    the name the device reports for its model (marketingName: "iPad mini (5th generation)")."""
    spec = load_catalog().for_product_type(device.product_type)
    return DeviceInfo(
        device_id=device.udid,
        platform="ios",
        product_model=(spec.name if spec else device.marketing_name or device.product_type
                       or device.name),
        soc=spec.soc.name if spec else "",
        cpu=spec.soc.describe_cpu() if spec else "",
        os_version=f"iOS {device.os_version}" if device.os_version else "",
        cpu_count=spec.soc.core_count if spec else 0,
        kind="ios",
    )


class IosRunner(Runner):
    """Runs artifacts on one iPhone through `transport` (see the module docstring)."""

    def __init__(self, transport: Transport, device: IosDevice, *, bundle_id: str = protocol.DEFAULT_BUNDLE_ID,
                 app: str | Path | None = None, cooldown_s: float = 0.0, gate_c: float = THERMAL_GATE_C,
                 gate_timeout_s: float = THERMAL_GATE_TIMEOUT_S, min_battery_pct: float = MIN_BATTERY_PCT,
                 energy: bool = True, poll_s: float = POLL_S, xctest=None):
        if min(cooldown_s, gate_timeout_s) < 0 or poll_s <= 0:
            raise IosDeviceError("Cooldown and timeouts cannot be negative, the poll interval must be positive.")
        self.transport = transport
        self.phone = device
        self.device = describe(device)
        self.bundle_id = bundle_id
        self.app = Path(app) if app else None
        self.cooldown_s = cooldown_s
        self.gate_c = gate_c
        self.gate_timeout_s = gate_timeout_s
        self.min_battery_pct = min_battery_pct
        self.energy = energy
        self.poll_s = poll_s
        self.xctest = xctest
        self.status: dict = {}
        self._last_status: dict = {}
        self._status_at: float | None = None
        self.problem = ""  # why the phone cannot be used right now, when it cannot
        self._pushed: dict[str, str] = {}  # phone path -> sha256 pushed this session
        self._notes: list[str] = []
        self._ran_a_trial = False

    @property
    def label(self) -> str:
        return f"{self.device.product_model} ({self.phone.udid})"

    # -- open -----------------------------------------------------------------------------------

    def open(self) -> None:
        """Install the app if asked and read its status; a phone that cannot be used keeps the
        reason (see the module docstring), a low battery refuses the run."""
        try:
            self._connect()
        except IosDeviceError as exc:
            self.problem = str(exc)
            logger.warning("%s: %s", self.label, exc)
            return
        level = float(self.status.get("battery_level", -1))
        charging = self.status.get("battery_state") in ("charging", "full")
        if 0 <= level * 100 < self.min_battery_pct and not charging:
            raise IosDeviceError(f"{self.label}'s battery is at {level * 100:.0f}%, below "
                                 f"{self.min_battery_pct:g}%: charge it first, or pass --min-battery 0.")

    def _connect(self) -> None:
        if self.phone.problem:
            raise IosDeviceError(self.phone.problem)
        if self.app is not None:
            record = self.transport.install(self.phone.udid, self.app, self.bundle_id)
            if not record and self.bundle_id not in self.transport.installed_apps(self.phone.udid):
                raise IosDeviceError(f"Installing {self.app.name} on {self.label} left no "
                                     f"{self.bundle_id}: check the app's bundle identifier "
                                     "(--ios-bundle-id).")
            self._notes.append(f"installed {self.app.name}"
                               + (f" at {record['installationURL']}" if record else ""))
            self.app = None  # once per session
        elif self.bundle_id not in self.transport.installed_apps(self.phone.udid):
            from device_runners.ios.transport import app_not_installed

            raise app_not_installed(self.label, self.bundle_id)
        self.status = self._ask_status()
        self.problem = ""

    def _ask_status(self) -> dict:
        self._last_status = self._read_status()
        self._status_at = time.monotonic()
        return self._last_status

    def _read_status(self) -> dict:
        probe = protocol.new_trial()
        pid = self.transport.launch(self.phone.udid, self.bundle_id,
                                    [protocol.STATUS_ARG, protocol.status_path(probe)])
        self._wait(protocol.status_done_path(probe), STATUS_TIMEOUT_S, "its status", pid)
        try:
            return json.loads(self._pull_text(protocol.status_path(probe)))
        except ValueError as exc:
            raise IosDeviceError(f"The benchmark app on {self.label} wrote an unreadable status: {exc}") from None

    # -- what runs here -------------------------------------------------------------------------

    def runtimes(self) -> RuntimeSupport:
        """The runtimes the installed app was built with (its status says). While the phone
        cannot answer, every runtime the app can have counts, so each cell gets a trial that
        says why the phone cannot be used, rather than an "unsupported" that would hide it."""
        built = set(self.status.get("runtimes") or {}) if not self.problem else set(APP_RUNTIMES)
        available = {r for r in APP_RUNTIMES if r in built}
        missing = {r: f"the benchmark app on {self.label} was built without {r}" for r in APP_RUNTIMES
                   if r not in built}
        missing.update({r: f"the harness runs coreml, executorch and litert on iPhones, not {r}"
                        for r in ("onnxruntime", "torch")})
        android_only = {("executorch", "vulkan"): "the Vulkan delegate runs on Android GPUs, not on "
                                                  "iPhones (ExecuTorch's Core ML or MPS delegates do)"}
        return RuntimeSupport(frozenset(available), missing, android_only, device_label=self.label)

    def variants(self, runtime: str) -> tuple[str, ...]:
        """Core ML: one cell per compute unit. LiteRT: as built (XNNPACK on the CPU), and,
        when the app has it (its status's `delegates`), through LiteRT's Core ML delegate
        (`tflite@coreml`), the other way a .tflite reaches the GPU and the Neural Engine."""
        if runtime == "coreml":
            return tuple(f"coreml:{units}" for units in COREML_COMPUTE_UNITS)
        if runtime == "litert" and "coreml" in (self.status.get("delegates") or {}).get("litert", ()):
            return ("", "coreml")
        return ()

    def prepare(self, artifact: ArtifactFile) -> None:
        try:
            self._stage(Path(artifact.path), artifact.sha256, protocol.artifact_path)
            if artifact.check_inputs_path:
                self._stage_inputs(Path(artifact.check_inputs_path))
        except IosDeviceError as exc:  # the trial will say what happened
            logger.warning("could not copy %s to %s: %s", artifact.path, self.label, exc)

    def _stage(self, local: Path, sha256: str, where) -> str:
        remote = where(local, sha256)
        if self._pushed.get(remote) != sha256:
            for file, relative in protocol.files_of(local):
                inside = Path(relative).relative_to(local.name) if local.is_dir() else None
                target = f"{remote}/{inside}" if inside is not None else remote
                self.transport.push(self.phone.udid, self.bundle_id, file, target)
            self._pushed[remote] = sha256
        return remote

    def _stage_inputs(self, local: Path) -> str:
        from device_runners.android.staging import file_sha256

        return self._stage(local, file_sha256(local), protocol.inputs_path)

    # -- thermal --------------------------------------------------------------------------------

    def _thermal(self) -> ThermalReading:
        status = self._ask_status()
        celsius = self._battery_temperature()
        temps = {"battery": celsius} if celsius is not None else {}
        return ThermalReading(str(status.get("thermal_state", "unknown")), temps)

    def _health(self) -> dict:
        """A snapshot of the phone for the trial's context (device_runners/ios/health.py): the
        app's status (asked again unless the gate asked moments ago), the battery's heat."""
        status = {}
        if self.xctest is None:  # in XCTest mode the status app may not be there
            recent = self._status_at is not None and time.monotonic() - self._status_at < STATUS_FRESH_S
            try:
                status = self._last_status if recent else self._ask_status()
            except IosDeviceError:
                status = {}
        self._status_at = None  # one snapshot per answer: the next one asks again
        return snapshot(status, self._battery_temperature())

    def _battery_temperature(self) -> float | None:
        """The battery's temperature, °C, from the transport (iOS gives apps only
        ProcessInfo.thermalState, no temperature); None when the transport has none."""
        try:
            reading = self.transport.battery_now(self.phone.udid)
        except IosDeviceError:
            return None
        return reading.temperature_c if reading is not None else None

    def gate(self) -> GateReport:
        return pass_gate(self._thermal, self.gate_c, self.gate_timeout_s,
                         pause_s=self.cooldown_s if self._ran_a_trial else 0.0, poll_s=THERMAL_POLL_S,
                         cool_states=("nominal", "unknown"), read_errors=(IosDeviceError,))

    # -- run ------------------------------------------------------------------------------------

    def run(self, request: RunRequest) -> RunResult:
        """One trial; always a result, a fault is a run_failed result with its line."""
        self._ran_a_trial = True
        try:
            if self.problem:  # ask once more: the phone may have been unlocked meanwhile
                self._connect()
            why = self.runtimes().why_not(request.runtime, request.backend)
            if why:
                return RunResult.failed(request, self.device, STATUS_UNSUPPORTED, why)
            before = self._health()
            if self.xctest is not None:
                result = self.xctest.run(request, self.device)
            else:
                result = self._run(request)
            after = self._health()
            result = dataclasses.replace(
                result, warnings=(*result.warnings, *health_warnings(before, after)),
                context={**result.context, "health": {"before": before, "after": after}})
        except IosDeviceError as exc:
            result = RunResult.failed(request, self.device, STATUS_RUN_FAILED, str(exc))
        return dataclasses.replace(result, device=self.device, context={
            **result.context, "ios": {"udid": self.phone.udid, "transport": self.transport.name,
                                      "app": {k: self.status.get(k) for k in ("app_version", "runtimes")},
                                      "notes": list(self._notes)}})

    def _run(self, request: RunRequest) -> RunResult:
        trial = protocol.new_trial()
        artifact = self._stage(Path(request.artifact_path), request.artifact_sha256, protocol.artifact_path)
        inputs = self._stage_inputs(Path(request.check_inputs_path)) if request.check_inputs_path else ""
        with tempfile.TemporaryDirectory(prefix="harness-ios-") as tmp:
            path = Path(tmp) / "request.json"
            path.write_text(protocol.request_for_app(request, artifact, inputs))
            self.transport.push(self.phone.udid, self.bundle_id, path, protocol.request_path(trial))
        stream = self.transport.battery(self.phone.udid) if self.energy else None
        recorder = BatteryRecorder(stream).start() if stream is not None else None
        if recorder:
            recorder.wait_for_idle()
        launched_at = time.time()
        try:
            pid = self.transport.launch(self.phone.udid, self.bundle_id,
                                        [protocol.REQUEST_ARG, protocol.request_path(trial)])
            self._wait(protocol.done_path(trial), request.timeout_s + SLACK_S, f"trial {trial}", pid)
            text = self._pull_text(protocol.result_path(trial))
            if recorder:
                recorder.wait_past(_timed_end(text))
        finally:
            readings = recorder.stop() if recorder else None
            finished_at = time.time()
        try:
            result = dataclasses.replace(RunResult.from_json(text), measured_by="benchmark app")
        except ContractError as exc:
            return RunResult.failed(request, self.device, STATUS_RUN_FAILED,
                                    f"the benchmark app's result is invalid: {exc.detail}")
        context = result.context
        if readings is None:
            energy = no_energy_samples("no battery readings: the devicectl transport has none "
                                       "(use --ios-transport pymobiledevice3 for energy)")
        else:
            energy = energy_samples(readings, launched_at, finished_at, context.get("timed_start_unix"),
                                    context.get("timed_end_unix"), len(result.samples_ms))
        return dataclasses.replace(result, energy_samples=energy, thermal=ThermalInfo())

    # -- files ----------------------------------------------------------------------------------

    def _pull_text(self, remote: str) -> str:
        with tempfile.TemporaryDirectory(prefix="harness-ios-") as tmp:
            local = Path(tmp) / Path(remote).name
            self.transport.pull(self.phone.udid, self.bundle_id, remote, local)
            return local.read_text(errors="replace")

    def _wait(self, marker: str, timeout_s: float, what: str, pid: int | None = None) -> None:
        """Poll for the app's `.done` marker; a missing one after `timeout_s` is a failure, and
        so, at once, is the launched process gone without one (where the transport can tell:
        devicectl's `device info processes`, every PROCESS_CHECK_S)."""
        deadline = time.monotonic() + timeout_s
        next_check = time.monotonic() + PROCESS_CHECK_S
        while True:
            try:
                self._pull_text(marker)
                return
            except MissingFile:
                if pid is not None and time.monotonic() >= next_check:
                    next_check = time.monotonic() + PROCESS_CHECK_S
                    if self.transport.running(self.phone.udid, pid) is False:
                        try:  # it may have written the marker just before it exited
                            self._pull_text(marker)
                            return
                        except MissingFile:
                            raise IosDeviceError(
                                f"The benchmark app on {self.label} (pid {pid}) exited before "
                                f"finishing {what}: it crashed or was killed (see the phone's "
                                "crash logs, Settings > Privacy & Security > Analytics Data).") from None
                if time.monotonic() >= deadline:
                    raise IosDeviceError(
                        f"The benchmark app on {self.label} did not finish {what} within "
                        f"{timeout_s:.0f} s: it may have crashed (see the phone's crash logs, "
                        "Settings > Privacy & Security > Analytics Data), or raise --timeout.") from None
                time.sleep(self.poll_s)


def _timed_end(text: str) -> float | None:
    """When the app's timed loop ended (its clock), from a result not yet validated."""
    try:
        value = json.loads(text).get("context", {}).get("timed_end_unix")
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None
