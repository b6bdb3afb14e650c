"""`harness site`, the paper check and `harness report --paper-check`.

The site is rendered from a database that real runs fill (`harness run` on this host, in a
subprocess): two tiny models measured, one model whose forward raises (a failed cell per format),
and a second run adding a format the first did not measure (cells never run). It is checked as
files (nothing refers outside the directory, two renders are identical) and as a user sees it, in
headless Chromium (Debian's `chromium` and `chromium-driver`, driven by Selenium) with the site
served on 127.0.0.1: no request leaves the site's directory, no console error, a click on a
header sorts the table, the three states look different, a screenshot is taken.

The paper check's rules are tested on records written for it (an iPhone 12 and a Jetson Nano
cannot be attached here): device classes, the format chosen, the ratio and the verdicts.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import urlopen

import pytest
from click.testing import CliRunner

from tests.support.browser import browser  # noqa: F401 - the fixture
from tests.support.paths import TESTS, TINY
from device_runners.contract import DeviceInfo, RunResult
from harness.bench.stats import SampleStats
from harness.cli import main
from harness.report.paper_check import (
    FASTER,
    NOT_MEASURED,
    REPRODUCED,
    SLOWER,
    device_class,
    paper_check,
    paper_runtime,
)
from harness.site.plots import ParetoPoint, frontier, pareto_svg
from harness.store import BenchmarkRecord, Store

FAST = ["--warmup", "1", "--iterations", "5", "--min-time", "0.05", "--trials", "1"]
SLOW = f"{TESTS / 'tiny_models.py'}:slow_convnet"
FAILING = f"{TESTS / 'tiny_models.py'}:failing_forward"


def harness(args, env, check):
    """The command in this process (the CLI's own process is test_cli_output's), from the
    database's directory, where a run writes its leaderboard."""
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=os.path.dirname(env["HARNESS_DB"])):
        out = runner.invoke(main, args, env=env, catch_exceptions=False)
    assert out.exit_code == check, (args, out.output)
    return out


@pytest.fixture(scope="module")
def site_db(tmp_path_factory, shared_cache):
    """An XCTest log imported (repvit_m0_9 on iPhone13,2). Run 1: tiny_convnet and slow_convnet
    measured in executorch and tflite, failing_forward failing in both. Run 2: tiny_convnet in executorch, tflite and onnx, so slow_convnet and
    failing_forward were never run in onnx."""
    where = tmp_path_factory.mktemp("site-db")
    env = dict(os.environ, HARNESS_DB=str(where / "h.db"), HARNESS_CACHE=str(shared_cache))
    # One imported record first (repvit_m0_9 on an iPhone 12, from an XCTest log), so the host
    # runs stay the newest and the paper check has one measurement of the paper's device.
    harness(["results", "import", str(TESTS / "data" / "results_io" / "xctest_executorch.log")],
            env, check=0)
    harness(["run", "--models", f"{TINY},{SLOW},{FAILING}", "--formats", "executorch,tflite",
             *FAST], env, check=3)
    harness(["run", "--models", TINY, "--formats", "executorch,tflite,onnx", *FAST], env, check=0)
    with Store(where / "h.db", readonly=True) as store:
        runs = [run.id for run in reversed(store.runs())  # the host runs, oldest first
                if not run.config.get("imported")]
    return dict(db=where / "h.db", where=where, runs=runs)


