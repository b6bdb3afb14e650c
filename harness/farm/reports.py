"""What a farm run leaves for people and CI: JUnit XML, a JSON summary, a Markdown digest of what
changed, and the digest POSTed to a webhook.

JUnit: one test suite per device, one test case per cell (classname `farm.<device>.<model>`,
name the format, time the seconds the cell took); slower, broken and new-and-failed cells are
failures, unsupported cells skipped; every cell's line in the suite's system-out. The XML is
valid under both schemas CI systems read it with (tests/data/real/junit): the strict Ant JUnit
schema (windyroad's JUnit.xsd: a bare `testsuites`; each suite with `package`, `id`,
`timestamp` without a zone, `hostname`, and `properties`, `system-out` and `system-err` in that
order; each case with `time`; no `system-out` inside a case) and Jenkins' (xunit-plugin's
junit-10.xsd, what Jenkins, GitLab and GitHub's reporters accept).
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from harness.farm.regression import FAILING, NEW, NEW_FAILED, UNSUPPORTED, VERDICTS, Baseline
from harness.placement.contracts import CONTRACT_BROKEN
from harness.report.compare import BROKEN, FASTER, NO_CHANGE, SLOWER, UNDECIDED, CellComparison
from harness.report.figures import fmt_ms
from harness.report.text import md_text


@dataclass
class DeviceOutcome:
    """One device of a farm run: its harness run, baseline and verdicts, or why it had none."""

    device: str
    run_id: str | None
    baseline: Baseline | None = None
    verdicts: list[CellComparison] = field(default_factory=list)
    quarantined: str = ""  # why the device was quarantined for the night
    unavailable: str = ""  # why the device could not be opened at all
    statuses: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # cell -> (status, reason)
    seconds: float = 0.0
    started_at: float | None = None  # when the device's run began (time.time())
    cell_seconds: dict[tuple[str, str], float] = field(default_factory=dict)  # cell -> seconds it took


@dataclass
class FarmOutcome:
    farm: str
    run: str
    devices: list[DeviceOutcome]

    @property
    def verdicts(self) -> list[CellComparison]:
        return [v for d in self.devices for v in d.verdicts]

    def count(self, verdict: str) -> int:
        return sum(v.verdict == verdict for v in self.verdicts)

    @property
    def failed(self) -> bool:
        return any(v.verdict in FAILING for v in self.verdicts)


def ratio_text(v: CellComparison) -> str:
    if v.ratio is None:
        return ""
    ci = f" [{v.ratio_ci[0]:.3f}, {v.ratio_ci[1]:.3f}]" if v.ratio_ci else ""
    return f"{v.ratio:.3f}x{ci}"


def _line(v: CellComparison) -> str:
    """One cell in words: `slower: 0.742 -> 1.48 ms, 2.000x [1.95, 2.05], p 3e-12; threads 2 -> 1`."""
    parts = []
    if v.a_median is not None or v.b_median is not None:
        parts.append(f"{fmt_ms(v.a_median)} -> {fmt_ms(v.b_median)} ms")
    if v.ratio is not None:
        parts.append(ratio_text(v))
    if v.p_value is not None:
        parts.append(f"p {v.p_value:.2g}")
    text = f"{v.verdict}: " + ", ".join(parts) if parts else v.verdict
    return text + ("; " + "; ".join(n for n in v.notes if n) if any(v.notes) else "")


# ----------------------------------------------------------------------------------------------
# JUnit XML


def _timestamp(t: float | None) -> str:
    """ISO 8601 without a zone, as the Ant schema requires: UTC, by the farm's convention."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t if t is not None else time.time()))


