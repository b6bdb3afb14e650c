"""The small plots of the model pages, written as SVG directly: every sample of a cell in time
order, trial by trial, and a cell's median across runs.

Why not matplotlib here: a model page holds one of each per format, the whole zoo 341 cells of
each, and matplotlib takes 25-30 ms to draw one axes; the site's budget (10 s for the whole zoo)
would go on these alone. These plots need nothing matplotlib offers beyond a line, a few ticks
and labels, so they are drawn here in a millisecond each; the Pareto plots, fewer and richer,
are matplotlib's (harness.site.plots).

Output is inline SVG for an HTML page (no XML prolog, no namespace declarations: HTML5 needs
none), numbers written with fixed precision, so the same data gives the same bytes. Text uses
the page's font; nothing refers to anything outside the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from harness.report.figures import fmt_ms

# Trial colours (Okabe-Ito, distinguishable with the common colour-vision deficiencies).
TRIAL_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
LEFT, RIGHT, TOP, BOTTOM = 62, 10, 16, 26


def _n(value: float) -> str:
    """A coordinate: one decimal, no `-0.0`."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About `count` round values (1, 2, 2.5 or 5 times a power of ten apart) covering
    [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


@dataclass(frozen=True)
class Frame:
    """The plot area of a `width` x `height` SVG and the data range it shows."""

    width: int
    height: int
    x_max: float
    y_low: float
    y_high: float

    def x(self, value: float) -> float:
        span = self.width - LEFT - RIGHT
        return LEFT + (value / self.x_max * span if self.x_max else span / 2)

    def y(self, value: float) -> float:
        span = self.height - TOP - BOTTOM
        if self.y_high <= self.y_low:
            return TOP + span / 2
        return TOP + (self.y_high - value) / (self.y_high - self.y_low) * span


def tick_texts(ticks: list[float]) -> list[str]:
    """The ticks written with as few decimals as tell them apart (`0.0595`, `0.06`, `0.0605`
    would all read 0.06 in the reports' format)."""
    if len(ticks) < 2:
        return [fmt_ms(t) for t in ticks]
    for decimals in range(0, 12):
        texts = [f"{t:.{decimals}f}" for t in ticks]
        if all(abs(float(x) - t) <= abs(ticks[1] - ticks[0]) * 1e-6 for x, t in zip(texts, ticks)):
            return texts
    return [f"{t:g}" for t in ticks]


def _axes(frame: Frame, y_label: str) -> list[str]:
    """The frame, y ticks with their labels and grid lines, and the y axis's name."""
    out = [f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{frame.width - LEFT - RIGHT}" '
           f'height="{frame.height - TOP - BOTTOM}"/>']
    ticks = nice_ticks(frame.y_low, frame.y_high)
    scale = 1.0
    if ticks and y_label.endswith("ms") and max(abs(t) for t in ticks) < 0.1:
        # Microseconds: "5.6825" fits beside the axis's name where "0.0056825" ran into it.
        scale, y_label = 1000.0, y_label[:-2] + "µs"
    for tick, text in zip(ticks, tick_texts([t * scale for t in ticks])):
        y = _n(frame.y(tick))
        out.append(f'<line class="grid" x1="{LEFT}" x2="{frame.width - RIGHT}" y1="{y}" y2="{y}"/>')
        out.append(f'<text class="tick" x="{LEFT - 4}" y="{y}" text-anchor="end" '
                   f'dominant-baseline="middle">{escape(text)}</text>')
    out.append(f'<text class="tick" x="2" y="{TOP + (frame.height - TOP - BOTTOM) / 2:.1f}" '
               f'transform="rotate(-90 2 {TOP + (frame.height - TOP - BOTTOM) / 2:.1f})" '
               f'text-anchor="middle" dominant-baseline="hanging">{escape(y_label)}</text>')
    return out


def _range(values: list[float], top: float | None = None) -> tuple[float, float]:
    low, high = min(values), max(values) if top is None else top
    pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
    return low - pad, high + pad


# The sample plot's y axis ends at this quantile of the samples: a few outliers ten times the
# median would otherwise flatten every level into one line. Samples above are drawn at the top
# edge, and counted in a label.
TOP_QUANTILE = 0.99


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def envelope(samples: list[float], columns: int) -> list[tuple[float, float]]:
    """(index, value) points to draw `samples` in time order across `columns` pixel columns:
    every sample when they fit, else each column's smallest and largest sample, so no
    excursion is hidden by thinning."""
    n = len(samples)
    if n <= 2 * columns:
        return [(float(i), v) for i, v in enumerate(samples)]
    points = []
    for c in range(columns):
        start, stop = c * n // columns, (c + 1) * n // columns
        chunk = samples[start:stop]
        if not chunk:
            continue
        low, high = min(chunk), max(chunk)
        first_low = chunk.index(low) <= chunk.index(high)
        x = (start + stop - 1) / 2
        points += [(x, low), (x, high)] if first_low else [(x, high), (x, low)]
    return points


def samples_svg(trials: list[list[float]], median: float | None = None, width: int = 560,
                height: int = 150, label: str = "") -> str:
    """Every timed sample of a cell in time order, one colour per trial, trials side by side
    with a line between them: a level shift inside a trial, or between trials, shows as a step.
    The record's median is a dashed line."""
    trials = [list(t) for t in trials if t]
    if not trials:
        return ""
    total = sum(len(t) for t in trials)
    samples = [v for t in trials for v in t]
    top = max(_quantile(samples, TOP_QUANTILE), median if median is not None else 0.0)
    low, high = _range(samples + ([median] if median is not None else []), top)
    frame = Frame(width, height, max(total - 1, 1), low, high)
    ceiling = high
    above = [v for v in samples if v > ceiling]
    out = [f'<svg class="plot" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{escape(label, quote=True)}">', f"<title>{escape(label)}</title>"]
    out += _axes(frame, "ms")
    span = width - LEFT - RIGHT
    offset = 0
    for i, trial in enumerate(trials):
        colour = TRIAL_COLOURS[i % len(TRIAL_COLOURS)]
        columns = max(1, int(span * len(trial) / total))
        points = envelope(trial, columns)
        path = " ".join(f"{_n(frame.x(offset + x))},{_n(frame.y(min(v, ceiling)))}"
                        for x, v in points)
        out.append(f'<polyline class="series" stroke="{colour}" points="{path}">'
                   f"<title>trial {i + 1}: {len(trial)} samples</title></polyline>")
        if i:
            x = _n(frame.x(offset - 0.5))
            out.append(f'<line class="split" x1="{x}" x2="{x}" y1="{TOP}" '
                       f'y2="{height - BOTTOM}"/>')
        name = _trial_label(i + 1, span * len(trial) / total)
        if name:
            out.append(f'<text class="tick" x="{_n(frame.x(offset))}" y="{height - BOTTOM + 12}" '
                       f'fill="{colour}">{name}</text>')
        offset += len(trial)
    if median is not None:
        y = _n(frame.y(median))
        out.append(f'<line class="median" x1="{LEFT}" x2="{width - RIGHT}" y1="{y}" y2="{y}">'
                   f"<title>median {escape(fmt_ms(median))} ms</title></line>")
    if above:
        out.append(f'<text class="tick" x="{width - RIGHT}" y="{TOP - 4}" '
                   f'text-anchor="end">{len(above)} above the top edge, up to '
                   f'{escape(fmt_ms(max(above)))} ms</text>')
    # The axis's name on a row below the trials' names, which may reach the right edge.
    out.append(f'<text class="tick" x="{width - RIGHT}" y="{height - BOTTOM + 24}" '
               f'text-anchor="end">sample, in time order ({total})</text>')
    out.append("</svg>")
    return "\n".join(out)


def _trial_label(number: int, pixels: float) -> str:
    """A trial's name under its stretch of the plot, as much of it as fits: "trial 3", "3" or
    nothing (its line still says which trial it is on hover)."""
    if pixels >= 44:
        return f"trial {number}"
    return str(number) if pixels >= 12 else ""


@dataclass(frozen=True)
class HistoryPoint:
    label: str  # a run's date and git commit, shown on hover
    median: float | None  # None: the cell was not measured in that run
    low: float | None = None
    high: float | None = None


def history_svg(points: list[HistoryPoint], width: int = 560, height: int = 140,
                label: str = "") -> str:
    """A cell's median with its 95% CI in each run that measured it, oldest first; runs where
    it failed are marked on the axis."""
    measured = [p for p in points if p.median is not None]
    if not measured:
        return ""
    values = [v for p in measured for v in (p.median, p.low, p.high) if v is not None]
    low, high = _range(values)
    frame = Frame(width, height, max(len(points) - 1, 1), low, high)
    out = [f'<svg class="plot" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{escape(label, quote=True)}">', f"<title>{escape(label)}</title>"]
    out += _axes(frame, "median ms")
    line = [f"{_n(frame.x(i))},{_n(frame.y(p.median))}" for i, p in enumerate(points)
            if p.median is not None]
    if len(line) > 1:
        out.append(f'<polyline class="series" stroke="{TRIAL_COLOURS[0]}" points="{" ".join(line)}"/>')
    for i, p in enumerate(points):
        x = _n(frame.x(i))
        if p.median is None:
            out.append(f'<text class="failed" x="{x}" y="{height - BOTTOM - 2}" '
                       f'text-anchor="middle">✗<title>{escape(p.label)}: not measured</title></text>')
            continue
        tip = f"{p.label}: {fmt_ms(p.median)} ms"
        if p.low is not None and p.high is not None:
            tip += f" [{fmt_ms(p.low)}, {fmt_ms(p.high)}]"
            out.append(f'<line class="ci" x1="{x}" x2="{x}" y1="{_n(frame.y(p.low))}" '
                       f'y2="{_n(frame.y(p.high))}"/>')
        out.append(f'<circle class="point" cx="{x}" cy="{_n(frame.y(p.median))}" r="3">'
                   f"<title>{escape(tip)}</title></circle>")
    out.append(f'<text class="tick" x="{LEFT}" y="{height - BOTTOM + 14}">'
               f"{escape(points[0].label)}</text>")
    if len(points) > 1:
        out.append(f'<text class="tick" x="{width - RIGHT}" y="{height - BOTTOM + 14}" '
                   f'text-anchor="end">{escape(points[-1].label)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def series_svg(xs: list[float], ys: list[float | None], y_label: str, x_label: str,
               width: int = 560, height: int = 140, label: str = "") -> str:
    """One line over time (a sustained cell's windows: latency, temperature); points without a
    value are skipped."""
    points = [(x, y) for x, y in zip(xs, ys) if y is not None]
    if len(points) < 2:
        return ""
    low, high = _range([y for _, y in points])
    x_max = max(x for x, _ in points) or 1.0
    frame = Frame(width, height, x_max, low, high)
    out = [f'<svg class="plot" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{escape(label, quote=True)}">', f"<title>{escape(label)}</title>"]
    out += _axes(frame, y_label)
    line = " ".join(f"{_n(frame.x(x))},{_n(frame.y(y))}" for x, y in points)
    out.append(f'<polyline class="series" stroke="{TRIAL_COLOURS[0]}" points="{line}"/>')
    for x, y in points:
        out.append(f'<circle class="point" cx="{_n(frame.x(x))}" cy="{_n(frame.y(y))}" r="2">'
                   f"<title>{x:.1f} s: {y:.4g}</title></circle>")
    out.append(f'<text class="tick" x="{LEFT}" y="{height - BOTTOM + 14}">0</text>')
    out.append(f'<text class="tick" x="{width - RIGHT}" y="{height - BOTTOM + 14}" '
               f'text-anchor="end">{x_max:.0f} {escape(x_label)}</text>')
    out.append("</svg>")
    return "\n".join(out)
