"""The Android runner: a phone on a USB cable, driven through the adb server with adbutils.

    harness devices                          every attached phone: model, SoC, Android, battery, heat
    harness run --device pixel7 ...          the attached Pixel 7 (catalog name), or a serial

What one run does on the phone (all under /data/local/tmp/harness, the shell user's own space):

prepare    read the properties (model, SoC, SDK, build fingerprint) and every core's
           cpuinfo_max_freq; refuse a battery below `min_battery_pct` unless it is charging;
           find the energy source (ODPM rail counters, else the battery's current x voltage);
           wait on the thermal gate.
run        push the runner binary and the artifact only when `sha256sum` on the phone does not
           already show them; then one shell script per trial (android_measure.py): the idle
           baseline, the measurement pinned to the fastest cores with `taskset` and bounded by
           `timeout`, the sensor readings streamed by a shell loop, the result printed back.
           ExecuTorch `.pte` runs in the native runner (device_runners/native, built for
           android-arm64); LiteRT `.tflite` in TensorFlow's `benchmark_model` when its path is
           given (litert_benchmark.py).
cooldown   between models: a fixed pause, then the thermal gate again. The gate waits until
           `dumpsys thermalservice` says status 0 ("none") and its hottest temperature is
           under `gate_c`, for at most `gate_timeout_s`; the wait travels with the next result.
close      remove the trial files, or with `cleanup` everything the harness pushed.

Faults: every adb call has a timeout (android_adb.py). A phone that leaves mid-trial gives that
trial a `run_failed` result naming the disconnect, then the runner waits up to
`reconnect_timeout_s` for the serial to come back and the run goes on; results already stored
are never touched. Errors a user can fix (no such phone, battery too low, phone unauthorized)
raise AndroidDeviceError, one line saying what to do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shlex
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from device_runners import android_measure as measure
from device_runners.android_adb import (
    AdbLink,
    DeviceCallFailed,
    DeviceGone,
    adb_client,
    adb_server_address,
    adb_server_reachable,
)
from device_runners.android_catalog import PhoneSpec, load_catalog, normalize_name
from device_runners.android_probe import (
    MARKER,
    PROBE_SHELL,
    PhoneProbe,
    cpu_mask,
    device_info,
    fastest_cores,
    parse_probe,
    split_sections,
)
from device_runners.contract import (
    STATUS_OK,
    STATUS_RUN_FAILED,
    STATUS_UNSUPPORTED,
    ContractError,
    DeviceInfo,
    RunRequest,
    RunResult,
    ThermalInfo,
)
from device_runners.litert_benchmark import benchmark_model_argv, parse_benchmark_output
from device_runners.sensors import (
    ODPM_RAILS_SHELL,
    ODPM_SHELL,
    THERMAL_SHELL,
    THERMALSERVICE_SHELL,
    SensorUnavailable,
    ThermalReading,
    parse_thermal_zones,
    parse_thermalservice,
)

logger = logging.getLogger(__name__)

WORKDIR = "/data/local/tmp/harness"
# Below this charge a phone's governor and thermal policy change; the run is refused unless it
# is charging (then the battery reading is skewed, and the record says so).
MIN_BATTERY_PCT = 20
# The thermal gate: hottest HAL temperature (CPU, GPU, skin, battery sensors) a model may start
# at. Phone CPUs idle at 30-40 °C; 45 °C lets the SoC shed the last model's heat without
# waiting for the skin to reach room temperature.
THERMAL_GATE_C = 45.0
THERMAL_GATE_TIMEOUT_S = 180.0
THERMAL_POLL_S = 1.0
RECONNECT_TIMEOUT_S = 60.0
SAMPLE_INTERVAL_S = 0.05
# The idle baseline lasts as long as the previous trial's timed iterations of the same artifact,
# or the request's minimum duration for the first; never under MIN_IDLE_S (ten readings at the
# default interval, enough for its spread) nor over MAX_IDLE_S.
MIN_IDLE_S = 0.5
MAX_IDLE_S = 60.0
PROBE_TIMEOUT_S = 30.0
# Time the trial script may take beyond the idle window and the request's own timeout: the
# thermal readings, the sampler's last reading, printing the result.
SCRIPT_SLACK_S = 60.0
# Delegates the ExecuTorch runtime has only on Apple platforms.
APPLE_ONLY_BACKENDS = ("coreml", "mps")
# The options `open_runner` passes on to AndroidRunner (the CLI's Android options); None or an
# absent one leaves AndroidRunner's default.
RUNNER_OPTIONS = ("cooldown_s", "native_runner", "benchmark_model", "cleanup", "min_battery_pct",
                  "gate_c", "gate_timeout_s", "reconnect_timeout_s", "interval_s")

_SENSOR_PROBE = (
    f"echo {MARKER}odpm; {ODPM_SHELL} 2>/dev/null; "
    f"echo {MARKER}rails; {ODPM_RAILS_SHELL} 2>/dev/null; "
    f"echo {MARKER}battery; {measure.BATTERY_READING} 2>/dev/null; "
    f"echo {MARKER}tools; for t in taskset timeout sha256sum; do "
    'command -v $t >/dev/null 2>&1 && echo $t; done'
)


class AndroidDeviceError(ValueError):
    """A phone cannot be used as asked; the message is one line saying what to do."""


class NoMatchingPhone(AndroidDeviceError):
    """`--device` names a phone (from the catalog) that is not attached."""

    def __init__(self, name: str, attached: list[str]):
        self.name = name
        self.attached = attached
        listed = ", ".join(attached) if attached else "no phone"
        super().__init__(f"No attached phone matches {name!r}. Attached: {listed}.")


# ----------------------------------------------------------------------------------------------
# What is attached


@dataclass(frozen=True)
class AttachedPhone:
    """One entry of `adb devices`, probed when it is usable."""

    serial: str
    state: str  # adb's word: device, unauthorized, offline, ...
    probe: PhoneProbe | None = None
    error: str = ""

    @property
    def info(self) -> DeviceInfo:
        if self.probe is None:
            return DeviceInfo(device_id=self.serial, platform="android", kind="android",
                              product_model=f"({self.state})")
        return device_info(self.serial, self.probe, load_catalog())

    @property
    def label(self) -> str:
        model = self.probe.model if self.probe else self.state
        return f"{self.serial} ({model})"

    def describe_state(self) -> str:
        if self.error:
            return self.error
        if self.probe is None:
            hints = {"unauthorized": "accept the USB debugging prompt on the phone",
                     "offline": "replug the cable or restart adb"}
            return f"{self.state}: {hints.get(self.state, 'not usable')}"
        thermal = self.probe.thermal
        hottest = f" ({thermal.max_temp_c:.0f} °C)" if thermal.max_temp_c is not None else ""
        return f"{self.probe.battery.describe()}, thermal {thermal.state}{hottest}"


def list_phones(call_timeout_s: float = PROBE_TIMEOUT_S) -> list[AttachedPhone]:
    """Every phone the adb server lists; [] when no adb server answers."""
    host, port = adb_server_address()
    if not adb_server_reachable(host, port):
        return []
    client = adb_client(host, port, call_timeout_s)
    try:
        entries = client.list()
    except Exception as exc:  # adbutils raises its own errors and socket ones alike
        raise AndroidDeviceError(f"The adb server at {host}:{port} did not answer: {exc}") from None
    phones = []
    for entry in entries:
        if entry.state != "device":
            phones.append(AttachedPhone(entry.serial, entry.state))
            continue
        try:
            output = AdbLink(client, entry.serial, call_timeout_s).shell(PROBE_SHELL)
        except (DeviceGone, DeviceCallFailed) as exc:
            phones.append(AttachedPhone(entry.serial, "error", error=str(exc)))
            continue
        phones.append(AttachedPhone(entry.serial, entry.state, parse_probe(output.stdout)))
    return phones


def attached_devices() -> list[DeviceInfo]:
    return [phone.info for phone in list_phones()]


def device_states() -> dict[str, str]:
    """{serial: "battery 80% discharging, thermal none (36 °C)"} for `harness devices`."""
    return {phone.serial: phone.describe_state() for phone in list_phones()}


def open_runner(name: str, **options) -> "AndroidRunner | None":
    """The runner for `name`: an attached serial, a catalog name ("pixel7") or a product model.

    None when `name` means no phone at all (another kind of device may know it). Raises
    NoMatchingPhone for a catalog name with no such phone attached, AndroidDeviceError when
    several phones match or the one meant cannot be used.
    """
    entry = load_catalog().lookup(name)
    host, port = adb_server_address()
    if not adb_server_reachable(host, port):
        if entry is None:
            return None
        raise NoMatchingPhone(name, [f"no adb server at {host}:{port} (start one: adb start-server)"])
    phones = list_phones()
    phone = _select(name, entry, phones)
    if phone is None:
        return None
    if phone.probe is None:
        raise AndroidDeviceError(f"Phone {phone.serial} is {phone.describe_state()}.")
    client = adb_client(host, port)
    known = {k: options[k] for k in RUNNER_OPTIONS if options.get(k) is not None}
    return AndroidRunner(AdbLink(client, phone.serial), phone.probe, **known)


def _select(name: str, entry: PhoneSpec | None, phones: list[AttachedPhone]) -> AttachedPhone | None:
    by_serial = [p for p in phones if p.serial == name]
    if by_serial:
        return by_serial[0]
    if entry is not None:
        matches = [p for p in phones if p.probe and entry.matches_model(p.probe.model)]
        if not matches:
            raise NoMatchingPhone(name, [p.label for p in phones])
    else:
        wanted = normalize_name(name)
        matches = [p for p in phones if p.probe and normalize_name(p.probe.model) == wanted]
        if not matches:
            return None
    if len(matches) > 1:
        serials = ", ".join(p.serial for p in matches)
        raise AndroidDeviceError(
            f"{len(matches)} attached phones match {name!r} ({serials}); pass one serial with --device."
        )
    return matches[0]


# ----------------------------------------------------------------------------------------------
# The runner


@dataclass(frozen=True)
class ThermalGateReport:
    """One pass through the cooldown and the thermal gate."""

    waited_s: float
    state: str  # the thermal service's word when the gate opened (or gave up)
    hottest_c: float | None
    threshold_c: float
    timed_out: bool
    error: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Trial:
    """One trial's script as it ran: its output, the cores it was pinned to, its idle window."""

    output: measure.MeasurementOutput
    cores: tuple[int, ...]
    idle_s: float


