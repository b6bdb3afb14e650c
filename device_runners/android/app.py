"""The benchmark app as a runner of a runtime on Android: `--runner app` (android_app/).

ExecuTorch's native runner and `benchmark_model` measure in a shell process; the app measures
where a product runs a model, inside an app process with its scheduling, its heap and its
delegates (the LiteRT GPU delegate and NNAPI need an app context on recent Android). The file
protocol is app_protocol.py's. A trial:

1. the app is installed, or upgraded when the installed versionCode is below the one this
   harness speaks (`dumpsys package`, then `pm install -r` of the APK pushed to the phone),
   and asked for its status once: starting it makes it create its files directory itself
   (`getExternalFilesDir`), owned by the app, before the harness pushes anything there;
2. the artifact and the check inputs are pushed into the app's files directory (by sha256, as
   everything pushed), the request beside them;
3. inside the trial's measurement script (measure.py, so the energy readings frame it as any
   trial's), the request is copied into place, `am start -S -W` starts the app, and the script
   waits for the `.done` marker, bounded by `timeout`, then copies the result back out;
4. the RunResult the app wrote is read like the native runner's.

`--runner` picks the program per runtime: `app`, `native` (ExecuTorch's native runner) or
`benchmark-model` (LiteRT's tool); `executorch=app,litert=benchmark-model` mixes them. The
default is the shell tools (native for ExecuTorch, benchmark-model for LiteRT): they need no
installed app.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from pathlib import Path

from device_runners.android import app_protocol as protocol
from device_runners.android import measure
from device_runners.android.adb import AdbLink, AndroidDeviceError
from device_runners.android.staging import Staging
from device_runners.contract import ContractError, RunRequest, RunResult

RUNNERS = {"executorch": ("native", "app"), "litert": ("benchmark-model", "app")}
DEFAULT_RUNNERS = {"executorch": "native", "litert": "benchmark-model"}
APK_ON_PHONE = "/data/local/tmp/harness-app.apk"
# Where `./gradlew assembleRelease` in android_app/ puts the APK.
DEFAULT_APK = Path(__file__).resolve().parents[2] / "android_app" / "app" / "build" / "outputs" / \
    "apk" / "release" / "app-release.apk"
DONE_POLL_S = 0.05
STATUS_TIMEOUT_S = 30.0
_VERSION_CODE = re.compile(r"versionCode=(\d+)")


def parse_runner_choice(text: str | None) -> dict[str, str]:
    """`--runner app`, `native`, `benchmark-model`, or `executorch=app,litert=benchmark-model`:
    the program each runtime runs in. Raises AndroidDeviceError naming what is wrong."""
    choice = dict(DEFAULT_RUNNERS)
    if not text:
        return choice
    for part in filter(None, (p.strip() for p in text.split(","))):
        runtime, _, program = part.rpartition("=")
        runtimes = [runtime] if runtime else [r for r, programs in RUNNERS.items() if program in programs]
        if not runtimes or any(r not in RUNNERS for r in runtimes):
            known = ", ".join(sorted({p for ps in RUNNERS.values() for p in ps}))
            raise AndroidDeviceError(f"--runner {part!r}: give one of {known}, or RUNTIME=PROGRAM "
                                     f"for {' / '.join(RUNNERS)}.")
        for name in runtimes:
            if program not in RUNNERS[name]:
                raise AndroidDeviceError(f"--runner {part!r}: {name} runs in "
                                         f"{' or '.join(RUNNERS[name])}, not {program}.")
            choice[name] = program
    return choice


def installed_version(link: AdbLink, package: str) -> int | None:
    """The versionCode of `package` on the phone, None when it is not installed."""
    output = link.shell(f"dumpsys package {shlex.quote(package)} 2>/dev/null",
                        what=f"asking whether {package} is installed")
    match = _VERSION_CODE.search(output.stdout)
    return int(match[1]) if match else None


class BenchmarkApp:
    """The app on one phone: installed when needed, its files directory staged by sha256."""

    def __init__(self, link: AdbLink, package: str = protocol.DEFAULT_PACKAGE,
                 apk: str | Path | None = None):
        self.link, self.package = link, package
        self.apk = Path(apk) if apk else (DEFAULT_APK if DEFAULT_APK.is_file() else None)
        self.files = protocol.files_dir(package)
        self.staging = Staging(link, f"{self.files}/{protocol.ROOT}")
        self.version: int | None = None
        self.status: dict = {}  # the app's status answer: runtimes, delegates, versions
        self.note = ""  # what installing did, for the results' context

    def ensure_installed(self) -> None:
        """Install or upgrade the app; AndroidDeviceError (one line) when it cannot be."""
        if self.version is not None and self.version >= protocol.APP_VERSION_CODE:
            return
        installed = installed_version(self.link, self.package)
        if installed is not None and installed >= protocol.APP_VERSION_CODE:
            self.version = installed
            self.status = self._ask_status()
            return
        if self.apk is None or not self.apk.is_file():
            state = (f"version {installed} is installed, {protocol.APP_VERSION_CODE} is needed"
                     if installed is not None else "it is not installed")
            raise AndroidDeviceError(
                f"The benchmark app {self.package} cannot be used on {self.link.serial}: {state}, and "
                "there is no APK to install: build android_app/ (android_app/README.md) or pass "
                "--app-apk PATH.")
        self.link.push(self.apk, APK_ON_PHONE)
        output = self.link.shell(f"pm install -r -t {APK_ON_PHONE}; rm -f {APK_ON_PHONE}",
                                 what=f"installing {self.apk.name}", timeout_s=300)
        said = (output.stdout + output.stderr).strip()
        if "Success" not in said:
            raise AndroidDeviceError(f"Installing {self.apk.name} on {self.link.serial} failed: "
                                     f"{said.splitlines()[-1] if said else 'pm said nothing'}.")
        self.version = installed_version(self.link, self.package)
        if self.version is None or self.version < protocol.APP_VERSION_CODE:
            raise AndroidDeviceError(f"{self.apk.name} installed, but {self.package} reports version "
                                     f"{self.version}; it needs {protocol.APP_VERSION_CODE}: rebuild android_app/.")
        self.note = (f"benchmark app upgraded from version {installed} to {self.version}"
                     if installed is not None else f"benchmark app version {self.version} installed")
        self.status = self._ask_status()

    def _ask_status(self) -> dict:
        """The app's status answer (app_protocol.py); the first start also makes the app create
        its files directory. AndroidDeviceError when it does not answer."""
        probe = protocol.new_trial()
        files = shlex.quote(self.files)
        status, done = protocol.status_path(probe), protocol.status_done_path(probe)
        polls = int(STATUS_TIMEOUT_S / DONE_POLL_S)
        output = self.link.shell(
            f"{protocol.start_command(self.package, protocol.STATUS_EXTRA, status)} >/dev/null; "
            f"i=0; while [ ! -e {files}/{done} ] && [ $i -lt {polls} ]; do sleep {DONE_POLL_S}; "
            f"i=$((i+1)); done; cat {files}/{status} 2>/dev/null; rm -f {files}/{status} {files}/{done}; "
            f"mkdir -p {files}/{protocol.ROOT}/artifacts {files}/{protocol.ROOT}/inputs "
            f"{files}/{protocol.ROOT}/requests {files}/{protocol.ROOT}/results",
            what=f"asking {self.package} for its status", timeout_s=STATUS_TIMEOUT_S + 30)
        try:
            return json.loads(output.stdout)
        except ValueError:
            raise AndroidDeviceError(f"The benchmark app on {self.link.serial} did not answer a status "
                                     f"request within {STATUS_TIMEOUT_S:.0f} s: see `adb logcat`.") from None

    def stage(self, request: RunRequest) -> tuple[str, dict[str, str]]:
        """Push the artifact (and the check inputs); the request as the app reads it, and what
        staging did."""
        artifact = self.staging.artifact(Path(request.artifact_path), request.artifact_sha256)
        files = [artifact]
        inputs_rel = ""
        if request.check_inputs_path:
            staged = self.staging.inputs(Path(request.check_inputs_path))
            files.append(staged)
            inputs_rel = staged.remote[len(self.files) + 1:]
        staging = self.staging.stage(files)
        return protocol.request_for_app(request, artifact.remote[len(self.files) + 1:], inputs_rel), staging

    def trial_command(self, timeout_s: float) -> tuple[str, list[str]]:
        """(trial id, the command the measurement script runs): request in, app started, wait
        for its marker (a bounded loop: the script's `timeout` also applies), result out."""
        trial = protocol.new_trial()
        files = shlex.quote(self.files)
        request, result, done = (protocol.request_path(trial), protocol.result_path(trial),
                                 protocol.done_path(trial))
        polls = int(timeout_s / DONE_POLL_S) + 1
        script = (
            f"mkdir -p {files}/{protocol.ROOT}/requests {files}/{protocol.ROOT}/results && "
            f"cp request.json {files}/{request} && "
            f"{protocol.start_command(self.package, protocol.REQUEST_EXTRA, request)} && "
            f"i=0; while [ ! -e {files}/{done} ] && [ $i -lt {polls} ]; do sleep {DONE_POLL_S}; "
            f"i=$((i+1)); done; "
            f"[ -e {files}/{done} ] || {{ echo 'the app wrote no done marker'; exit 124; }}; "
            f"cp {files}/{result} result.json; rm -f {files}/{request} {files}/{result} {files}/{done}"
        )
        return trial, ["sh", "-c", script]


def app_failure(output_log: str, exit_code: int | None) -> str:
    """Why an app trial gave no result, in one line."""
    lines = [line.strip() for line in output_log.splitlines() if line.strip()]
    if any("does not exist" in line for line in lines):
        return "the benchmark app is not installed (am start found no activity)"
    if exit_code == 124 or (lines and lines[-1] == "the app wrote no done marker"):
        return "the benchmark app did not finish the trial (no done marker): see logcat"
    return f"the benchmark app wrote no result (exit code {exit_code}): {' | '.join(lines[-3:]) or 'no output'}"


def describe_app(version: int | None) -> str:
    """For `harness devices`: whether the benchmark app is there, and current."""
    if version is None:
        return "benchmark app not installed"
    if version < protocol.APP_VERSION_CODE:
        return f"benchmark app v{version} (v{protocol.APP_VERSION_CODE} is installed on first use)"
    return f"benchmark app v{version}"


class AppTrials:
    """The app's trials, mixed into AndroidRunner: a trial in the app is measured by the same
    script, energy windows and thermal readings as the shell tools' (the runner's `_measure`,
    `_measured` and `_failed`), only the program differs."""

    def _run_app(self, request: RunRequest) -> RunResult:
        try:
            self.app.ensure_installed()
        except AndroidDeviceError as exc:
            return self._failed(request, str(exc))
        request_json, staging = self.app.stage(request)
        _, command = self.app.trial_command(request.timeout_s)
        # Not pinned: `am start` asks the system to start the app; its process is no child.
        trial = self._measure(request, command, pin=False, request_json=request_json,
                              result_file="result.json")
        output = trial.output
        if output.timed_out:
            return self._failed(request, f"timed out after {request.timeout_s:.0f} s; raise "
                                "--timeout", output.log)
        if not output.result.strip():
            return self._failed(request, app_failure(output.log, output.exit_code), output.log)
        try:
            result = dataclasses.replace(RunResult.from_json(output.result), measured_by="benchmark app")
        except ContractError as exc:
            return self._failed(request, f"the benchmark app's result is invalid: {exc.detail}",
                                output.log)
        if not result.ok:
            result = measure.with_log(result, output.log)
        context = {"app": {"package": self.app.package, "version": self.app.version,
                           "installed": self.app.note, "runtimes": self.app.status.get("runtimes", {})},
                   "staging": staging}
        return self._measured(request, result, trial, result.context.get("timed_duration_s"),
                              len(result.samples_ms), context)
