"""The Pareto plots of the index: latency against published top-1, one point per model and
format, the frontier drawn, families told apart by colour and by marker. Drawn by matplotlib
(Agg, no pyplot, no display) as SVG and made fit to sit inside an HTML page.

Deterministic: `svg.hashsalt` fixed (the ids matplotlib derives), no date in the metadata (the
metadata is dropped anyway), text as text (`svg.fonttype` none: no font outlines, no font
files), every option set here rather than read from the user's matplotlibrc. Text is plain text
(`text.parse_math` off): a device or model name holding `$...$` is a name, not mathematics for
matplotlib to parse (and fail on).

`inline_svg` turns matplotlib's standalone SVG into a fragment for an HTML5 page: no XML
prolog or doctype, no metadata, no comments, no namespace declarations (the HTML parser puts
an inline <svg> in the SVG namespace itself), no global <style>, and every id prefixed so two
plots on one page cannot collide. What remains refers to nothing outside the page.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from html import escape

from harness.report.figures import fmt_ms

# Families in name order take these in turn: a colour (Okabe-Ito, then grey) and a marker, so
# two families differ in both.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#999999", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p")
RC = {
    "svg.hashsalt": "harness-site",
    "svg.fonttype": "none",
    "svg.image_inline": True,
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "path.simplify": True,
    "text.parse_math": False,
    "text.usetex": False,
}


@dataclass(frozen=True)
class ParetoPoint:
    model: str
    format: str
    family: str
    latency_ms: float
    top1: float


def frontier(points: list[ParetoPoint]) -> list[ParetoPoint]:
    """The points no other beats on both counts (lower latency and higher top-1), fastest
    first."""
    best: list[ParetoPoint] = []
    for p in sorted(points, key=lambda p: (p.latency_ms, -p.top1, p.model, p.format)):
        if not best or p.top1 > best[-1].top1:
            best.append(p)
    return best


def family_styles(families) -> dict[str, tuple[str, str]]:
    """family -> (colour, marker), by family name."""
    return {f: (COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)])
            for i, f in enumerate(sorted(set(families)))}


def pareto_svg(points: list[ParetoPoint], title: str, prefix: str) -> str:
    """The plot as an inline SVG fragment (ids prefixed with `prefix`); "" without points."""
    if not points:
        return ""
    import matplotlib
    from matplotlib.figure import Figure

    points = sorted(points, key=lambda p: (p.family, p.model, p.format))
    styles = family_styles(p.family for p in points)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(7.2, 4.2), dpi=72)
        ax = fig.add_subplot()
        latencies = [p.latency_ms for p in points]
        if max(latencies) / min(latencies) > 10:
            ax.set_xscale("log")
        tips = {}
        for i, p in enumerate(points):
            colour, marker = styles[p.family]
            (line,) = ax.plot([p.latency_ms], [p.top1], linestyle="none", marker=marker,
                              color=colour, markersize=6, alpha=0.85)
            line.set_gid(f"pt{i}")
            tips[f"pt{i}"] = f"{p.model} / {p.format}: {fmt_ms(p.latency_ms)} ms, top-1 {p.top1:.1f}"
        best = frontier(points)
        ax.plot([p.latency_ms for p in best], [p.top1 for p in best], drawstyle="steps-post",
                color="#444444", linewidth=1, linestyle="--", label="frontier", zorder=0)
        for family in sorted(styles):
            colour, marker = styles[family]
            ax.plot([], [], linestyle="none", marker=marker, color=colour, label=family or "n/a")
        ax.legend(loc="lower right", fontsize=8, frameon=False)
        ax.set_xlabel("median latency, ms" + (" (log scale)" if ax.get_xscale() == "log" else ""))
        ax.set_ylabel("published ImageNet top-1, %")
        ax.set_title(title)
        ax.grid(True, linewidth=0.4, alpha=0.5)
        fig.subplots_adjust(left=0.09, right=0.98, top=0.92, bottom=0.12)
        _label_points(fig, ax, points, best)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return inline_svg(buf.getvalue(), prefix, tips)


# Where a point's name may go, in points from the point: right and up first, then the other
# corners; a name that would cover another name, the legend or leave the axes is left out (the
# point's tooltip still names it).
LABEL_OFFSETS = ((4, 3), (4, -9), (-4, 3), (-4, -9))
# Beyond this many points only the frontier's are named: a crowded plot of names reads as none.
LABEL_ALL_UP_TO = 16


def _label_points(fig, ax, points: list[ParetoPoint], best: list[ParetoPoint]) -> None:
    """Names beside the points (model and format), placed so that none overlaps another."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    # The axes' limits and the legend's place settle in a draw; this one lays them out
    # without painting (the SVG is painted once, by savefig).
    fig.draw_without_rendering()
    renderer = FigureCanvasAgg(fig).get_renderer()
    taken = [ax.get_legend().get_window_extent(renderer)]
    inside = ax.get_window_extent(renderer)
    named = points if len(points) <= LABEL_ALL_UP_TO else best
    for p in sorted(named, key=lambda p: (p not in best, p.latency_ms)):
        for dx, dy in LABEL_OFFSETS:
            text = ax.annotate(f"{p.model} · {p.format}", (p.latency_ms, p.top1),
                               xytext=(dx, dy), textcoords="offset points", fontsize=7,
                               color="#333333", ha="left" if dx > 0 else "right")
            box = text.get_window_extent(renderer)
            fits = (inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0
                    and box.y1 <= inside.y1)
            if fits and not any(box.overlaps(other) for other in taken):
                taken.append(box)
                break
            text.remove()


_COMMENT = re.compile(r"<!--.*?-->", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_STYLE = re.compile(r"<defs>\s*<style[^>]*>.*?</style>\s*</defs>\s*", re.S)
_NAMESPACE = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_IDS = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')


def inline_svg(svg: str, prefix: str, titles: dict[str, str] | None = None) -> str:
    """matplotlib's SVG as a fragment for an HTML page (see the module docstring); `titles`
    adds a tooltip to the group of each id named."""
    svg = svg[svg.index("<svg"):]
    svg = _COMMENT.sub("", svg)
    svg = _METADATA.sub("", svg)
    svg = _STYLE.sub("", svg)
    svg = _NAMESPACE.sub("", svg)
    svg = svg.replace("<svg ", '<svg class="mpl" ', 1)
    for gid, text in (titles or {}).items():
        svg = svg.replace(f'<g id="{gid}">', f'<g id="{gid}">\n<title>{escape(text)}</title>', 1)
    svg = _IDS.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    return "\n".join(line.rstrip() for line in svg.strip().splitlines())