def junit_xml(outcome: FarmOutcome) -> str:
    """The night as JUnit XML, valid under the Ant and the Jenkins schemas (module docstring)."""
    suites = ET.Element("testsuites")  # the Ant schema allows no attributes here
    host = socket.gethostname() or "localhost"
    for number, device in enumerate(outcome.devices):
        failures = sum(v.verdict in FAILING for v in device.verdicts)
        skipped = sum(v.verdict == UNSUPPORTED for v in device.verdicts)
        suite = ET.SubElement(suites, "testsuite", name=device.device, package=f"farm.{outcome.farm}",
                              id=str(number), timestamp=_timestamp(device.started_at),
                              hostname=host, tests=str(len(device.verdicts)),
                              failures=str(failures), errors="0", skipped=str(skipped),
                              time=f"{device.seconds:.3f}")
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="farm", value=outcome.farm)
        ET.SubElement(props, "property", name="farm_run", value=outcome.run)
        ET.SubElement(props, "property", name="run_id", value=device.run_id or "")
        ET.SubElement(props, "property", name="baseline",
                      value=device.baseline.description if device.baseline else "")
        for name in ("quarantined", "unavailable"):
            if getattr(device, name):
                ET.SubElement(props, "property", name=name, value=getattr(device, name))
        lines = []
        for v in device.verdicts:
            seconds = device.cell_seconds.get((v.model, v.format), 0.0)
            case = ET.SubElement(suite, "testcase", classname=f"farm.{device.device}.{v.model}",
                                 name=v.format, time=f"{seconds:.3f}")
            line = _line(v)
            lines.append(f"{v.model} / {v.format}: {line}")
            if v.verdict in FAILING:
                failure = ET.SubElement(case, "failure", type=v.verdict, message=line)
                status, reason = device.statuses.get((v.model, v.format), ("", ""))
                failure.text = f"{line}\nstatus: {status}\n{reason}".strip()
            elif v.verdict == UNSUPPORTED:
                ET.SubElement(case, "skipped", message=line).text = line
        ET.SubElement(suite, "system-out").text = "\n".join(lines)
        ET.SubElement(suite, "system-err").text = ""
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


# ----------------------------------------------------------------------------------------------
# JSON summary


def summary(outcome: FarmOutcome, exit_code: int) -> dict:
    return {
        "farm": outcome.farm,
        "run": outcome.run,
        "counts": {v: outcome.count(v) for v in VERDICTS},
        "failed": outcome.failed,
        "exit_code": exit_code,
        "devices": [{
            "device": d.device,
            "run_id": d.run_id,
            "baseline": d.baseline.description if d.baseline else None,
            "baseline_runs": list(d.baseline.runs) if d.baseline else [],
            "quarantined": d.quarantined or None,
            "unavailable": d.unavailable or None,
            "seconds": round(d.seconds, 3),
            "cells": [{
                "model": v.model, "format": v.format, "verdict": v.verdict,
                "baseline_median_ms": v.a_median, "median_ms": v.b_median,
                "ratio": v.ratio, "ratio_ci": list(v.ratio_ci) if v.ratio_ci else None,
                "p_value": v.p_value, "notes": list(v.notes), "trend": v.trend or None,
                "valid": not v.invalid, "invalid_reasons": list(v.invalid),
                "status": d.statuses.get((v.model, v.format), ("", ""))[0],
                "reason": d.statuses.get((v.model, v.format), ("", ""))[1],
            } for v in d.verdicts],
        } for d in outcome.devices],
    }


# ----------------------------------------------------------------------------------------------
# Markdown digest

ORDER = (BROKEN, CONTRACT_BROKEN, NEW_FAILED, SLOWER, FASTER, NEW)


