"""`harness compare A B`: per cell, did run B get faster or slower than run A, and is it real?

For every (device, model, format) cell measured in both runs:

    ratio      median(B) / median(A); above 1 means B is slower.
    ratio CI   95% percentile bootstrap: A's and B's samples (all trials pooled) are resampled
               independently, 2000 times, seeded, and the ratio of the resampled medians taken
               (the resampled medians are drawn from order statistics, `bootstrap_medians`).
    p          two-sided Mann-Whitney U test (are B's samples systematically larger or smaller
               than A's?), `scipy.stats.mannwhitneyu(method="auto")`: exact when a side has 8
               samples or fewer and there are no ties, the normal approximation with tie and
               continuity correction otherwise.

The rule, with THRESHOLD = 5% and ALPHA = 0.01 (both options):

    slower     the whole ratio CI is above 1 + THRESHOLD, and p < ALPHA
    faster     the whole ratio CI is below 1 - THRESHOLD, and p < ALPHA
    no change  anything else: no difference, or one too small or too uncertain to act on
    broken     measured in A, failed in B (run_failed, export_failed, ...)

Both conditions are needed: with thousands of samples a 0.5% shift is "significant" (tiny p) yet
within what separate runs of one build differ by; the CI alone says the shift is large, the test
that it is systematic rather than a few outliers. 5% sits above the 3% spread of medians between
separate runs that `benchmarks/stability.py` targets on a quiet host, so two runs of one build
compare as no change.

Too few samples for the test: n and m samples cannot give a two-sided p below 2 / C(n + m, n),
the p of two samples entirely apart (3 against 3: 0.1). A cell of one sample per trial (LiteRT's
benchmark_model on a phone stores one, the mean of its runs, per trial) would never be slower,
whatever happened. As asv does, such a cell is not asked for a significance it cannot reach: it
is judged by its ranges, slower when B's fastest sample is slower than A's slowest by more than
THRESHOLD (min(B) / max(A) > 1 + THRESHOLD), faster when B's slowest beats A's fastest by as much
(max(B) / min(A) < 1 - THRESHOLD), and its note says so. The ranges stand in for the CIs: with a
handful of samples, a median's only distribution-free interval is the range.

A side that holds another tool's summary and no samples (an imported benchmark_model log: its
mean, min and max; AI Hub's one figure; harness.store.ToolSummary) is judged by the same ranges,
the tool's own min and max standing for its samples' (its one figure when it printed no range),
and the notes name whose figure each side is: a mean is never passed off as a median.

`harness compare` exits 3 when any cell is slower or broken, 4 when no cell was compared
(harness.exit_codes). Cells in one run only are listed, not classed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from harness.bench.stats import bootstrap_medians, percentile_interval
from harness.report.figures import fmt_ms
from harness.store import BenchmarkRecord, CellKey, RunInfo, Store

THRESHOLD = 0.05
ALPHA = 0.01

SLOWER = "slower"
FASTER = "faster"
NO_CHANGE = "no change"
BROKEN = "broken"
ONLY_A = "only in A"
ONLY_B = "only in B"
NOT_MEASURED = "not measured"
REGRESSIONS = (SLOWER, BROKEN)


# ----------------------------------------------------------------------------------------------
# Mann-Whitney U


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U of the first sample: pairs (x_i, y_j) with x_i > y_j, ties counted as 1/2
    p_value: float  # two-sided


# scipy's "auto" method is exact up to this many samples on a side, when there are no ties.
EXACT_MAX_SAMPLES = 8


def mann_whitney_u(x, y) -> MannWhitney:
    """Two-sided Mann-Whitney U test, as `scipy.stats.mannwhitneyu(x, y, method="auto")`: exact
    (scipy's own) for small samples without ties, the normal approximation with tie and
    continuity correction otherwise. That second branch is computed here, the same formula as
    scipy's "asymptotic" method (tests hold the two equal), because importing scipy.stats costs
    half a second, more than the comparison of a hundred cells. Every value equal on both sides
    is no evidence either way: p = 1."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0 or y.size == 0:
        raise ValueError("The Mann-Whitney U test needs samples on both sides.")
    values, inverse, counts = np.unique(np.concatenate([x, y]), return_inverse=True,
                                        return_counts=True)
    ties = bool((counts > 1).any())
    if max(x.size, y.size) <= EXACT_MAX_SAMPLES and not ties:
        from scipy.stats import mannwhitneyu  # the exact distribution: only scipy has it here

        result = mannwhitneyu(x, y, alternative="two-sided", method="exact")
        return MannWhitney(float(result.statistic), float(result.pvalue))
    # Midranks: the average rank of each distinct value, 1-based.
    ends = np.cumsum(counts)
    midranks = ends - (counts - 1) / 2.0
    ranks = midranks[inverse]
    n1, n2 = x.size, y.size
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    n = n1 + n2
    tie_term = float((counts.astype(np.float64) ** 3 - counts).sum())
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return MannWhitney(u1, 1.0)
    mean = n1 * n2 / 2.0
    z = (abs(u1 - mean) - 0.5) / math.sqrt(variance)  # continuity-corrected, two-sided
    p = math.erfc(max(z, 0.0) / math.sqrt(2.0))
    return MannWhitney(u1, min(1.0, p))


def smallest_p(n: int, m: int) -> float:
    """The smallest two-sided p the Mann-Whitney test can give for n and m samples: both
    entirely apart, 2 / C(n + m, n). (In logs for long runs, where it is far below any alpha.)"""
    if n + m <= 1000:
        return min(1.0, 2 / math.comb(n + m, n))
    return 2.0 * math.exp(math.lgamma(n + 1) + math.lgamma(m + 1) - math.lgamma(n + m + 1))


# ----------------------------------------------------------------------------------------------
# Ratio of medians


def median_ratio_ci(a, b, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """median(b) / median(a) and its percentile bootstrap interval."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if np.median(a) <= 0:
        raise ValueError("The baseline median must be positive to form a ratio.")
    # Different seeds: with equal sample counts one seed would resample both sides alike.
    ratios = bootstrap_medians(b, seed=seed + 1) / bootstrap_medians(a, seed=seed)
    low, high = percentile_interval(ratios, level)
    return float(np.median(b) / np.median(a)), low, high


def classify(ratio_low: float, ratio_high: float, p_value: float,
             threshold: float = THRESHOLD, alpha: float = ALPHA) -> str:
    """The verdict for one cell (the rule is in the module docstring)."""
    if p_value < alpha and ratio_low > 1.0 + threshold:
        return SLOWER
    if p_value < alpha and ratio_high < 1.0 - threshold:
        return FASTER
    return NO_CHANGE


def range_ratio(a, b) -> tuple[float, float]:
    """(min(b) / max(a), max(b) / min(a)): B/A from the slowest A against the fastest B, and the
    other way round; every ratio of a B sample to an A sample lies between them."""
    return float(np.min(b) / np.max(a)), float(np.max(b) / np.min(a))


def classify_by_ranges(a, b, threshold: float = THRESHOLD) -> str:
    """The verdict for a cell with too few samples for the test (module docstring)."""
    low, high = range_ratio(a, b)
    if low > 1.0 + threshold:
        return SLOWER
    if high < 1.0 - threshold:
        return FASTER
    return NO_CHANGE


# ----------------------------------------------------------------------------------------------
# Runs


@dataclass(frozen=True)
class CellComparison:
    device_id: str
    model: str
    format: str
    verdict: str
    a_median: float | None = None
    b_median: float | None = None
    ratio: float | None = None
    ratio_ci: tuple[float, float] | None = None
    p_value: float | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    run_a: str
    run_b: str
    threshold: float
    alpha: float
    cells: tuple[CellComparison, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def regressions(self) -> tuple[CellComparison, ...]:
        return tuple(c for c in self.cells if c.verdict in REGRESSIONS)

    def count(self, verdict: str) -> int:
        return sum(c.verdict == verdict for c in self.cells)

    @property
    def compared(self) -> int:
        """Cells measured on both sides and given a verdict on their speed."""
        return sum(c.verdict in (SLOWER, FASTER, NO_CHANGE) for c in self.cells)


def _cell_key(r: BenchmarkRecord) -> tuple[str, str, str]:
    """A cell is matched across runs by its identity; its other settings are named in the notes."""
    return CellKey.of(r).identity


def _measured(r: BenchmarkRecord | None) -> bool:
    """Measured on latency: samples, or another tool's own summary (harness.store.ToolSummary)."""
    if r is None or r.result is None:
        return False
    return (r.stats is not None and r.stats.n > 0) or r.tool_summary is not None


def _unmeasured_note(side: str, r: BenchmarkRecord) -> str:
    if r.memory_only:
        return f"{side}: memory only, no latency"
    return f"{side}: {r.status}" + (f": {r.reason}" if r.reason and side == "B" else "")


def _figure(r: BenchmarkRecord) -> float:
    return r.stats.median if r.stats is not None else r.tool_summary.value_ms


def compare_summaries(a: BenchmarkRecord, b: BenchmarkRecord, where: dict,
                      threshold: float, samples: "SampleSource") -> "CellComparison":
    """A cell where a side holds another tool's summary and no samples: no test and no interval
    can be had, so it is judged by ranges as a cell of too few samples is (module docstring),
    each side's range being its samples' or the range its tool printed (its one figure when it
    printed none). The ratio is of the two sides' figures, each named in the notes."""
    ranges = []
    for r in (a, b):
        if r.stats is not None:
            values = np.concatenate([np.asarray(t, dtype=np.float64) for t in samples(r)])
            ranges.append((float(values.min()), float(values.max())))
        else:
            ranges.append(r.tool_summary.range_ms)
    (a_low, a_high), (b_low, b_high) = ranges
    low, high = b_low / a_high, b_high / a_low
    verdict = SLOWER if low > 1.0 + threshold else FASTER if high < 1.0 - threshold else NO_CHANGE
    named = [f"{side}: {r.tool_summary.label}" if r.stats is None else f"{side}: median of samples"
             for side, r in (("A", a), ("B", b))]
    notes = (f"judged by ranges: another tool's summary, no samples ({'; '.join(named)}); B/A "
             f"of the ranges {low:.3f} to {high:.3f}", *_notes(a, b))
    return CellComparison(**where, verdict=verdict, a_median=_figure(a), b_median=_figure(b),
                          ratio=_figure(b) / _figure(a) if _figure(a) > 0 else None, notes=notes)


# How a comparison gets a record's timed samples, one list per trial.
SampleSource = Callable[[BenchmarkRecord], list[list[float]]]


def samples_in_record(record: BenchmarkRecord) -> list[list[float]]:
    """The timed samples a record carries, one list per trial (read with samples=True)."""
    if not record.samples_loaded:
        raise ValueError(f"The record of {record.model}/{record.format} was read without its "
                         "samples; read it with samples=True, or pass `samples=` to compare.")
    return [list(t.samples_ms) for t in record.trial_results]


def _notes(a: BenchmarkRecord, b: BenchmarkRecord) -> tuple[str, ...]:
    notes = []
    if a.artifact.get("sha256") != b.artifact.get("sha256"):
        notes.append("artifact changed")
    notes += CellKey.of(a).differences(CellKey.of(b))
    for side, r in (("A", a), ("B", b)):
        if r.unstable:
            notes.append(f"{side} unstable")
        if r.result is not None and r.result.thermal.throttled:
            notes.append(f"{side} throttled")
    return tuple(notes)


def compare_cell(a: BenchmarkRecord | None, b: BenchmarkRecord | None,
                 threshold: float = THRESHOLD, alpha: float = ALPHA,
                 samples: SampleSource = samples_in_record) -> CellComparison:
    """One cell's comparison; either record may be missing. `samples` gives a record's timed
    samples by trial, read only for a cell measured on both sides."""
    some = a or b
    where = dict(device_id=some.device_id, model=some.model, format=some.format)
    if b is None:
        return CellComparison(**where, verdict=ONLY_A)
    if a is None:
        return CellComparison(**where, verdict=ONLY_B)
    if not _measured(a):
        return CellComparison(**where, verdict=NOT_MEASURED,
                              notes=(_unmeasured_note("A", a),)
                              + ((_unmeasured_note("B", b),) if not _measured(b) else ()))
    if not _measured(b):
        return CellComparison(**where, verdict=BROKEN, a_median=_figure(a),
                              notes=(_unmeasured_note("B", b),))
    if a.stats is None or b.stats is None:
        return compare_summaries(a, b, where, threshold, samples)
    a_samples = np.concatenate([np.asarray(t, dtype=np.float64) for t in samples(a)])
    b_samples = np.concatenate([np.asarray(t, dtype=np.float64) for t in samples(b)])
    ratio, low, high = median_ratio_ci(a_samples, b_samples)
    test = mann_whitney_u(a_samples, b_samples)
    notes = _notes(a, b)
    reachable = smallest_p(a_samples.size, b_samples.size)
    if reachable >= alpha:
        verdict = classify_by_ranges(a_samples, b_samples, threshold)
        range_low, range_high = range_ratio(a_samples, b_samples)
        judged = (f"judged by ranges: {a_samples.size} vs {b_samples.size} samples cannot "
                  f"reach p < {alpha:g} (smallest p {reachable:.2g}); B/A of the samples "
                  f"{range_low:.3f} to {range_high:.3f}")
        notes = (judged, *notes)
    else:
        verdict = classify(low, high, test.p_value, threshold, alpha)
    return CellComparison(
        **where,
        verdict=verdict,
        a_median=a.stats.median,
        b_median=b.stats.median,
        ratio=ratio,
        ratio_ci=(low, high),
        p_value=test.p_value,
        notes=notes,
    )


def compare_records(a_records: list[BenchmarkRecord], b_records: list[BenchmarkRecord],
                    threshold: float = THRESHOLD, alpha: float = ALPHA,
                    samples: SampleSource = samples_in_record) -> list[CellComparison]:
    """Cells of both runs, matched by (device, model, format), in A's order then B's extras."""
    a_cells = {_cell_key(r): r for r in a_records}  # a repeated cell: the last record wins
    b_cells = {_cell_key(r): r for r in b_records}
    keys = list(a_cells) + [k for k in b_cells if k not in a_cells]
    return [compare_cell(a_cells.get(k), b_cells.get(k), threshold, alpha, samples) for k in keys]


def _run_warnings(a: RunInfo, b: RunInfo) -> list[str]:
    warnings = []
    if a.id == b.id:
        warnings.append(f"A and B are the same run ({a.id}); every cell compares as no change.")
    cpu_a, cpu_b = a.device.get("cpu"), b.device.get("cpu")
    if a.device_id == b.device_id and cpu_a and cpu_b and cpu_a != cpu_b:
        warnings.append(f"device {a.device_id} is a different machine in A ({cpu_a}) and B ({cpu_b}).")
    for side, run in (("A", a), ("B", b)):
        if run.status != "complete":
            warnings.append(f"run {side} ({run.id}) is {run.status}: some cells may be missing.")
    return warnings


def compare_runs(store: Store, run_a: str, run_b: str,
                 threshold: float = THRESHOLD, alpha: float = ALPHA) -> Comparison:
    """Compare two stored runs, named by id, unique id prefix or `latest`."""
    if not 0 < threshold < 1:
        raise ValueError("The threshold is a fraction between 0 and 1, e.g. 0.05 for 5%.")
    if not 0 < alpha < 1:
        raise ValueError("alpha is a probability between 0 and 1, e.g. 0.01.")
    a, b = store.get_run(run_a), store.get_run(run_b)
    # The records' stored figures, and the samples of only the cells measured on both sides.
    cells = compare_records(store.records(a.id), store.records(b.id), threshold, alpha,
                            samples=lambda r: store.trial_samples(r.id))
    return Comparison(a.id, b.id, threshold, alpha, tuple(cells), tuple(_run_warnings(a, b)))


# ----------------------------------------------------------------------------------------------
# Presentation


COLUMNS = ("device", "model", "format", "A median ms", "B median ms", "B/A [95% CI]", "p",
           "verdict", "notes")


def fmt_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "<1e-6" if p < 1e-6 else f"{p:.2g}"


def comparison_rows(comparison: Comparison) -> list[list[str]]:
    rows = []
    for c in comparison.cells:
        ratio = "n/a"
        if c.ratio is not None:
            ratio = f"{c.ratio:.3f} [{c.ratio_ci[0]:.3f}, {c.ratio_ci[1]:.3f}]"
        rows.append([c.device_id, c.model, c.format, fmt_ms(c.a_median), fmt_ms(c.b_median),
                     ratio, fmt_p(c.p_value), c.verdict, "; ".join(c.notes)])
    return rows


def comparison_table(comparison: Comparison, notes):
    """The comparison as a plain-text table (harness.report.text): the device column only when
    the cells are on several devices, each cell's notes numbered under the table."""
    from harness.report.text import Column, TextTable

    devices = len({c.device_id for c in comparison.cells}) > 1
    columns = ([Column("device", key=True)] if devices else []) + [
        Column("model", key=not devices), Column("format"), Column("A median\nms", "right"),
        Column("B median\nms", "right"), Column("B/A\n[95% CI]"), Column("p", "right", hide=1),
        Column("verdict"), Column("notes")]
    table = TextTable(columns, title=f"B {comparison.run_b} vs A {comparison.run_a}")
    for row, cell in zip(comparison_rows(comparison), comparison.cells):
        refs = notes.refs(cell.notes)
        cells = row[:-1] + [f"[{refs}]" if refs else ""]
        table.add_row(*(cells if devices else cells[1:]))
    return table


def rule_text(threshold: float, alpha: float) -> str:
    return (f"slower / faster: the 95% CI of B/A lies entirely beyond ±{threshold:.0%} and the "
            f"Mann-Whitney p < {alpha:g} (with too few samples for that p, as one per trial: "
            f"every sample of B beyond ±{threshold:.0%} of every sample of A); broken: measured "
            "in A, failed in B")


def summary_line(comparison: Comparison) -> str:
    verdicts = (SLOWER, FASTER, NO_CHANGE, BROKEN, NOT_MEASURED, ONLY_A, ONLY_B)
    counts = ", ".join(f"{comparison.count(v)} {v}" for v in verdicts if comparison.count(v))
    line = f"B {comparison.run_b} against A {comparison.run_a}: {counts or 'no cells in common'}."
    if comparison.regressions:
        names = ", ".join(f"{c.model}/{c.format}" for c in comparison.regressions)
        line += f" Regressions: {names}."
    return line
