"""AWS Device Farm: measure on a phone in Amazon's farm, one Device Farm run per trial.

No adb reaches a Device Farm phone from here, so a trial travels as a test package:

    bundle.zip   harness_runner (the android-arm64 build), the artifact, request.json and the
                 check inputs, nothing else
    testspec.yml the custom-environment test spec: push the bundle to the phone with the farm
                 host's adb, run the native runner once, pull result.json into
                 $DEVICEFARM_LOG_DIR (which comes back as the "Customer Artifacts" zip)

and boto3's devicefarm client uploads them (create_upload, PUT to the presigned URL, get_upload
until SUCCEEDED), schedules a run of the APPIUM_PYTHON test type with the custom spec on the
device pool (schedule_run), waits for it (get_run) and downloads the customer artifacts
(list_jobs, list_artifacts) to read result.json. Device Farm needs an app with every Android
run: `app` in the spec is any APK (the harness's own app of android_app/ once built).

Device Farm phones are not rooted and come with no power rails we can read: results carry no
energy and the latency is as noisy as ExecuTorch's own nightly found it (docs/farm.md). Each run
costs minutes of scheduling; use it for devices the lab does not have, not for every cell.

What comes back is device output, read within bounds: the artifacts zip is downloaded up to
MAX_ARTIFACTS_BYTES, only result.json and runner.log are taken out of it, each up to its own
limit however large the zip says (or lies) it is, and a zip holding result.json twice is a
failed trial, never "the last one wins".
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Mapping

from device_runners.contract import (
    STATUS_RUN_FAILED,
    STATUS_UNSUPPORTED,
    ContractError,
    DeviceInfo,
    RunRequest,
    RunResult,
)
from device_runners.install_hint import pip_install_extra
from device_runners.errors import DeviceError
from device_runners.runner import GateReport, Runner, RuntimeSupport, RunnerSettings

log = logging.getLogger(__name__)

REGION = "us-west-2"  # the only region Device Farm is in
WORKDIR = "/data/local/tmp/harness-devicefarm"
TEST_TYPE = "APPIUM_PYTHON"  # any custom-environment type runs our spec; this one needs no code
PACKAGE_TYPE = "APPIUM_PYTHON_TEST_PACKAGE"
SPEC_TYPE = "APPIUM_PYTHON_TEST_SPEC"
POLL_S = 10.0
# What is read of a trial's artifacts: the zip as downloaded, and the two files taken out of it.
MAX_ARTIFACTS_BYTES = 64 * 2**20
MAX_RESULT_BYTES = 16 * 2**20
MAX_LOG_BYTES = 2**20
WANTED = {"result.json": MAX_RESULT_BYTES, "runner.log": MAX_LOG_BYTES}


class DeviceFarmError(DeviceError):
    """Device Farm could not take or finish a trial; one line saying what to do."""


def test_spec(timeout_s: float) -> str:
    """The custom-environment test spec that runs one request on the phone."""
    adb = "adb -s $DEVICEFARM_DEVICE_UDID"
    return "\n".join([
        "version: 0.1",
        "phases:",
        "  test:",
        "    commands:",
        "      - cd $DEVICEFARM_TEST_PACKAGE_PATH && unzip -o -q bundle.zip -d bundle",
        f"      - {adb} shell rm -rf {WORKDIR} && {adb} shell mkdir -p {WORKDIR}",
        f"      - {adb} push $DEVICEFARM_TEST_PACKAGE_PATH/bundle/. {WORKDIR}/",
        f"      - {adb} shell chmod 755 {WORKDIR}/harness_runner",
        f"      - {adb} shell \"cd {WORKDIR} && timeout {int(timeout_s) + 60} ./harness_runner "
        "--request request.json --result result.json\" > $DEVICEFARM_LOG_DIR/runner.log 2>&1 || true",
        f"      - {adb} pull {WORKDIR}/result.json $DEVICEFARM_LOG_DIR/result.json || true",
        "artifacts:",
        "  - $DEVICEFARM_LOG_DIR",
        "",
    ])


def bundle_zip(request: RunRequest, native_runner: Path) -> bytes:
    """The test package: a zip holding bundle.zip (runner, artifact, request, check inputs)."""
    artifact = Path(request.artifact_path)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.write(native_runner, "harness_runner")
        bundle.write(artifact, artifact.name)
        checks = ""
        if request.check_inputs_path:
            checks = Path(request.check_inputs_path).name
            bundle.write(request.check_inputs_path, checks)
        # Paths relative to the runner's directory on the phone (the spec cds there).
        bundle.writestr("request.json", json.dumps({**request.to_dict(), "artifact_path": artifact.name,
                                                     "check_inputs_path": checks}))
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_STORED) as package:
        package.writestr("bundle.zip", inner.getvalue())
    return outer.getvalue()


class DeviceFarm:
    """The devicefarm calls of one trial, over a boto3 client (botocore's Stubber in tests)."""

    def __init__(self, client, project_arn: str, http_timeout_s: float = 300.0):
        self.client, self.project_arn, self.http_timeout_s = client, project_arn, http_timeout_s

    def _aws(self, operation: str, **params) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise DeviceFarmError(f"Device Farm refused {operation}: {error.get('Code', '?')}: "
                                  f"{error.get('Message', '')}".rstrip(": ") + ".") from None
        except BotoCoreError as exc:
            raise DeviceFarmError(f"Cannot reach Device Farm for {operation} ({exc}); check the "
                                  "AWS credentials and network.") from None

    def upload(self, name: str, kind: str, data: bytes, deadline: float) -> str:
        """The ARN of `data` uploaded as `kind`, once Device Farm has processed it."""
        upload = self._aws("create_upload", projectArn=self.project_arn, name=name, type=kind,
                           contentType="application/octet-stream")["upload"]
        put = urllib.request.Request(upload["url"], data=data, method="PUT",
                                     headers={"Content-Type": "application/octet-stream"})
        try:
            with urllib.request.urlopen(put, timeout=self.http_timeout_s):
                pass
        except OSError as exc:
            raise DeviceFarmError(f"Uploading {name} to Device Farm failed ({exc}).") from None
        while True:
            upload = self._aws("get_upload", arn=upload["arn"])["upload"]
            if upload["status"] == "SUCCEEDED":
                return upload["arn"]
            if upload["status"] == "FAILED":
                raise DeviceFarmError(f"Device Farm rejected {name}: "
                                      f"{upload.get('metadata') or upload.get('message') or 'no reason'}.")
            if time.monotonic() > deadline:
                raise DeviceFarmError(f"Device Farm did not process {name} in time.")
            time.sleep(POLL_S)

    def run(self, name: str, app_arn: str, package_arn: str, spec_arn: str, pool_arn: str,
            job_minutes: int, deadline: float) -> dict:
        run = self._aws("schedule_run", projectArn=self.project_arn, appArn=app_arn,
                        devicePoolArn=pool_arn, name=name,
                        test={"type": TEST_TYPE, "testPackageArn": package_arn, "testSpecArn": spec_arn},
                        executionConfiguration={"jobTimeoutMinutes": job_minutes})["run"]
        while run["status"] != "COMPLETED":
            if time.monotonic() > deadline:
                self._aws("stop_run", arn=run["arn"])
                raise DeviceFarmError(f"Device Farm run {run['arn']} did not finish in time; "
                                      "stopped it.")
            time.sleep(POLL_S)
            run = self._aws("get_run", arn=run["arn"])["run"]
        return run

    def customer_artifacts(self, run_arn: str) -> tuple[dict, bytes | None]:
        """The run's job (its device) and its "Customer Artifacts" zip, if it made one."""
        jobs = self._aws("list_jobs", arn=run_arn)["jobs"]
        if not jobs:
            raise DeviceFarmError(f"Device Farm run {run_arn} has no job: the pool matched no device.")
        job = jobs[0]
        artifacts = self._aws("list_artifacts", arn=job["arn"], type="FILE")["artifacts"]
        wanted = [a for a in artifacts if a.get("type") == "CUSTOMER_ARTIFACT"]
        if not wanted:
            return job, None
        try:
            with urllib.request.urlopen(wanted[0]["url"], timeout=self.http_timeout_s) as response:
                data = response.read(MAX_ARTIFACTS_BYTES + 1)
        except OSError as exc:
            raise DeviceFarmError(f"Downloading the results of {run_arn} failed ({exc}).") from None
        if len(data) > MAX_ARTIFACTS_BYTES:
            raise DeviceFarmError(f"The results of {run_arn} are larger than "
                                  f"{_size(MAX_ARTIFACTS_BYTES)}; a trial's are a few KB: not read.")
        return job, data


def _device_of(job: dict, fallback: DeviceInfo) -> DeviceInfo:
    device = job.get("device") or {}
    if not device:
        return fallback
    return DeviceInfo(device_id=device.get("arn", fallback.device_id).rsplit(":", 1)[-1],
                      platform="android", kind="android",
                      product_model=device.get("model") or device.get("name") or "",
                      os_version=device.get("os", ""), cpu=(device.get("cpu") or {}).get("architecture", ""),
                      soc=device.get("manufacturer", ""))


class DeviceFarmRunner(Runner):
    """A Device Farm phone as a runner: ExecuTorch through the native runner, one run a trial."""

    def __init__(self, farm: DeviceFarm, *, pool_arn: str, app: Path, native_runner: Path,
                 name: str = "devicefarm", cooldown_s: float = 0.0):
        self.farm, self.pool_arn, self.app, self.native_runner = farm, pool_arn, app, native_runner
        self.cooldown_s = cooldown_s
        self.device = DeviceInfo(device_id=name, platform="android", kind="android",
                                 product_model=f"AWS Device Farm pool {pool_arn.rsplit('/', 1)[-1]}")
        self._app_arn: str | None = None

    def runtimes(self) -> RuntimeSupport:
        return RuntimeSupport(frozenset({"executorch"}),
                              missing={"litert": "AWS Device Farm runs only ExecuTorch (the native "
                                                 "runner) here; LiteRT needs benchmark_model on a "
                                                 "phone of our own"},
                              device_label="AWS Device Farm")

    def gate(self) -> GateReport:
        # The farm's phones are Amazon's: no thermal reading before a run. The pause is ours.
        time.sleep(self.cooldown_s)
        return GateReport(waited_s=self.cooldown_s, state="unknown", hottest_c=None, threshold_c=0.0,
                          timed_out=False, error="AWS Device Farm reports no temperature before a run")

    def run(self, request: RunRequest) -> RunResult:
        if request.runtime != "executorch":
            return RunResult.failed(request, self.device, STATUS_UNSUPPORTED,
                                    self.runtimes().why_not(request.runtime))
        deadline = time.monotonic() + request.timeout_s + 3600  # scheduling takes minutes
        try:
            if self._app_arn is None:
                self._app_arn = self.farm.upload(self.app.name, "ANDROID_APP", self.app.read_bytes(), deadline)
            stem = f"{request.model}-{request.format}-{request.artifact_sha256[:12]}"
            package = self.farm.upload(f"{stem}.zip", PACKAGE_TYPE,
                                       bundle_zip(request, self.native_runner), deadline)
            spec = self.farm.upload(f"{stem}.yml", SPEC_TYPE, test_spec(request.timeout_s).encode(), deadline)
            run = self.farm.run(f"harness {stem}", self._app_arn, package, spec, self.pool_arn,
                                max(5, int(request.timeout_s // 60) + 10), deadline)
            job, artifacts = self.farm.customer_artifacts(run["arn"])
        except DeviceFarmError as exc:
            return RunResult.failed(request, self.device, STATUS_RUN_FAILED, str(exc))
        device = _device_of(job, self.device)
        try:
            files = _unzipped(artifacts)
        except DeviceFarmError as exc:
            return RunResult.failed(request, device, STATUS_RUN_FAILED, f"Device Farm run {run['arn']}: {exc}")
        if "result.json" not in files:
            log_tail = files.get("runner.log", b"").decode(errors="replace").strip().splitlines()[-3:]
            return RunResult.failed(request, device, STATUS_RUN_FAILED,
                                    f"Device Farm run {run['arn']} ended {run.get('result', '?')} "
                                    f"without a result: {' | '.join(log_tail) or 'no runner log'}")
        try:
            result = dataclasses.replace(RunResult.from_json(files["result.json"].decode()),
                                         measured_by="native runner (AWS Device Farm)")
        except (ContractError, UnicodeDecodeError) as exc:
            return RunResult.failed(request, device, STATUS_RUN_FAILED,
                                    f"the native runner's result from Device Farm is invalid: {exc}")
        context = {**result.context, "aws_device_farm": {"run_arn": run["arn"], "job_arn": job.get("arn", ""),
                                                         "result": run.get("result", "")}}
        return dataclasses.replace(result, device=device, context=context)


def _size(n: int) -> str:
    return f"{n // 2**20} MB" if n >= 2**20 else f"{n:,} bytes"


def _unzipped(data: bytes | None) -> dict[str, bytes]:
    """result.json and runner.log of the customer artifacts zip, by base name (Device Farm nests
    them), each read up to its limit (WANTED), whatever the zip declares; DeviceFarmError for a
    zip naming one of them twice or holding one beyond its limit."""
    if not data:
        return {}
    files: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = [i for i in archive.infolist() if not i.is_dir() and Path(i.filename).name in WANTED]
            names = [Path(i.filename).name for i in entries]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise DeviceFarmError(f"its artifacts hold {', '.join(twice)} more than once "
                                      f"({names.count(twice[0])} entries); which is this trial's is "
                                      "not known, so none is read")
            for info in entries:
                name, limit = Path(info.filename).name, WANTED[Path(info.filename).name]
                with archive.open(info) as handle:  # inflated up to the limit, never beyond
                    content = handle.read(limit + 1)
                if len(content) > limit:
                    if name == "result.json":
                        raise DeviceFarmError(f"its result.json is larger than {_size(limit)}; "
                                              "a result is a few KB: not read")
                    content = content[:limit]  # the log's head is enough to say what happened
                files[name] = content
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError):
        return files  # a damaged zip: the trial reads as one without a result
    return files


def open_device_farm_runner(spec: Mapping[str, Any], settings: RunnerSettings,
                            options: Mapping[str, Any]) -> Runner:
    """farm.yaml's `provider: {aws_device_farm: {project_arn, device_pool_arn, app, ...}}`."""
    try:
        import boto3
    except ImportError:
        raise DeviceFarmError(f"AWS Device Farm needs boto3: {pip_install_extra('farm')}.") from None
    from device_runners.native.build import find_native_runner

    app = Path(spec["app"])
    if not app.is_file():
        raise DeviceFarmError(f"AWS Device Farm needs an APK to install: {app} does not exist.")
    native = options.get("native_runner") or spec.get("native_runner") or find_native_runner("android-arm64")
    if not native or not Path(native).is_file():
        raise DeviceFarmError("AWS Device Farm runs the android-arm64 native runner: build it with "
                              "`harness build-runner --target android-arm64` or give native_runner.")
    client = boto3.client("devicefarm", region_name=spec.get("region", REGION))
    return DeviceFarmRunner(DeviceFarm(client, spec["project_arn"]), pool_arn=spec["device_pool_arn"],
                            app=app, native_runner=Path(native), name=spec.get("name", "devicefarm"),
                            cooldown_s=settings.cooldown_s)
