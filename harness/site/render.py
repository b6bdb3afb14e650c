"""Write the site: the pages of harness.site.data through the Jinja2 templates beside this file,
into a directory that holds nothing else.

    index.html             one table and one Pareto plot per device and setting; the newest
                           run against the one before it
    paper-check.html       every published latency beside ours (harness.report.paper_check)
    runs.html              every run, each linked to its comparison with the run before it
    models/<model>.html    a model's samples, history, export row, settings and versions
    compare/<A>--<B>.html  run B against run A, as `harness compare` says it

The site is written into a fresh directory beside DIR and then put in DIR's place, so a page
of a model no longer stored never lingers and a failed render leaves the old site whole. DIR
must be a site this command wrote (it holds MARKER) or empty: anything else is refused, never
deleted. The same database gives the same bytes (harness.site.data says how).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.report.compare import COLUMNS as COMPARE_COLUMNS
from harness.report.compare import rule_text as compare_rule
from harness.report.figures import fmt_ms
from harness.report.paper_check import (
    NOT_MEASURED,
    measured_text,
    ratio_text,
    rule_text,
    summary_line,
    verdict_text,
)
from harness.site.cells import INDEX_COLUMNS, NUMERIC_COLUMNS, slug, when
from harness.site.data import SiteData

TEMPLATES = Path(__file__).with_name("templates")
MARKER = ".harness-site"


@dataclass(frozen=True)
class PaperRowView:
    model: str
    href: str
    family: str
    published_ms: float
    published_device: str
    median: str
    median_sort: str
    ci: str
    format: str
    device: str
    ratio: str
    ratio_sort: str
    ratio_ci: str
    verdict: str
    verdict_class: str
    notes: str


def paper_rows(site: SiteData) -> list[PaperRowView]:
    hrefs = {page.name: page.href for page in site.models}
    rows = []
    for r in site.paper:
        ratio = ratio_text(r)
        device = r.device_id if not r.product_model or r.product_model == r.device_id else \
            f"{r.product_model} ({r.device_id})"
        rows.append(PaperRowView(
            model=r.model, href=hrefs.get(r.model, ""), family=r.family,
            published_ms=r.published_ms, published_device=r.published_device,
            median=fmt_ms(r.median_ms) if r.median_ms is not None else "n/a",
            median_sort=repr(r.median_ms) if r.median_ms is not None else "",
            ci=measured_text(r).partition(" ")[2] if r.median_ms is not None else "n/a",
            format=r.format or "n/a", device=device or "n/a",
            ratio=ratio.partition(" ")[0], ratio_sort=repr(r.ratio) if r.ratio is not None else "",
            ratio_ci=ratio.partition(" ")[2] or "n/a", verdict=verdict_text(r),
            verdict_class=r.verdict.replace(" ", "") if r.verdict != NOT_MEASURED else "notmeasured",
            notes="; ".join(r.notes)))
    return rows


def _ratio(cell) -> str:
    if cell.ratio is None:
        return "n/a"
    return f"{cell.ratio:.3f} [{cell.ratio_ci[0]:.3f}, {cell.ratio_ci[1]:.3f}]"


def environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                      undefined=StrictUndefined, keep_trailing_newline=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["slug"] = slug
    env.globals.update(when=when, fmt_ms=fmt_ms, ratio=_ratio, dict=dict)
    return env


# The Content-Security-Policy lets a page run only the scripts whose hashes it names (the
# template's own, hashed as rendered), never an inline script or handler that came from data.
_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_HASHES = "__script_hashes__"


def _with_script_hashes(html: str) -> str:
    hashes = sorted({"'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
                     for body in _SCRIPT.findall(html)})
    return html.replace(_HASHES, " ".join(hashes) or "'none'", 1)


def pages(site: SiteData) -> dict[str, str]:
    """Every file of the site: relative path -> text."""
    env = environment()
    out = {}

    def page(path: str, template: str, **context) -> None:
        root = "../" * path.count("/")
        html = env.get_template(template).render(site=site, root=root, script_hashes=_HASHES,
                                                  **context)
        out[path] = _with_script_hashes(html)

    page("index.html", "index.html", columns=INDEX_COLUMNS, numeric=NUMERIC_COLUMNS)
    page("paper-check.html", "paper-check.html", rows=paper_rows(site), rule=rule_text(),
         summary=summary_line(list(site.paper)))
    page("runs.html", "runs.html")
    for model in site.models:
        page(model.href, "model.html", page=model)
    for compare in site.compares:
        page(compare.href, "compare.html", page=compare, columns=COMPARE_COLUMNS,
             rule=compare_rule(compare.comparison.threshold, compare.comparison.alpha))
    return out


def _check_target(out: Path) -> None:
    if out.is_file() or (out.exists() and not out.is_dir()):
        raise HarnessError(f"{out} is a file; give --out a directory for the site.")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise HarnessError(f"{out} holds files that `harness site` did not write; give --out "
                           "an empty or new directory (nothing was changed).")


def write_site(site: SiteData, out: Path) -> list[Path]:
    """Write every page into `out` (see the module docstring); returns the files written."""
    out = Path(out)
    _check_target(out)
    files = pages(site)
    out.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for rel, text in sorted(files.items()):
            path = fresh / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
        (fresh / MARKER).write_text("written by `harness site`; the whole directory is replaced "
                                    "by the next render\n", encoding="utf-8")
        os.chmod(fresh, 0o755)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}-old-{os.getpid()}")
            out.rename(old)
        fresh.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    return [out / rel for rel in sorted(files)]
