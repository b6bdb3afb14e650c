"""`harness site`: a static HTML site rendered from the results database.

Plain HTML with inline CSS and a little inline JavaScript (sorting tables by a column), every
file inside one directory, nothing loaded from anywhere else when it is viewed (no CDN, no web
fonts; a Content-Security-Policy in every page forbids it), readable without JavaScript, and
the same bytes for the same database. docs/site.md describes each page.

    data.py     what the pages show, read from the Store's public API (read-only)
    cells.py    one record as an index row and as a model page's section
    plots.py    the Pareto plots (matplotlib, SVG) and inline SVG for HTML
    svg.py      the small plots of the model pages (samples by trial, history), SVG written here
    render.py   the Jinja2 templates (templates/) and writing the directory
    serve.py    `harness site --serve`: the directory over HTTP on 127.0.0.1
"""

from __future__ import annotations

from pathlib import Path


def render_site(db: str | Path | None, out: str | Path,
                compare: list[tuple[str, str]] = ()) -> list[Path]:
    """Render the site of the database `db` (default: $HARNESS_DB or results/harness.db) into
    `out`; `compare` adds comparison pages for pairs of runs (ids, prefixes or `latest`).
    Returns the files written."""
    from harness.site.data import build
    from harness.site.render import write_site
    from harness.store import Store

    with Store(db, readonly=True) as store:
        pairs = [(store.get_run(a).id, store.get_run(b).id) for a, b in compare]
        site = build(store, pairs)
    return write_site(site, Path(out))
