"""The Android runner: a phone on a USB cable, driven through the adb server with adbutils.

    harness devices                          every attached phone: model, SoC, Android, battery, heat
    harness run --device pixel7 ...          the attached Pixel 7 (catalog name), or a serial

What one run does on the phone (all under /data/local/tmp/harness, the shell user's own space):

open       (discovery.py probed the properties: model, SoC, SDK, build fingerprint, every core's
           cpuinfo_max_freq and cpu_capacity: its clusters, cores.py; `--cores` is resolved, or
           refused, from them.) Refuse a battery below `min_battery_pct` unless it is charging;
           create the work directory; find the energy source (ODPM rail counters, else the
           battery's current x voltage) and the tools the phone has (taskset, timeout); with
           `--pin-frequencies`, fix the clocks on a rooted phone (frequencies.py).
prepare    push the runtime's tool and the artifact only when `sha256sum` on the phone does not
           already show them (staging.py); a fault here is left for the trial to report.
gate       before each model: a fixed pause (between models only), then the thermal gate, which
           waits until `dumpsys thermalservice` says status 0 ("none") and its hottest
           temperature is under `gate_c`, for at most `gate_timeout_s`.
run        one shell script per trial (measure.py): the idle baseline, the measurement pinned to
           the fastest cores with `taskset` and bounded by `timeout`, the sensor readings
           streamed by a shell loop, the result printed back. The request's runtime picks the
           program: `executorch` runs in the native runner (device_runners/native, built for
           android-arm64), whatever the .pte was lowered to (XNNPACK fp32 or int8, portable);
           `litert` runs in TensorFlow's `benchmark_model` when its path is given
           (litert_benchmark.py), on the CPU and on each delegate `litert_delegates` names
           (gpu, nnapi: one cell each, `tflite@gpu`); `--runner app` runs either runtime in
           the benchmark app instead (app.py), installed or upgraded on first use. Around
           each trial, the phone's health (health.py): battery, screen, clocks, other load.
close      put pinned clocks back; remove the trial files, or with `cleanup` everything the
           harness pushed.

Faults (reconnect.py): every adb call has a timeout; a phone or adb server that leaves fails
that trial and the run goes on once it is back. A result that is no measurement
(contract.result_problems) is a `run_failed` result saying what was wrong, with the tail of its
program's log. Errors a user can fix raise AndroidDeviceError, one line saying what to do.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

from device_runners.android import measure
from device_runners.android.adb import (
    AdbLink,
    AdbServerGone,
    AndroidDeviceError,
    DeviceCallFailed,
    DeviceGone,
)
from device_runners.android.app import AppTrials, BenchmarkApp, parse_runner_choice
from device_runners.android.catalog import load_catalog
from device_runners.android.cores import Placement
from device_runners.android.etdump_profile import etdump_flags, pull_etdump_profile
from device_runners.android.frequencies import FrequencyPin
from device_runners.android.health import tick_interval, trial_health
from device_runners.android.litert_benchmark import (
    benchmark_model_argv,
    delegate_note,
    parse_benchmark_output,
    parse_delegates,
    result_from_report,
)
from device_runners.android.litert_profile import parse_op_profile, profiling_flags
from device_runners.android.probe import (
    MARKER,
    PhoneProbe,
    cpu_mask,
    device_info,
    fastest_cores,
    phone_topology,
    split_sections,
)
from device_runners.android.reconnect import Reconnecting
from device_runners.android.session import (
    MIN_BATTERY_PCT,
    SENSOR_PROBE,
    check_battery,
    find_sensor,
    session_context,
)
from device_runners.android.staging import StagedFile, Staging
from device_runners.contract import (
    STATUS_RUN_FAILED,
    STATUS_UNSUPPORTED,
    ContractError,
    RunRequest,
    RunResult,
    ThermalInfo,
    result_problems,
)
from device_runners.runner import ArtifactFile, GateReport, Runner, RuntimeSupport, pass_gate
from device_runners.sensors import (THERMAL_SHELL, THERMALSERVICE_SHELL, ThermalReading,
                                    parse_thermal_zones, parse_thermalservice)

logger = logging.getLogger(__name__)

WORKDIR = "/data/local/tmp/harness"
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
# The program each runtime runs in on the phone, as it is named in the work directory's bin/.
TOOLS = {"executorch": "harness_runner", "litert": "benchmark_model"}
NO_BENCHMARK_MODEL = ("LiteRT on Android runs in TensorFlow's benchmark_model: pass "
                      "--benchmark-model PATH (docs/android.md says where to get it)")


@dataclass(frozen=True)
class _Trial:
    """One trial's script as it ran: its output, the cores it was pinned to, its idle window."""

    output: measure.MeasurementOutput
    cores: tuple[int, ...]
    idle_s: float