def render(db: Path, out: Path, *extra) -> str:
    result = CliRunner().invoke(main, ["site", "--db", str(db), "--out", str(out), *extra],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def site(site_db):
    out = site_db["where"] / "site"
    output = render(site_db["db"], out)
    return dict(site_db, out=out, output=output)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------------------------
# The files


def test_the_site_has_every_page_and_two_renders_are_identical(site):
    files = _files(site["out"])
    first, second = site["runs"]
    assert {"index.html", "paper-check.html", "runs.html", ".harness-site",
            "models/tiny_models_tiny_convnet.html", "models/tiny_models_slow_convnet.html",
            "models/tiny_models_failing_forward.html",
            f"compare/{first}--{second}.html"} <= set(files), sorted(files)
    assert f"Site of {len(files) - 1} pages written to" in site["output"]
    again = site["where"] / "again"
    render(site["db"], again)
    assert _files(again) == files
    # Rendering over the old site replaces it whole (and still gives the same bytes).
    render(site["db"], again)
    assert _files(again) == files


def test_no_file_refers_to_anything_outside_the_site(site):
    root = site["out"].resolve()
    for rel, data in _files(site["out"]).items():
        text = data.decode("utf-8")
        for banned in ("http://", "https://", "//"):
            assert banned not in text, (rel, banned, text[max(0, text.find(banned) - 80):][:160])
        for link in re.findall(r'\b(?:href|src)="([^"]*)"', text):
            if link.startswith("#") or link.startswith("data:"):
                continue
            assert not urlsplit(link).scheme and not link.startswith("/"), (rel, link)
            target = (root / rel).parent / unquote(link.split("#")[0])
            assert target.resolve().is_relative_to(root) and target.resolve().is_file(), (rel, link)


def test_the_index_shows_the_three_states_and_why_a_cell_failed(site):
    index = (site["out"] / "index.html").read_text()
    rows = re.findall(r'<tr class="(st-[a-z]+)" data-model="([^"]+)" data-format="([^"]+)">(.*?)</tr>',
                      index)
    states = {(model, fmt): (state, body) for state, model, fmt, body in rows}
    assert states[("tiny_models_tiny_convnet", "onnx")][0] == "st-ok"
    assert states[("tiny_models_slow_convnet", "executorch")][0] == "st-ok"
    assert states[("tiny_models_slow_convnet", "onnx")][0] == "st-notrun"
    assert states[("tiny_models_failing_forward", "onnx")][0] == "st-notrun"
    failed, body = states[("tiny_models_failing_forward", "executorch")]
    assert failed == "st-failed" and "✗ build_failed" in body
    assert "this forward always fails" in body  # on hover (title) ...
    assert "this forward always fails" in index.split("</table>")[1]  # ... and in a note
    # Each device's note counts the rows of its own table by state.
    groups = re.findall(r'<p class="note">(\d+) ok, (\d+) failed, (\d+) not run\.</p>.*?'
                        r'(<table class="sortable index".*?</table>)', index, re.S)
    assert groups and len(groups) == index.count('<table class="sortable index"')
    for *counts, table in groups:
        assert tuple(map(int, counts)) == tuple(table.count(f'<tr class="{s}"')
                                                for s in ("st-ok", "st-failed", "st-notrun"))
    assert sum(int(g[1]) for g in groups) >= 1 and sum(int(g[2]) for g in groups) >= 1
    # The imported record is a table of its own device, flagged with its origin.
    ok, body = states[("repvit_m0_9", "executorch-coreml")]
    assert ok == "st-ok" and "imported [" in body
    assert "imported from xctest_executorch.log (XCTest performance log)" in index
    # The newest run against the one before it, linked to the whole comparison.
    first, second = site["runs"]
    assert "Newest run against the one before it" in index
    assert f'href="compare/{first}--{second}.html"' in index
    # An unstable figure is flagged with its reasons (the tiny model's timings on this busy
    # machine usually are; when none is, no flag may appear without a reason).
    for _, body in states.values():
        if "⚠ unstable" in body:
            assert re.search(r'title="[^"]+"[^>]*>⚠ unstable (invalid )?\[\d', body), body


def test_a_model_page_has_samples_by_trial_history_export_row_and_provenance(site):
    page = (site["out"] / "models" / "tiny_models_tiny_convnet.html").read_text()
    assert "Export matrix row" in page and "delegation" in page and "XNNPACK" in page
    assert "Every timed sample, trial by trial" in page
    assert page.count('class="series"') >= 3  # one polyline per trial and cell at least
    assert "History across runs and commits" in page
    first, second = site["runs"]
    assert first in page and second in page and "(shown)" in page
    for label in ("git commit", "runtime versions", "exporter versions", "settings", "command"):
        assert f"<dt>{label}</dt>" in page
    failing = (site["out"] / "models" / "tiny_models_failing_forward.html").read_text()
    assert "✗ build_failed" in failing and "this forward always fails" in failing


def test_the_paper_check_page_lists_every_published_latency(site):
    page = (site["out"] / "paper-check.html").read_text()
    for model in ("repvit_m2_3", "edgenext_xx_small", "mobilevit_s"):
        assert f"<td>{model}</td>" in page
    assert '<a href="models/repvit_m0_9.html">repvit_m0_9</a>' in page  # measured: linked
    assert page.count("not measured on iPhone 12 yet") == 4
    # The imported XCTest measurement of repvit_m0_9 on an iPhone 12 (iPhone13,2) stands beside
    # the paper's 0.9 ms.
    row = next(r for r in page.split("<tr>") if "repvit_m0_9" in r)
    assert "executorch-coreml" in row and "iPhone13,2" in row
    assert 'class="verdict-reproduced">reproduced within 15%' in row
    assert page.count("not measured on Jetson Nano yet") == 6


def test_site_refuses_a_directory_it_did_not_write(site, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, ["site", "--db", str(site["db"]), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "did not write" in result.output and "nothing was changed" in result.output
    assert (tmp_path / "notes.txt").read_text() == "mine" and len(list(tmp_path.iterdir())) == 1


def test_site_serve_answers_on_loopback_until_ctrl_c(site, tmp_path):
    env = dict(os.environ, HARNESS_DB=str(site["db"]))
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "site", "--out",
                             str(tmp_path / "served"), "--serve", "--port", "0"], env=env,
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        url = None
        for line in proc.stdout:
            match = re.search(r"at (http://127\.0\.0\.1:\d+/index\.html)", line)
            if match:
                url = match.group(1)
                break
        assert url, proc.stderr.read()
        with urlopen(url, timeout=30) as response:
            assert response.status == 200 and b"<table" in response.read()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (out, err)
    assert "Stopped." in out


# ----------------------------------------------------------------------------------------------
# In a browser


class _Recording(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def served(site):
    requests: list[str] = []
    handler = type("Handler", (_Recording,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             partial(handler, directory=str(site["out"])))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield dict(site, origin=f"http://127.0.0.1:{server.server_address[1]}", requests=requests)
    finally:
        server.shutdown()
        server.server_close()


def _network_urls(driver, origin: str) -> list[str]:
    """Every URL requested since the last call: by the site's pages (whatever the URL), and any
    http(s) URL at all. Chromium's own new-tab page keeps loading chrome:// resources in the
    background of a fresh profile; those are neither the page's nor the network's."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            params = message["params"]
            url = params["request"]["url"]
            if params.get("documentURL", "").startswith(origin) or url.startswith(("http:", "https:")):
                urls.append(url)
    return urls


def _rows(driver, table_id: str) -> list[tuple[str, str, str]]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr'))"
        ".map(r => [r.dataset.model, r.dataset.format, r.cells[7].getAttribute('data-v')"
        " ?? r.cells[7].textContent.trim()]);", table_id)


def test_in_chromium_the_index_loads_nothing_else_sorts_and_tells_the_states_apart(
        served, browser, tmp_path):  # noqa: F811 - the fixture imported from tests/support
    from selenium.webdriver.common.by import By

    origin = served["origin"]
    # Drop what the browser logged before the page (its own start page, chrome:// resources):
    # from here on every request is the page's.
    browser.get_log("performance")
    browser.get(f"{origin}/index.html")
    assert browser.title.startswith("Benchmark results")
    # Every request, whatever the browser made it for, went to the site's own server ...
    urls = _network_urls(browser, origin)
    assert urls and all(u.startswith(origin + "/") or u.startswith("data:") for u in urls), urls
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(r.startswith(origin + "/") or r.startswith("data:") for r in resources), resources
    # ... and asked it only for files of the site's directory.
    for path in served["requests"]:
        assert (served["out"] / unquote(path.split("?")[0]).lstrip("/")).is_file(), path
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe

    # A click on a header sorts the table by that column, numbers as numbers, empty last.
    table = browser.find_element(By.XPATH, "//table[contains(@class, 'index')]"
                                           "[.//tr[@data-model='tiny_models_tiny_convnet']]")
    table_id = table.get_attribute("id")
    before = _rows(browser, table_id)
    header = table.find_element(By.XPATH, ".//thead/tr/th[normalize-space()='median ms']")
    header.click()
    ascending = _rows(browser, table_id)
    assert ascending != before and sorted(ascending) == sorted(before)
    figures = [float(v) for _, _, v in ascending if v not in ("", None) and re.match(r"^[\d.e+-]+$", v)]
    assert figures == sorted(figures) and len(figures) >= 5
    measured = [i for i, (_, _, v) in enumerate(ascending) if v and re.match(r"^[\d.e+-]+$", v)]
    assert measured == list(range(len(measured)))  # failed and not-run cells after the figures
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = [float(v) for _, _, v in _rows(browser, table_id)
                  if v and re.match(r"^[\d.e+-]+$", v)]
    assert descending == sorted(figures, reverse=True)

    # The three states differ in what they say and in how they look.
    looks = browser.execute_script("""
        const out = {};
        for (const state of ['st-ok', 'st-failed', 'st-notrun']) {
          const row = document.querySelector('table.index tr.' + state);
          const cell = row.querySelector('td.state');
          const style = getComputedStyle(cell);
          out[state] = [cell.textContent.trim(), style.backgroundColor, style.backgroundImage,
                        style.color, style.fontStyle, cell.getAttribute('title') || ''];
        }
        return out;""")
    ok, failed, not_run = looks["st-ok"], looks["st-failed"], looks["st-notrun"]
    assert ok[0] == "✓ ok" and failed[0].startswith("✗ ") and not_run[0] == "not run"
    assert len({tuple(ok[1:5]), tuple(failed[1:5]), tuple(not_run[1:5])}) == 3, looks
    assert "this forward always fails" in failed[5]

    shot = tmp_path / "index.png"
    assert browser.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000

    # A model page draws its plots, with no console error either.
    browser.get(f"{origin}/models/tiny_models_tiny_convnet.html")
    boxes = browser.execute_script(
        "return Array.from(document.querySelectorAll('svg.plot'))"
        ".map(s => s.getBoundingClientRect().width);")
    assert boxes and all(w > 100 for w in boxes), boxes
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    urls = _network_urls(browser, origin)
    assert all(u.startswith(origin + "/") or u.startswith("data:") for u in urls), urls


# ----------------------------------------------------------------------------------------------
# The paper check


def _stats(median: float, low: float, high: float) -> SampleStats:
    return SampleStats(n=100, median=median, mean=median, std=0.01 * median, cv=0.01,
                       p90=high, p99=high, min=low, max=high, trimmed_mean=median,
                       ci_low=low, ci_high=high, ci_level=0.95, outliers=0)


def _record(model, fmt, product_model, median, ci=None, status="ok", record_id=1, warnings=()):
    device = DeviceInfo(device_id=f"dev-{product_model}", platform="ios",
                        product_model=product_model, kind="ios")
    low, high = ci or (median * 0.99, median * 1.01)
    result = RunResult(model=model, format=fmt, status=status, device=device,
                       samples_ms=tuple([median] * 11) if status == "ok" else (),
                       error="" if status == "ok" else "it failed")
    return BenchmarkRecord(run_id="r", model=model, format=fmt, device_id=device.device_id,
                           status=status, reason="" if status == "ok" else "it failed",
                           artifact={}, model_info={}, result=result,
                           stats=_stats(median, low, high) if status == "ok" else None,
                           warnings=warnings, id=record_id)


def test_device_class_and_runtime_come_from_the_published_device():
    assert device_class("iPhone 12 (iOS 16 Core ML)") == "iPhone 12"
    assert paper_runtime("iPhone 12 (iOS 16 Core ML)") == "Core ML"
    assert device_class("Jetson Nano") == "Jetson Nano" and paper_runtime("Jetson Nano") == ""


def test_paper_check_verdicts_formats_and_device_classes():
    records = [
        # repvit_m1_0, 1.0 ms on iPhone 12 (Core ML): Core ML preferred over a faster tflite;
        # an iPhone 12 Pro and this host never count.
        _record("repvit_m1_0", "coreml@all", "iPhone 12", 1.05, (1.0, 1.1), record_id=1),
        _record("repvit_m1_0", "tflite", "iPhone 12", 0.5, record_id=2),
        _record("repvit_m1_0", "coreml@all", "iPhone 12 Pro", 0.2, record_id=3),
        _record("repvit_m1_0", "coreml@all", "host-machine", 0.1, record_id=4),
        # repvit_m0_9, 0.9 ms: faster, on a phone recorded by its product type.
        _record("repvit_m0_9", "coreml@cpu_and_ne", "iPhone13,2", 0.6, record_id=5),
        # repvit_m1_1, 1.1 ms: only LiteRT measured there: it stands in, and says so.
        _record("repvit_m1_1", "tflite", "iPhone 12", 2.0, record_id=6),
        # repvit_m1_5: tried on an iPhone 12, failed.
        _record("repvit_m1_5", "coreml@all", "iPhone 12", 0, status="run_failed", record_id=7),
        # repvit_m2_3, 2.3 ms: 1.13x, but the CI crosses the 15% line.
        _record("repvit_m2_3", "coreml@all", "iPhone 12", 2.6, (2.5, 2.7), record_id=8),
        # edgenext_xx_small, 19.3 ms on a Jetson Nano, runtime unnamed: executorch compared.
        _record("edgenext_xx_small", "onnx", "NVIDIA Jetson Nano Developer Kit", 40.0, record_id=9),
        _record("edgenext_xx_small", "executorch", "NVIDIA Jetson Nano Developer Kit", 19.0,
                record_id=10, warnings=("the CV is 30%",)),
    ]
    rows = {r.model: r for r in paper_check(records, {})}
    assert len(rows) == 11  # every published latency, measured or not
    m10 = rows["repvit_m1_0"]
    assert (m10.verdict, m10.format, m10.device_class) == (REPRODUCED, "coreml@all", "iPhone 12")
    assert m10.ratio == pytest.approx(1.05) and m10.ratio_ci == pytest.approx((1.0, 1.1))
    assert not m10.notes
    assert rows["repvit_m0_9"].verdict == FASTER and rows["repvit_m0_9"].ratio == pytest.approx(0.6 / 0.9)
    m11 = rows["repvit_m1_1"]
    assert m11.verdict == SLOWER and m11.format == "tflite"
    assert any("no Core ML format measured" in n and "tflite stands in" in n for n in m11.notes)
    m15 = rows["repvit_m1_5"]
    assert m15.verdict == NOT_MEASURED and "run_failed" in m15.notes[0]
    m23 = rows["repvit_m2_3"]
    assert m23.verdict == REPRODUCED and any("crosses the 15% line" in n for n in m23.notes)
    edge = rows["edgenext_xx_small"]
    assert edge.verdict == REPRODUCED and edge.format == "executorch"
    assert any("names no runtime" in n for n in edge.notes)
    assert any("unstable" in n for n in edge.notes)
    assert rows["mobilevit_xxs"].verdict == NOT_MEASURED and rows["mobilevit_xxs"].notes == ()


def test_report_paper_check_prints_the_table_from_a_database(tmp_path):
    db = tmp_path / "h.db"
    record = _record("repvit_m1_0", "coreml@all", "iPhone 12", 1.08, (1.05, 1.1))
    device = record.result.device
    with Store(db) as store:
        run_id = store.begin_run(device=dataclasses.asdict(device), config={}, argv="test",
                                 git_sha=None, harness_version="test")
        store.add_record(dataclasses.replace(record, run_id=run_id, id=None))
        store.finish_run(run_id)
    out = CliRunner().invoke(main, ["report", "--paper-check", "--db", str(db), "--wide"])
    assert out.exit_code == 0, out.output
    line = next(line for line in out.output.splitlines() if line.startswith("repvit_m1_0 "))
    assert "1.0 on iPhone 12 (iOS 16 Core ML)" in line and "1.08 [1.05, 1.10]" in line
    assert "coreml@all" in line and "reproduced within 15%" in line
    assert "not measured on Jetson Nano yet" in out.output
    assert "11 published latencies: 1 reproduced, 10 not measured." in out.output
    # The site's paper check says the same.
    render(db, tmp_path / "site")
    page = (tmp_path / "site" / "paper-check.html").read_text()
    assert 'class="verdict-reproduced">reproduced within 15%' in page


# ----------------------------------------------------------------------------------------------
# The Pareto plot


def test_pareto_plot_draws_the_frontier_and_is_an_inline_svg_of_the_page():
    points = [ParetoPoint("a", "executorch", "RepViT", 1.0, 78.0),
              ParetoPoint("b", "executorch", "RepViT", 2.0, 80.0),
              ParetoPoint("c", "tflite", "EMO", 2.5, 79.0),  # beaten by b on both counts
              ParetoPoint("d", "onnx", "EMO", 3.0, 81.0)]
    assert [p.model for p in frontier(points)] == ["a", "b", "d"]
    svg = pareto_svg(points, "host, 1 thread", "g1")
    assert svg == pareto_svg(points, "host, 1 thread", "g1")
    assert svg.startswith('<svg class="mpl"') and "xmlns" not in svg and "<metadata" not in svg
    assert "//" not in svg and "<style" not in svg
    assert svg.count("<title>") == 4 and "c / tflite: 2.50 ms, top-1 79.0" in svg
    ids = re.findall(r'\bid="([^"]+)"', svg)
    assert ids and all(i.startswith("g1-") for i in ids)
    assert all(ref.startswith("g1-") for ref in re.findall(r'(?:url\(#|href="#)([^")]+)', svg))


LAYOUT = """
const W = document.documentElement.clientWidth;
const tables = [...document.querySelectorAll('table.index')].map(t => {
  const box = t.closest('div.scroll');
  return [t.id, box.clientWidth, box.scrollWidth];
});
const escaping = [...document.querySelectorAll('body *')]
  .filter(el => !(el.parentElement && el.parentElement.closest('div.scroll'))
                && el.getBoundingClientRect().right > W + 1)
  .map(el => el.tagName + '.' + el.className);
const texts = [...document.querySelectorAll('svg text')]
  .map(t => [t.textContent.trim(), t.getBoundingClientRect()]).filter(([, r]) => r.width > 0);
const overlapping = [];
for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {
  const [a, p] = texts[i], [b, q] = texts[j];
  if (p.left < q.right - 1 && q.left < p.right - 1 && p.top < q.bottom - 1 && q.top < p.bottom - 1)
    overlapping.push(a + ' / ' + b);
}
return {page: document.documentElement.scrollWidth, window: W, tables, escaping, overlapping};
"""


def test_in_chromium_every_page_fits_a_laptop_and_a_phone_and_no_label_covers_another(
        site, browser):  # noqa: F811 - the fixture imported from tests/support
    pages = sorted(site["out"].rglob("*.html"))
    assert len(pages) >= 5
    for width in (1400, 390):
        browser.set_window_size(width, 1000)
        for page in pages:
            browser.get(page.as_uri())
            seen = browser.execute_script(LAYOUT)
            where = f"{page.relative_to(site['out'])} at {width} px"
            # Nothing but a table's own scrolling box is wider than the window ...
            assert seen["page"] <= seen["window"] and not seen["escaping"], (where, seen)
            # ... a laptop shows every index table whole, without scrolling sideways ...
            if width == 1400:
                assert all(inner <= box for _, box, inner in seen["tables"]), (where, seen)
            # ... and no plot's text (a trial's name, an axis's, a point's) covers another.
            assert not seen["overlapping"], (where, seen)