@dataclass(frozen=True)
class _Tool:
    """A binary the phone runs, and where it is staged."""

    local: Path
    remote: str
    sha256: str


class AndroidRunner:
    """Runs artifacts on one phone; the runner interface of harness.run (see the module docstring)."""

    kind = "android"
    runtimes = frozenset({".pte", ".tflite"})

    def __init__(
        self,
        link: AdbLink,
        probe: PhoneProbe,
        *,
        cooldown_s: float = 0.0,
        native_runner: str | Path | None = None,
        benchmark_model: str | Path | None = None,
        cleanup: bool = False,
        min_battery_pct: float = MIN_BATTERY_PCT,
        gate_c: float = THERMAL_GATE_C,
        gate_timeout_s: float = THERMAL_GATE_TIMEOUT_S,
        reconnect_timeout_s: float = RECONNECT_TIMEOUT_S,
        interval_s: float = SAMPLE_INTERVAL_S,
    ):
        if min(cooldown_s, gate_timeout_s, reconnect_timeout_s) < 0 or interval_s <= 0:
            raise ValueError("Cooldown and timeouts cannot be negative, the interval must be positive.")
        self.link = link
        self.serial = link.serial
        self.probe = probe
        self.catalog_entry = load_catalog().phone_for_model(probe.model)
        self.device = device_info(link.serial, probe, load_catalog())
        self.cooldown_s = cooldown_s
        self.native_runner = Path(native_runner) if native_runner else None
        self.benchmark_model = Path(benchmark_model) if benchmark_model else None
        self.cleanup = cleanup
        self.min_battery_pct = min_battery_pct
        self.gate_c = gate_c
        self.gate_timeout_s = gate_timeout_s
        self.reconnect_timeout_s = reconnect_timeout_s
        self.interval_s = interval_s
        self.sensor = measure.no_sensor("not prepared")
        self._thermal_command = THERMALSERVICE_SHELL
        self._tools: set[str] = set()
        self._notes: list[str] = []  # about the whole session, into every result's context
        self._staged: dict[str, str] = {}  # phone path -> sha256 known to be there
        self._timed_s: dict[str, float] = {}  # artifact sha256 -> last timed duration
        self._last_gate: ThermalGateReport | None = None
        self._gone_since: float | None = None  # when the phone was found missing for good
        self._prepared = False

    # -- prepare --------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Check the phone, find its sensors, wait on the thermal gate. Safe to call twice."""
        if self._prepared:
            return
        try:
            self._check_battery()
            output = self.link.shell(
                f"mkdir -p {WORKDIR}/bin {WORKDIR}/artifacts && echo {MARKER}ok; {_SENSOR_PROBE}",
                timeout_s=PROBE_TIMEOUT_S,
            )
            parts = {s.name: s.text for s in split_sections(output.stdout)}
            if "ok" not in parts:
                raise AndroidDeviceError(
                    f"Cannot create {WORKDIR} on {self.serial}: {output.stderr.strip() or output.stdout.strip()}"
                )
            self._tools = set(parts.get("tools", "").split())
            self.sensor = self._find_sensor(parts)
            if "Thermal Status" not in self.probe.thermal_text:
                self._thermal_command = THERMAL_SHELL  # Android 9 and older: kernel zones
            self._last_gate = self._thermal_gate()
        except DeviceGone as exc:
            raise AndroidDeviceError(f"Phone {exc}; reconnect it and run again.") from None
        except DeviceCallFailed as exc:
            raise AndroidDeviceError(f"Phone {self.serial} does not answer: {exc}.") from None
        self._prepared = True

    def _check_battery(self) -> None:
        battery = self.probe.battery
        if battery.level_pct is None or battery.level_pct >= self.min_battery_pct:
            return
        if battery.on_external_power:
            self._notes.append(
                f"battery at {battery.level_pct}% (below {self.min_battery_pct:g}%), charging"
            )
            return
        raise AndroidDeviceError(
            f"{self.serial}'s battery is at {battery.level_pct}%, below {self.min_battery_pct:g}%: "
            "charge it first, or pass --min-battery 0 to measure anyway."
        )

    def _find_sensor(self, parts: dict[str, str]) -> measure.Sensor:
        """ODPM when its counters read, else the battery, else none (with the reason)."""
        problems = []
        try:
            return measure.odpm_sensor(parts.get("odpm", ""), parts.get("rails", ""))
        except (ValueError, SensorUnavailable) as exc:
            problems.append(f"ODPM: {exc}")
        if self.catalog_entry is not None and self.catalog_entry.energy == "odpm":
            self._notes.append(
                f"{self.catalog_entry.name} has ODPM rail counters, but they did not read "
                f"({problems[-1]}); energy comes from the battery instead"
            )
        try:
            return measure.battery_sensor(parts.get("battery", ""))
        except (ValueError, IndexError, SensorUnavailable) as exc:
            problems.append(f"battery: {exc}")
        return measure.no_sensor("no readable energy sensor on the phone (" + "; ".join(problems) + ")")

    # -- thermal --------------------------------------------------------------------------------

    def _read_thermal(self) -> ThermalReading:
        output = self.link.shell(f"{self._thermal_command} 2>/dev/null", timeout_s=PROBE_TIMEOUT_S)
        return self._parse_thermal(output.stdout)

    def _parse_thermal(self, text: str) -> ThermalReading:
        if self._thermal_command == THERMAL_SHELL:
            return ThermalReading("unknown", parse_thermal_zones(text))
        return parse_thermalservice(text)

    def _thermal_gate(self) -> ThermalGateReport:
        """Wait until the thermal status is "none" and the hottest sensor is under gate_c."""
        start = time.monotonic()
        while True:
            reading = self._read_thermal()
            hottest = reading.max_temp_c
            elapsed = time.monotonic() - start
            cool = reading.state in ("none", "unknown") and (hottest is None or hottest < self.gate_c)
            if cool or elapsed >= self.gate_timeout_s:
                return ThermalGateReport(elapsed, reading.state, hottest, self.gate_c,
                                         timed_out=not cool)
            time.sleep(min(THERMAL_POLL_S, max(0.0, self.gate_timeout_s - elapsed)))

    def cooldown(self) -> ThermalGateReport:
        """Between models: the fixed pause, then the thermal gate. Never raises: a phone gone
        during the cooldown is the next trial's to report."""
        start = time.monotonic()
        if self.cooldown_s > 0:
            time.sleep(self.cooldown_s)
        try:
            gate = self._thermal_gate()
        except (DeviceGone, DeviceCallFailed) as exc:
            gate = ThermalGateReport(0.0, "unknown", None, self.gate_c, timed_out=True, error=str(exc))
        self._last_gate = dataclasses.replace(gate, waited_s=time.monotonic() - start)
        return self._last_gate

    # -- run ------------------------------------------------------------------------------------

    def run(self, request: RunRequest) -> RunResult:
        """One trial. Always returns a result; a lost phone is a run_failed result."""
        gate, self._last_gate = self._last_gate, None
        try:
            result = self._run(request)
        except DeviceGone as exc:
            result = self._failed(request, f"the phone disconnected during the trial: {exc}; "
                                  + self._await_reconnect())
        except DeviceCallFailed as exc:
            result = self._failed(request, str(exc))
        return self._with_session_context(result, gate)

    def _run(self, request: RunRequest) -> RunResult:
        if not self._attached():
            return self._failed(request, f"{self.serial} is not attached: it left earlier in "
                                "this run and has not come back")
        suffix = Path(request.artifact_path).suffix
        if request.backend in APPLE_ONLY_BACKENDS:
            return self._unsupported(request, f"the {request.backend} delegate runs on Apple platforms only")
        if suffix == ".pte":
            return self._run_executorch(request)
        if suffix == ".tflite":
            return self._run_litert(request)
        return self._unsupported(request, f"no runner for {suffix} artifacts on Android")

    def _run_executorch(self, request: RunRequest) -> RunResult:
        binary = self.native_runner or _default_native_runner()
        if binary is None or not binary.is_file():
            return self._failed(
                request,
                "no native runner for Android: build one with `harness build-runner --target "
                "android-arm64` (docs/android.md) or pass --native-runner PATH",
            )
        tool = self._tool(binary, "harness_runner")
        artifact = self._artifact_path(request)
        staging = self._stage([(tool.local, tool.remote, tool.sha256, 0o755),
                               (Path(request.artifact_path), artifact, self._sha(request), 0o644)])
        request_json = measure.request_json_for_phone(request.to_dict(), artifact)
        trial = self._measure(request, [tool.remote, "--request", "request.json",
                                        "--result", "result.json"],
                              request_json=request_json, result_file="result.json")
        output = trial.output
        if output.timed_out:
            return self._failed(request, f"timed out after {request.timeout_s:.0f} s; raise --timeout")
        if not output.result.strip():
            return self._failed(request, "the native runner wrote no result "
                                f"(exit code {output.exit_code}): {_tail(output.log)}")
        try:
            result = RunResult.from_dict(json.loads(output.result))
        except (ValueError, ContractError) as exc:
            return self._failed(request, f"the native runner's result is invalid: {exc}")
        timed_s = result.context.get("timed_duration_s")
        context = {"runner_device": dataclasses.asdict(result.device), "staging": staging}
        return self._measured(request, result, trial, timed_s, len(result.samples_ms), context)

    def _run_litert(self, request: RunRequest) -> RunResult:
        if self.benchmark_model is None:
            return self._unsupported(
                request, "LiteRT on Android runs in TensorFlow's benchmark_model: pass "
                "--benchmark-model PATH (docs/android.md says where to get it)")
        if not self.benchmark_model.is_file():
            return self._failed(request, f"benchmark_model not found at {self.benchmark_model}")
        tool = self._tool(self.benchmark_model, "benchmark_model")
        artifact = self._artifact_path(request)
        staging = self._stage([(tool.local, tool.remote, tool.sha256, 0o755),
                               (Path(request.artifact_path), artifact, self._sha(request), 0o644)])
        trial = self._measure(request, benchmark_model_argv(tool.remote, artifact, request))
        output = trial.output
        if output.timed_out:
            return self._failed(request, f"timed out after {request.timeout_s:.0f} s; raise --timeout")
        report = parse_benchmark_output(output.log)
        if not report.ok:
            return self._failed(request, f"{report.failure()} (exit code {output.exit_code})")
        result = RunResult(
            model=request.model,
            format=request.format,
            status=STATUS_OK,
            device=self.device,
            backend=request.backend,
            precision=request.precision,
            artifact_sha256=request.artifact_sha256,
            runtime_versions={"benchmark_model": f"sha256:{tool.sha256[:16]}"},
            threads=request.threads,
            load_ms=report.init_us / 1000,
            first_inference_ms=report.first_inference_us / 1000,
            samples_ms=(report.inference_avg_us / 1000,),
            peak_rss_inference_kb=(round(report.peak_memory_mb * 1024)
                                   if report.peak_memory_mb is not None else None),
        )
        context = {"benchmark_model": report.to_context(), "staging": staging}
        return self._measured(request, result, trial, report.timed_duration_s,
                              report.timed.count, context)

    def _measure(self, request: RunRequest, command: list[str], **files) -> _Trial:
        """Run one trial's script (see android_measure.py)."""
        cores = request.cpu_affinity or fastest_cores(self.probe.cpu_freqs, request.threads)
        if "taskset" not in self._tools:
            cores = ()
        idle_s = 0.0
        if self.sensor.source is not None:
            expected = self._timed_s.get(request.artifact_sha256, request.min_duration_s)
            idle_s = min(max(expected, MIN_IDLE_S), MAX_IDLE_S)
        script = measure.measurement_script(
            workdir=WORKDIR,
            trial=uuid.uuid4().hex[:12],
            command=command,
            sensor=self.sensor,
            interval_s=self.interval_s,
            idle_s=idle_s,
            # Without `timeout` on the phone, the shell call's own timeout is the only bound.
            timeout_s=request.timeout_s if "timeout" in self._tools else None,
            cpu_mask=cpu_mask(cores) if cores else None,
            thermal_command=self._thermal_command,
            **files,
        )
        output = self.link.shell(script, timeout_s=idle_s + request.timeout_s + SCRIPT_SLACK_S,
                                 what=f"the measurement of {request.model} ({request.format})")
        if output.exit_code == 90:
            raise DeviceCallFailed(f"cannot write to {WORKDIR}: {output.stderr.strip()}")
        return _Trial(measure.parse_measurement_output(output.stdout), tuple(cores), idle_s)

    def _measured(self, request: RunRequest, result: RunResult, trial: _Trial,
                  timed_s: float | None, iterations: int, context: dict) -> RunResult:
        """The runner's result with this phone's device, pinning, energy and thermal readings."""
        if timed_s:
            self._timed_s[request.artifact_sha256] = float(timed_s)
        output = trial.output
        samples, window = measure.energy_samples(self.sensor, output, timed_s, iterations,
                                                 self.interval_s)
        if self.sensor.source is not None:
            window["idle_planned_s"] = trial.idle_s
        readings = {
            "before": self._parse_thermal(output.thermal_before).to_dict(),
            "after": self._parse_thermal(output.thermal_after).to_dict(),
        }
        return dataclasses.replace(
            result,
            device=self.device,
            cpu_affinity=trial.cores or result.cpu_affinity,
            energy_samples=samples,
            context={**result.context, **context, "thermal_readings": readings,
                     "energy_window": window},
        )

    # -- staging --------------------------------------------------------------------------------

    def _tool(self, local: Path, name: str) -> _Tool:
        return _Tool(local, f"{WORKDIR}/bin/{name}", _file_sha256(local))

    @staticmethod
    def _sha(request: RunRequest) -> str:
        return request.artifact_sha256 or _file_sha256(Path(request.artifact_path))

    def _artifact_path(self, request: RunRequest) -> str:
        name = Path(request.artifact_path).name
        return f"{WORKDIR}/artifacts/{self._sha(request)[:16]}-{name}"

    def _stage(self, files: list[tuple[Path, str, str, int]]) -> dict[str, str]:
        """Push each (local, phone path, sha256, mode) unless the phone already has it.

        One `sha256sum` call checks every file not yet seen this session; returns
        {phone path: "present" | "pushed"}.
        """
        unknown = [f for f in files if self._staged.get(f[1]) != f[2]]
        on_phone: dict[str, str] = {}
        if unknown:
            paths = " ".join(shlex.quote(remote) for _, remote, _, _ in unknown)
            output = self.link.shell(f"sha256sum {paths} 2>/dev/null", timeout_s=PROBE_TIMEOUT_S)
            for line in output.stdout.splitlines():
                digest, _, path = line.strip().partition(" ")
                on_phone[path.strip().lstrip("*")] = digest
        staging = {}
        for local, remote, sha, mode in files:
            if self._staged.get(remote) == sha or on_phone.get(remote) == sha:
                staging[remote] = "present"
            else:
                self.link.push(local, remote, mode)
                staging[remote] = "pushed"
            self._staged[remote] = sha
        return staging

    # -- faults and bookkeeping -----------------------------------------------------------------

    def _attached(self) -> bool:
        """Whether the phone is attached; after an outage, only a quick look, no waiting."""
        if self.link.state() == "device":
            if self._gone_since is not None:
                self._gone_since = None
                self._staged.clear()  # the phone may have been wiped or replaced meanwhile
            return True
        if self._gone_since is None:
            self._await_reconnect()
            return self._gone_since is None
        return False

    def _await_reconnect(self) -> str:
        """Wait up to reconnect_timeout_s for the phone; says how that went, for the reason."""
        start = time.monotonic()
        back = self.link.wait_until_attached(self.reconnect_timeout_s)
        waited = time.monotonic() - start
        self._staged.clear()
        if back:
            self._gone_since = None
            return f"it came back after {waited:.1f} s and the run goes on"
        self._gone_since = time.monotonic()
        return f"it did not come back within {self.reconnect_timeout_s:.0f} s"

    def _failed(self, request: RunRequest, why: str) -> RunResult:
        return RunResult.failed(request, self.device, STATUS_RUN_FAILED, why)

    def _unsupported(self, request: RunRequest, why: str) -> RunResult:
        return RunResult.failed(request, self.device, STATUS_UNSUPPORTED, why)

    def _with_session_context(self, result: RunResult, gate: ThermalGateReport | None) -> RunResult:
        android = {
            "serial": self.serial,
            "fingerprint": self.probe.props.get("ro.build.fingerprint", ""),
            "sdk": self.probe.props.get("ro.build.version.sdk", ""),
            "abi": self.probe.props.get("ro.product.cpu.abi", ""),
            "catalog": self.catalog_entry.key if self.catalog_entry else None,
            "energy_source": self.sensor.name,
            "battery_at_start": dataclasses.asdict(self.probe.battery),
            "notes": list(self._notes),
        }
        context = {**result.context, "android": android}
        if gate is not None:
            context["thermal_gate"] = gate.to_dict()
        return dataclasses.replace(
            result,
            context=context,
            thermal=ThermalInfo(waited_s=gate.waited_s if gate else 0.0),
        )

    # -- close ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Remove the trial files; with `cleanup`, everything the harness put on the phone."""
        target = WORKDIR if self.cleanup else f"{WORKDIR}/trial"
        try:
            self.link.shell(f"rm -rf {target}", timeout_s=PROBE_TIMEOUT_S)
        except (DeviceGone, DeviceCallFailed) as exc:
            logger.warning("could not remove %s from %s: %s", target, self.serial, exc)


def _default_native_runner() -> Path | None:
    from device_runners.native_build import find_native_runner

    return find_native_runner("android-arm64")


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _file_sha256(path: Path) -> str:
    """sha256 of a local file, remembered while its size and mtime stay the same."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


def _tail(log: str, lines: int = 3) -> str:
    kept = [line.strip() for line in log.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "no output"
