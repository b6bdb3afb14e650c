"""Trust boundaries, what the site and the digests show (issue 26, points 11 and 18;
docs/security.md): names in the database came from imported files and phones, so they are text,
never markup, mathematics or a path.

- One hostile record does not stop `harness site`: a device named like matplotlib mathematics
  (`$x^$`), a 300-character model name, names that differ only in case or in characters a file
  name cannot hold, numbers where an older import put names; every page's file name bounded and
  unique, every name escaped.
- In Chromium, under the site's CSP (scripts by hash, no 'unsafe-inline'), no injected markup
  runs and the site's own script still sorts.
- `--serve` serves the site's files only (no dotfile, no listing, no path outside it) and only to
  requests addressed to 127.0.0.1 or localhost (DNS rebinding).
- The leaderboard and the farm's digest are literal Markdown: `|`, links and HTML escaped.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from device_runners.contract import DeviceInfo, RunResult
from harness.farm.reports import DeviceOutcome, FarmOutcome, digest
from harness.site.cells import SLUG_CHARS
from harness.store import BenchmarkRecord, Store
from tests.support.browser import browser  # noqa: F401 - the fixture
from tests.support.cli import harness_cli
from tests.support.paths import ROOT

PWNED = "window.__pwned"
NAMES = [
    "repvit_m0_9",  # a zoo model, so the Pareto plot (matplotlib) draws the device's title
    "m" * 300,
    f"<script>{PWNED}=1</script>",
    f'"><img src=x onerror="{PWNED}=2">',
    "Net", "net", "a/b", "a?b",
]
DEVICE = "$x^$ \\foo{ <b>phone</b> | x"


def _v3(name: str, runner: str) -> dict:
    return {"benchmark": {"name": "bench", "extra_info": {}},
            "model": {"name": name, "backend": "xnnpack", "extra_info": {}},
            "metric": {"name": "avg_inference_latency(ms)", "benchmark_values": [1.0, 1.2, 1.1],
                       "extra_info": {}},
            "runners": [{"name": runner, "type": "Android 14", "cpu_info": ""}]}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A database of hostile names: an import of them, and a run as an older harness stored one
    (numbers where names go)."""
    where = tmp_path_factory.mktemp("hostile-site")
    db = where / "h.db"
    path = where / "names.json"
    path.write_text(json.dumps([_v3(name, DEVICE) for name in NAMES]))
    harness_cli("results", "import", path, "--db", db, cwd=where, check=0)
    device = DeviceInfo(device_id="old-phone", platform="android", kind="android")
    with Store(db) as store:
        run = store.begin_run({"device_id": "old-phone", "product_model": 5, "cpu": 7,
                               "os_version": 14}, {"models": [12], "formats": ["tflite"]},
                              "harness results import old.json", None, "0")
        result = RunResult(model="12", format="tflite", status="ok", device=device,
                           runtime="litert", samples_ms=(1.0, 1.5, 1.2))
        store.add_record(BenchmarkRecord(run_id=run, model="12", format="tflite",
                                         device_id="old-phone", status="ok", reason="",
                                         artifact={}, model_info={"family": 3}, result=result))
        store.finish_run(run)
    site = where / "site"
    out = harness_cli("site", "--db", db, "--out", site, cwd=where, check=0)
    assert out.stderr == "", out.stderr
    return {"db": db, "site": site, "where": where}


def test_one_hostile_record_does_not_stop_the_site_and_every_name_is_text(hostile):
    site = hostile["site"]
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    models = [p for p in pages if p.startswith("models/")]
    assert len(models) == len(NAMES) + 1  # a page each: "Net"/"net", "a/b"/"a?b" apart
    assert max(len(p.split("/")[-1]) for p in models) <= SLUG_CHARS + len("-0123456789.html")
    assert len({p.lower() for p in models}) == len(models)
    for path in site.rglob("*.html"):
        html = path.read_text()
        assert "<script>window" not in html and "<img src=x" not in html and "<b>phone" not in html
        [csp] = re.findall(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html)
        scripts = re.search(r"script-src ([^;]*);", csp).group(1)
        assert "unsafe-inline" not in scripts and scripts.startswith("'sha256-")
    index = (site / "index.html").read_text()
    assert "$x^$ \\foo{ &lt;b&gt;phone&lt;/b&gt; | x" in index  # the device's name, as text
    assert "old-phone, 5, 7, 14" in (site / "models" / "12.html").read_text()


