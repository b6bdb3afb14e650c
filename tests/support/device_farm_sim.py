"""AWS Device Farm, as far as a test can have it here: boto3's devicefarm client with botocore's
Stubber answering its calls (moto has no Device Farm), and the presigned URLs on 127.0.0.1.

`PresignedUrls` is what S3's presigned URLs are to Device Farm: PUT keeps the upload, GET of the
artifacts runs the uploaded test package the way the test spec would on a phone (the host build
of the native runner, as the simulated phones do) and serves the customer artifacts zip; or, given
`served`, serves those bytes as the artifacts (what a hostile or broken farm sends back).
"""

from __future__ import annotations

import http.server
import io
import subprocess
import threading
import zipfile
from pathlib import Path


class PresignedUrls:
    """The presigned URLs of one trial (module docstring)."""

    def __init__(self, tmp_path: Path, run_package: bool = True, served: bytes | None = None):
        self.uploads: dict[str, bytes] = {}
        self.tmp_path, self.run_package, self.served = tmp_path, run_package, served
        urls = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_PUT(self):
                urls.uploads[self.path] = self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                data = urls.artifacts()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def artifacts(self) -> bytes:
        if self.served is not None:
            return self.served
        phone = self.tmp_path / "devicefarm-phone"
        with zipfile.ZipFile(io.BytesIO(self.uploads["/package"])) as package:
            package.extractall(phone)
        with zipfile.ZipFile(phone / "bundle.zip") as bundle:
            bundle.extractall(phone)
        (phone / "harness_runner").chmod(0o755)
        log = b"no run"
        if self.run_package:
            done = subprocess.run(["./harness_runner", "--request", "request.json", "--result", "result.json"],
                                  cwd=phone, capture_output=True, timeout=120, check=False)
            log = done.stdout + done.stderr
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("Host_Machine_Files/$DEVICEFARM_LOG_DIR/runner.log", log)
            if (phone / "result.json").exists():
                archive.write(phone / "result.json", "Host_Machine_Files/$DEVICEFARM_LOG_DIR/result.json")
        return out.getvalue()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def device_farm_stubs(stubber, urls, *, upload_status="SUCCEEDED"):
    from botocore.stub import ANY

    project, pool = "arn:aws:devicefarm:us-west-2:1:project:p", "arn:aws:devicefarm:us-west-2:1:devicepool:p/pool"
    run = "arn:aws:devicefarm:us-west-2:1:run:p/r1"
    for name, kind in (("app", "ANDROID_APP"), ("package", "APPIUM_PYTHON_TEST_PACKAGE"),
                       ("spec", "APPIUM_PYTHON_TEST_SPEC")):
        arn = f"arn:aws:devicefarm:us-west-2:1:upload:p/{name}"
        stubber.add_response("create_upload", {"upload": {"arn": arn, "url": urls.url(name), "status": "INITIALIZED"}},
                             {"projectArn": project, "name": ANY, "type": kind, "contentType": "application/octet-stream"})
        stubber.add_response("get_upload", {"upload": {"arn": arn, "status": upload_status,
                                                       "metadata": '{"errorMessage": "not a zip"}'}}, {"arn": arn})
        if upload_status != "SUCCEEDED":
            return project, pool
    stubber.add_response("schedule_run", {"run": {"arn": run, "status": "SCHEDULING"}}, {
        "projectArn": project, "appArn": "arn:aws:devicefarm:us-west-2:1:upload:p/app", "devicePoolArn": pool,
        "name": ANY, "test": {"type": "APPIUM_PYTHON", "testPackageArn": "arn:aws:devicefarm:us-west-2:1:upload:p/package",
                              "testSpecArn": "arn:aws:devicefarm:us-west-2:1:upload:p/spec"},
        "executionConfiguration": {"jobTimeoutMinutes": ANY}})
    stubber.add_response("get_run", {"run": {"arn": run, "status": "COMPLETED", "result": "PASSED"}}, {"arn": run})
    job = "arn:aws:devicefarm:us-west-2:1:job:p/r1/00000"
    stubber.add_response("list_jobs", {"jobs": [{"arn": job, "device": {
        "arn": "arn:aws:devicefarm:us-west-2::device:F1", "name": "Google Pixel 7", "model": "Pixel 7",
        "os": "14", "manufacturer": "Google"}}]}, {"arn": run})
    stubber.add_response("list_artifacts", {"artifacts": [
        {"arn": job + "/logcat-artifact", "name": "Logcat", "type": "LOGCAT", "url": urls.url("logcat")},
        {"arn": job + "/customer-artifact", "name": "Customer Artifacts", "type": "CUSTOMER_ARTIFACT", "url": urls.url("artifacts")}]},
        {"arn": job, "type": "FILE"})
    return project, pool


def device_farm_runner(tmp_path, native_runner, urls, **stubs):
    import boto3
    from botocore.stub import Stubber

    from device_runners.android.providers import aws_device_farm as adf

    client = boto3.client("devicefarm", region_name="us-west-2", aws_access_key_id="k",
                          aws_secret_access_key="s")
    stubber = Stubber(client)
    project, pool = device_farm_stubs(stubber, urls, **stubs)
    stubber.activate()
    apk = tmp_path / "app.apk"
    apk.write_bytes(b"PK\x05\x06" + bytes(18))
    adf.POLL_S = 0.0
    return adf.DeviceFarmRunner(adf.DeviceFarm(client, project), pool_arn=pool, app=apk,
                                native_runner=native_runner), stubber


def one_trial(tmp_path: Path, native_runner: Path, request, **urls):
    """One trial on the stubbed Device Farm, every stubbed call made: (its result, the presigned
    URLs, holding what was uploaded). `urls`: PresignedUrls' options (`served`, `run_package`)."""
    presigned = PresignedUrls(tmp_path, **urls)
    try:
        runner, stubber = device_farm_runner(tmp_path, native_runner, presigned)
        result = runner.run(request)
        stubber.assert_no_pending_responses()
    finally:
        presigned.close()
    return result, presigned