def digest(outcome: FarmOutcome) -> str:
    """What changed tonight, worst first; cells with no change are only counted. Every name and
    reason is literal Markdown (`md_text`): a model, a device or a phone's error message holding
    `|`, a link or an HTML tag cannot change the digest's tables or reach a renderer as markup."""
    counts = ", ".join(f"{outcome.count(v)} {v}" for v in VERDICTS if outcome.count(v))
    head = "REGRESSIONS" if outcome.failed else "no regressions"
    lines = [f"# Farm {md_text(outcome.farm)}: {md_text(outcome.run)}: {head}", "",
             f"{len(outcome.verdicts)} cells: {counts or 'none'}.", ""]
    for d in outcome.devices:
        lines += [f"## {md_text(d.device)}" + (f" (run {md_text(d.run_id)})" if d.run_id else ""), ""]
        if d.unavailable:
            lines += [f"**Unavailable**: {md_text(d.unavailable)}", ""]
        if d.quarantined:
            lines += [f"**Quarantined for the night**: {md_text(d.quarantined)}", ""]
        if d.baseline:
            lines += [f"Baseline: {md_text(d.baseline.description)}.", ""]
        # Every changed cell, and a cell of no change tonight whose series shows a step, a creep
        # or a blip (harness.farm.nights): a slow creep never fails one night, yet it is news.
        changed = [v for v in d.verdicts if v.verdict in ORDER or v.trend]
        changed.sort(key=lambda v: (ORDER.index(v.verdict) if v.verdict in ORDER else len(ORDER),
                                    v.model, v.format))
        if changed:
            lines += ["| model | format | verdict | baseline ms | tonight ms | tonight/baseline [95% CI] | p | notes |",
                      "|---|---|---|---|---|---|---|---|"]
            for v in changed:
                p = f"{v.p_value:.2g}" if v.p_value is not None else ""
                notes = md_text("; ".join(n for n in v.notes if n))
                lines.append(f"| {md_text(v.model)} | {md_text(v.format)} | **{v.verdict}** | "
                             f"{fmt_ms(v.a_median)} | {fmt_ms(v.b_median)} | {ratio_text(v)} | {p} | "
                             f"{notes} |")
            lines.append("")
        invalid = [v for v in d.verdicts if v.invalid]
        if invalid:  # measured, but not as the protocol asks: its figure is not to be quoted
            lines += [f"Not valid tonight ({len(invalid)}):", ""]
            lines += [f"- {md_text(v.model)} / {md_text(v.format)}: {md_text('; '.join(v.invalid))}"
                      for v in invalid]
            lines.append("")
        same = sum(v.verdict == NO_CHANGE and not v.trend for v in d.verdicts)
        undecided = sum(v.verdict == UNDECIDED for v in d.verdicts)
        unsupported = sum(v.verdict == UNSUPPORTED for v in d.verdicts)
        rest = ([f"{same} cells no change"] + ([f"{undecided} undecided (too few trials to tell)"] if undecided else [])
                + ([f"{unsupported} unsupported on this device"] if unsupported else []))
        lines += [", ".join(rest) + ".", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Files and the webhook


def write_reports(outcome: FarmOutcome, out_dir: Path, exit_code: int) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"junit": out_dir / "junit.xml", "summary": out_dir / "summary.json",
             "digest": out_dir / "digest.md"}
    texts = {"junit": junit_xml(outcome),
             "summary": json.dumps(summary(outcome, exit_code), indent=2, allow_nan=False) + "\n",
             "digest": digest(outcome)}
    for key, path in paths.items():
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(texts[key])
        tmp.replace(path)
    return paths


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered, not followed: urllib would turn the POST into a GET and drop the
    digest, and a Location elsewhere would receive what the webhook was not meant to."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx reaches the caller as an HTTPError


def _webhook_request(url: str, body: bytes) -> urllib.request.Request:
    """The POST of `body` to `url`; a `user:password@` in the URL becomes Basic authentication
    (urllib would take it for part of the host name)."""
    import base64

    parts = urllib.parse.urlsplit(url)
    headers = {"Content-Type": "application/json"}
    if parts.username is not None or parts.password is not None:
        userinfo = f"{urllib.parse.unquote(parts.username or '')}:{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(userinfo.encode()).decode()
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        netloc += f":{parts.port}" if parts.port else ""
        url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return urllib.request.Request(url, data=body, method="POST", headers=headers)


def post_webhook(url: str, outcome: FarmOutcome, exit_code: int, timeout_s: float = 10.0) -> str | None:
    """POST {"text": digest, "summary": {...}} as JSON (Slack- and Mattermost-style incoming
    webhooks read `text`). Returns None when the server took it (a 2xx), else one line saying
    why not: a notification that fails never fails the night's results. A redirect is not
    followed (its status is said); the line names the webhook by its origin only, since its
    URL (a password, a token in the path) is a secret."""
    from harness.redact import origin

    where = f"the webhook at {origin(url)}"
    body = json.dumps({"text": digest(outcome), "summary": summary(outcome, exit_code)},
                      allow_nan=False).encode()
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        request = _webhook_request(url, body)
        with opener.open(request, timeout=timeout_s) as response:
            if 200 <= response.status < 300:
                return None
            return f"{where} answered HTTP {response.status}; the digest was not delivered"
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            target = urllib.parse.urljoin(url, exc.headers.get("Location") or "")
            return (f"{where} answered HTTP {exc.code} {exc.reason}, a redirect (to "
                    f"{origin(target)}), which is not followed: the "
                    "digest was not delivered; give notify.webhook the URL that takes the POST")
        return f"{where} answered HTTP {exc.code} {exc.reason}; the digest was not delivered"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = " ".join(str(getattr(exc, "reason", exc)).split())
        return f"{where} could not be reached: {reason}"