def test_markdown_reports_are_literal(hostile):
    lb = hostile["where"] / "lb.md"
    harness_cli("report", "--db", hostile["db"], "--out", lb, cwd=hostile["where"], check=0)
    text = lb.read_text()
    assert "<script>" not in text and "<img" not in text and "<b>" not in text
    assert "&lt;script&gt;window.\\_\\_pwned" not in text  # `_` is left alone ...
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text  # ... HTML is not
    assert "\\$x^\\$" not in text and "phone&lt;/b&gt; \\| x" in text  # a `|` in a name
    night = FarmOutcome("lab|x", "lab-1", [DeviceOutcome(
        "pixel|<b>7</b>", "r", unavailable="adb said <img src=x onerror=1> | see [here](http://x)")])
    text = digest(night)
    assert "<img" not in text and "<b>" not in text and "[here](" not in text
    assert "## pixel\\|&lt;b&gt;7&lt;/b&gt;" in text
    assert "adb said &lt;img src=x onerror=1&gt; \\| see \\[here\\](http://x)" in text


# ----------------------------------------------------------------------------------------------
# --serve, and the site in a browser


@pytest.fixture
def served(hostile, tmp_path):
    """`harness site --serve` as a user runs it, on a free port."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HARNESS_DB": str(hostile["db"])}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "site", "--out", str(tmp_path / "served"),
                             "--serve", "--port", "0"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        port = None
        for line in proc.stdout:
            found = re.search(r"at http://127\.0\.0\.1:(\d+)/index\.html", line)
            if found:
                port = int(found.group(1))
                break
        assert port, proc.stderr.read()
        yield dict(hostile, port=port, out=tmp_path / "served")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=60)


def _get(port: int, path: str, host: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", f"127.0.0.1:{port}" if host is None else host)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_serve_gives_the_site_s_files_only_to_requests_addressed_to_it(served):
    port = served["port"]
    assert (served["out"] / ".harness-site").is_file()
    status, body = _get(port, "/index.html")
    assert status == 200 and b"<table" in body
    assert _get(port, "/")[0] == 200 and _get(port, "/", host=f"localhost:{port}")[0] == 200
    for path in ("/.harness-site", "/models/", "/models", "/../h.db", "/%2e%2e/h.db",
                 "/models/..%2f..%2fh.db", "/nothing.html"):
        assert _get(port, path)[0] == 404, path
    for host in (f"evil.example:{port}", "127.0.0.1", f"127.0.0.1.evil.example:{port}", ""):
        status, body = _get(port, "/index.html", host=host)
        assert (status, b"<table" in body) == (403, False), host


def test_in_chromium_no_injected_markup_runs_and_the_site_s_script_still_sorts(served, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    origin = f"http://127.0.0.1:{served['port']}"
    for page in ["index.html", *sorted(p.relative_to(served["out"]).as_posix()
                                       for p in (served["out"] / "models").glob("*.html"))]:
        browser.get(f"{origin}/{page}")
        assert browser.execute_script(f"return typeof {PWNED}") == "undefined", page
        assert browser.execute_script("return document.querySelectorAll('img, iframe, b').length") == 0
        severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, (page, severe)  # a CSP violation would be one
    browser.get(f"{origin}/index.html")
    header = browser.find_element(By.XPATH, "//table[contains(@class, 'index')]//thead/tr/th[1]")
    header.click()  # the site's own script, allowed by its hash, sorts
    assert header.get_attribute("aria-sort") == "ascending"