class AndroidRunner(Reconnecting, AppTrials, Runner):
    """Runs artifacts on one phone (see the module docstring); `open()` before the first use."""

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
        runner: str | None = None,
        app_apk: str | Path | None = None,
        litert_delegates: str | None = None,
        cores: str | None = None,
        pin_frequencies: bool = False,
    ):
        if min(cooldown_s, gate_timeout_s, reconnect_timeout_s) < 0 or interval_s <= 0:
            raise AndroidDeviceError("Cooldown and timeouts cannot be negative, the interval "
                                     "must be positive.")
        self.link = link
        self.serial = link.serial
        self.probe = probe
        self.catalog_entry = load_catalog().phone_for_model(probe.model)
        self.device = device_info(link.serial, probe, load_catalog())
        # --cores: refused here in one line, before any work, on a phone without the cluster.
        self.placement = Placement.choose(cores, phone_topology(probe, load_catalog()),
                                          f"{link.serial} ({probe.model})", self.device.soc or "")
        self.frequencies = FrequencyPin(link, WORKDIR, self.placement.topology) if pin_frequencies else None
        self.cooldown_s = cooldown_s
        self.native_runner = Path(native_runner) if native_runner else None
        self.benchmark_model = Path(benchmark_model) if benchmark_model else None
        self.cleanup = cleanup
        self.min_battery_pct = min_battery_pct
        self.gate_c = gate_c
        self.gate_timeout_s = gate_timeout_s
        self.reconnect_timeout_s = reconnect_timeout_s
        self.interval_s = interval_s
        self.programs = parse_runner_choice(runner)  # runtime -> native | benchmark-model | app
        self.app = BenchmarkApp(link, apk=app_apk)
        try:
            self.litert_delegates = parse_delegates(litert_delegates)
        except ValueError as exc:
            raise AndroidDeviceError(str(exc)) from None
        self.sensor = measure.no_sensor("not opened")
        self.staging = Staging(link, WORKDIR)
        self._thermal_command = THERMALSERVICE_SHELL
        self._tools: set[str] = set()
        self._notes: list[str] = []  # about the whole session, into every result's context
        self._timed_s: dict[str, float] = {}  # artifact sha256 -> last timed duration
        self._gone_since: float | None = None  # when the phone was found missing for good
        self._ran_a_trial = False  # the cooldown pause is between models: none before the first
        self._opened = False

    # -- open -----------------------------------------------------------------------------------

    def open(self) -> None:
        """Check the battery, create the work directory, find the sensors. Safe to call twice."""
        if self._opened:
            return
        try:
            note = check_battery(self.serial, self.probe.battery, self.min_battery_pct)
            self._notes += [note] if note else []
            output = self.link.shell(
                f"mkdir -p {WORKDIR}/bin {WORKDIR}/artifacts {WORKDIR}/inputs && echo {MARKER}ok; {SENSOR_PROBE}",
                timeout_s=PROBE_TIMEOUT_S,
            )
            parts = {s.name: s.text for s in split_sections(output.stdout)}
            if "ok" not in parts:
                raise AndroidDeviceError(
                    f"Cannot create {WORKDIR} on {self.serial}: {output.stderr.strip() or output.stdout.strip()}"
                )
            self._tools = set(parts.get("tools", "").split())
            self.sensor, notes = find_sensor(parts, self.catalog_entry)
            self._notes += notes
            if "Thermal Status" not in self.probe.thermal_text:
                self._thermal_command = THERMAL_SHELL  # Android 9 and older: kernel zones
            if "app" in self.programs.values():
                # A run in the app cannot start without it: said once, before any export.
                self.app.ensure_installed()
            if self.frequencies is not None:
                self.frequencies.pin()
                self._notes += self.frequencies.notes
        except DeviceGone as exc:
            raise AndroidDeviceError(f"Phone {exc}; reconnect it and run again.") from None
        except DeviceCallFailed as exc:
            raise AndroidDeviceError(f"Phone {self.serial} does not answer: {exc}.") from None
        self._opened = True

    # -- what runs here -------------------------------------------------------------------------

    def runtimes(self) -> RuntimeSupport:
        """ExecuTorch in the native runner (any delegate but Apple's), and LiteRT in
        benchmark_model once its binary is given."""
        available = {"executorch"}
        missing = {runtime: f"the harness runs executorch and litert on Android, not {runtime}"
                   for runtime in ("onnxruntime", "torch", "coreml")}
        if self.benchmark_model is None and self.programs["litert"] != "app":
            missing["litert"] = NO_BENCHMARK_MODEL
        else:
            available.add("litert")
        missing_backends = {("executorch", b): f"the {b} delegate runs on Apple platforms only"
                            for b in APPLE_ONLY_BACKENDS}
        return RuntimeSupport(frozenset(available), missing, missing_backends,
                              device_label=f"{self.serial} ({self.probe.model})")

    def variants(self, runtime: str) -> tuple[str, ...]:
        """LiteRT: the CPU (the format as built), then each delegate asked for (`tflite@gpu`)."""
        if runtime == "litert" and self.litert_delegates:
            return ("", *self.litert_delegates)
        return ()

    def prepare(self, artifact: ArtifactFile) -> None:
        """Push the artifact and its runtime's program now, so the first trial finds them."""
        if self.programs.get(artifact.runtime) == "app":
            return  # the app's files directory is staged by the trial
        files = [self.staging.artifact(Path(artifact.path), artifact.sha256)]
        if artifact.check_inputs_path and artifact.runtime == "executorch":
            files.append(self.staging.inputs(Path(artifact.check_inputs_path)))
        tool = self._tool_for(artifact.runtime)
        if tool is not None and tool.is_file():
            files.append(self.staging.tool(tool, TOOLS[artifact.runtime]))
        try:
            self.staging.stage(files)
        except (DeviceGone, DeviceCallFailed) as exc:  # the trial will say what happened
            logger.warning("could not stage %s on %s: %s", artifact.path, self.serial, exc)

    # -- thermal --------------------------------------------------------------------------------

    def _read_thermal(self) -> ThermalReading:
        output = self.link.shell(f"{self._thermal_command} 2>/dev/null", timeout_s=PROBE_TIMEOUT_S)
        return self._parse_thermal(output.stdout)

    def _parse_thermal(self, text: str) -> ThermalReading:
        if self._thermal_command == THERMAL_SHELL:
            return ThermalReading("unknown", parse_thermal_zones(text))
        return parse_thermalservice(text)

    def gate(self) -> GateReport:
        """The pause (between models), then wait until the thermal status is "none" and the
        hottest sensor is under gate_c. Never raises: a phone gone meanwhile is the next
        trial's to report."""
        return pass_gate(self._read_thermal, self.gate_c, self.gate_timeout_s,
                         pause_s=self.cooldown_s if self._ran_a_trial else 0.0,
                         poll_s=THERMAL_POLL_S, read_errors=(DeviceGone, DeviceCallFailed))

    # -- run ------------------------------------------------------------------------------------

    def run(self, request: RunRequest) -> RunResult:
        """One trial. Always returns a result; a lost phone is a run_failed result."""
        self._ran_a_trial = True
        try:
            result = self._run(request)
        except AdbServerGone as exc:
            result = self._failed(request, f"{exc}; "
                                  + self._await_reconnect("the server and the phone"))
        except DeviceGone as exc:
            result = self._failed(request, f"the phone disconnected during the trial: {exc}; "
                                  + self._await_reconnect())
        except DeviceCallFailed as exc:
            result = self._failed(request, str(exc))
        return self._with_session_context(result)

    def _run(self, request: RunRequest) -> RunResult:
        if not self._attached():
            gone = self.link.server_gone()
            if gone is not None:
                return self._failed(request, f"{gone} (since earlier in this run)")
            return self._failed(request, f"{self.serial} is not attached: it left earlier in "
                                "this run and has not come back")
        why = self.runtimes().why_not(request.runtime, request.backend)
        if why:
            return self._unsupported(request, why)
        if self.programs.get(request.runtime) == "app":
            return self._run_app(request)
        if request.runtime == "executorch":
            return self._run_executorch(request)
        return self._run_litert(request)

    def _run_executorch(self, request: RunRequest) -> RunResult:
        binary = self.native_runner or _default_native_runner()
        if binary is None or not binary.is_file():
            return self._failed(
                request,
                "no native runner for Android: build one with `harness build-runner --target "
                "android-arm64` (docs/android.md) or pass --native-runner PATH",
            )
        tool = self.staging.tool(binary, "harness_runner")
        artifact = self._artifact(request)
        files = [tool, artifact]
        checks = self.staging.inputs(Path(request.check_inputs_path)) if request.check_inputs_path else None
        if checks is not None:
            files.append(checks)
        staging = self.staging.stage(files)
        request_json = measure.request_json_for_phone(request.to_dict(), artifact.remote,
                                                      checks.remote if checks else "")
        trial = self._measure(request, [tool.remote, "--request", "request.json",
                                        "--result", "result.json", *etdump_flags(request)],
                              request_json=request_json, result_file="result.json")
        output = trial.output
        if output.timed_out:
            return self._failed(request, f"timed out after {request.timeout_s:.0f} s; raise "
                                "--timeout", output.log)
        if not output.result.strip():
            return self._no_result(request, "the native runner wrote no result "
                                f"(exit code {output.exit_code}): {measure.log_tail(output.log)}", output.log)
        try:
            result = dataclasses.replace(RunResult.from_json(output.result), measured_by="native runner")
        except ContractError as exc:
            return self._failed(request, f"the native runner's result is invalid: {exc.detail}",
                                output.log)
        if not result.ok:  # the runner's own failure: its log says more
            result = measure.with_log(result, output.log)
        timed_s = result.context.get("timed_duration_s")
        context = {"runner_device": dataclasses.asdict(result.device), "staging": staging}
        if request.profile and result.ok:  # the profiling trial (harness run --profile)
            context["operator_profile"] = pull_etdump_profile(self.link, WORKDIR, result, request)
        return self._measured(request, result, trial, timed_s, len(result.samples_ms), context)

    def _run_litert(self, request: RunRequest) -> RunResult:
        if self.benchmark_model is None:
            return self._unsupported(request, NO_BENCHMARK_MODEL)
        if not self.benchmark_model.is_file():
            return self._failed(request, f"benchmark_model not found at {self.benchmark_model}")
        tool = self.staging.tool(self.benchmark_model, "benchmark_model")
        artifact = self._artifact(request)
        staging = self.staging.stage([tool, artifact])
        trial = self._measure(request, benchmark_model_argv(tool.remote, artifact.remote, request)
                              + profiling_flags(request))
        output = trial.output
        if output.timed_out:
            return self._failed(request, f"timed out after {request.timeout_s:.0f} s; raise "
                                "--timeout", output.log)
        report = parse_benchmark_output(output.log)
        if not report.ok:
            return self._failed(request, f"{report.failure()} (exit code {output.exit_code})",
                                output.log)
        result = result_from_report(request, self.device, report, tool.sha256)
        problems = result_problems(result)
        if problems:
            return self._failed(request, "benchmark_model's figures are invalid: "
                                + "; ".join(problems), output.log)
        note = delegate_note(report, request.backend)
        if note:
            result = dataclasses.replace(result, warnings=(*result.warnings, note))
        context = {"benchmark_model": report.to_context(), "staging": staging}
        if request.profile:  # the profiling trial (harness run --profile)
            context["operator_profile"] = parse_op_profile(output.log)
        return self._measured(request, result, trial, report.timed_duration_s,
                              report.timed.count, context)

    def _measure(self, request: RunRequest, command: list[str], pin: bool = True, **files) -> _Trial:
        """Run one trial's script (see measure.py)."""
        cores = request.cpu_affinity or self.placement.cpus or fastest_cores(self.probe.cpu_freqs,
                                                                            request.threads)
        if "taskset" not in self._tools or not pin:
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
            tick_s=tick_interval(request.min_duration_s),
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
        state, warnings = trial_health(output, self._parse_thermal, timed_s, trial.cores)
        return dataclasses.replace(
            result,
            device=self.device,
            cpu_affinity=trial.cores or result.cpu_affinity,
            energy_samples=samples,
            warnings=(*result.warnings, *warnings),
            context={**result.context, **context, "thermal_readings": readings,
                     "energy_window": window, **state,
                     **self.placement.context(trial.cores, request.threads)},
        )

    # -- staging --------------------------------------------------------------------------------

    def _tool_for(self, runtime: str) -> Path | None:
        if runtime == "executorch":
            return self.native_runner or _default_native_runner()
        if runtime == "litert":
            return self.benchmark_model
        return None

    def _artifact(self, request: RunRequest) -> StagedFile:
        return self.staging.artifact(Path(request.artifact_path), request.artifact_sha256)

    # -- faults and bookkeeping -----------------------------------------------------------------

    def _failed(self, request: RunRequest, why: str, log: str = "") -> RunResult:
        return measure.with_log(RunResult.failed(request, self.device, STATUS_RUN_FAILED, why), log)

    def _unsupported(self, request: RunRequest, why: str) -> RunResult:
        return RunResult.failed(request, self.device, STATUS_UNSUPPORTED, why)

    def _with_session_context(self, result: RunResult) -> RunResult:
        android = session_context(self.serial, self.probe, self.catalog_entry, self.sensor,
                                  self._notes)
        pins = self.frequencies.context() if self.frequencies is not None else {}
        # The thermal block is the harness's to fill from the readings and the gate's wait.
        return dataclasses.replace(result, context={**result.context, "android": android, **pins},
                                   thermal=ThermalInfo())

    # -- close ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Put pinned clocks back; remove the trial files (with `cleanup`, everything the
        harness put on the phone)."""
        if self.frequencies is not None:
            self.frequencies.restore()
        target = WORKDIR if self.cleanup else f"{WORKDIR}/trial"
        try:
            self.link.shell(f"rm -rf {target}", timeout_s=PROBE_TIMEOUT_S)
        except (DeviceGone, DeviceCallFailed) as exc:
            logger.warning("could not remove %s from %s: %s", target, self.serial, exc)


def _default_native_runner() -> Path | None:
    from device_runners.native.build import find_native_runner

    return find_native_runner("android-arm64")
