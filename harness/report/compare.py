"""`harness compare A B`: per cell, did run B get faster or slower than run A, and is it real?

What repeats is the trial, not the sample (harness.bench.sessions): a fresh process, and on a
phone a fresh session with its own clocks, heat and background, lands percents away from the
last however many samples each took. So a cell is compared on its trials. For every cell
measured in both runs (matched by device, model and format: `CellKey.identity`):

    ratio      median(B) / median(A); above 1 means B is slower.
    ratio CI   exp(log ratio +- t(df) * s * sqrt(1/kA + 1/kB)): s the spread of the trial
               medians of both runs (pooled, each run's own mean removed), combined with the
               device's spread from its other cells (stored with each record), df their degrees
               of freedom; kA and kB the trials of each side.
    p          Welch's t on the log trial medians with the same s and df: is the difference
               larger than what separate sessions of one build differ by?
    within     the Mann-Whitney p of the pooled samples, shown as a within-session figure; it
               never decides (with thousands of samples a 0.5% shift is "significant" there).

The rule, with THRESHOLD = 5% and ALPHA = 0.01 (both options):

    slower     the whole ratio CI is above 1 + THRESHOLD, and p < ALPHA
    faster     the whole ratio CI is below 1 - THRESHOLD, and p < ALPHA
    no change  the whole ratio CI lies within 1 +- THRESHOLD: any change is smaller than that
    undecided  the trials cannot tell: the CI reaches past a threshold without lying beyond it.
               The note says about how many trials a side would resolve a 5% change, from the
               spread seen (harness.bench.sessions.trials_to_resolve); with one trial a side and
               no other cell of the device stored there is no spread at all, and it says so.
    broken     measured in A, failed in B (run_failed, export_failed, ...)

One stored record on both sides (a run compared with itself) is no change: its trials are one set
of sessions, not two.

A side that holds another tool's summary and no samples (an imported benchmark_model log: its
mean, min and max; AI Hub's one figure; harness.store.ToolSummary) has no trials to compare: it
is judged by ranges, slower when B's lowest figure is above A's highest by more than THRESHOLD,
faster the other way round, the tool's own min and max standing for its samples (its one figure
when it printed no range), and the notes name whose figure each side is.

`harness compare` exits 3 when any cell is slower or broken, 4 when no cell was compared
(harness.exit_codes). Cells in one run only are listed, not classed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from harness.bench import sessions
from harness.bench.within import mann_whitney_u
from harness.report.figures import fmt_ms
from harness.store import BenchmarkRecord, CellKey, RunInfo, Store

THRESHOLD = 0.05
ALPHA = 0.01

SLOWER = "slower"
FASTER = "faster"
NO_CHANGE = "no change"
UNDECIDED = "undecided"
BROKEN = "broken"
ONLY_A = "only in A"
ONLY_B = "only in B"
NOT_MEASURED = "not measured"
REGRESSIONS = (SLOWER, BROKEN)


# ----------------------------------------------------------------------------------------------
# The rule


def classify(ratio_low: float, ratio_high: float, p_value: float,
             threshold: float = THRESHOLD, alpha: float = ALPHA) -> str:
    """The verdict for one cell (the rule is in the module docstring)."""
    if p_value < alpha and ratio_low > 1.0 + threshold:
        return SLOWER
    if p_value < alpha and ratio_high < 1.0 - threshold:
        return FASTER
    if ratio_low >= 1.0 - threshold and ratio_high <= 1.0 + threshold:
        return NO_CHANGE
    return UNDECIDED


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
    p_value: float | None = None  # the trial-level test's (Welch's t on log trial medians)
    notes: tuple[str, ...] = ()
    within_p: float | None = None  # the pooled samples' Mann-Whitney p: within-session only
    trials: tuple[int, int] | None = None  # (A's, B's)
    spread: dict | None = None  # harness.bench.sessions.SessionSpread.to_dict(), as used
    trials_needed: int | None = None  # per side, to resolve a 5% change (undecided cells)
    trend: str = ""  # a farm cell's series: "step", "creep", "blip" (harness.farm.nights)
    invalid: tuple[str, ...] = ()  # why tonight's measurement is not valid (harness.bench.validity)


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
        return sum(c.verdict in (SLOWER, FASTER, NO_CHANGE, UNDECIDED) for c in self.cells)


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
    if a.id is not None and a.id == b.id:
        # One stored record on both sides (a run compared with itself): its trials are one set
        # of sessions, not two, so there is no spread between sides to test; it is no change.
        return CellComparison(**where, verdict=NO_CHANGE, a_median=_figure(a),
                              b_median=_figure(b), ratio=1.0, notes=("the same record",))
    if a.stats is None or b.stats is None:
        return compare_summaries(a, b, where, threshold, samples)
    return compare_trials_of(a, b, where, threshold, alpha, samples)


def compare_trials_of(a: BenchmarkRecord, b: BenchmarkRecord, where: dict, threshold: float,
                      alpha: float, samples: "SampleSource") -> "CellComparison":
    """A cell measured on both sides, compared on its trials (module docstring)."""
    a_trials = [np.asarray(t, dtype=np.float64) for t in samples(a) if len(t)]
    b_trials = [np.asarray(t, dtype=np.float64) for t in samples(b) if len(t)]
    a_meds = [float(np.median(t)) for t in a_trials]
    b_meds = [float(np.median(t)) for t in b_trials]
    within = mann_whitney_u(np.concatenate(a_trials), np.concatenate(b_trials)).p_value
    prior = sessions.SessionSpread.from_dict(b.stats.prior or a.stats.prior)
    spread = sessions.combine(sessions.pooled_spread([a_meds, b_meds], source="trials"), prior)
    notes = _notes(a, b)
    base = dict(**where, a_median=a.stats.median, b_median=b.stats.median,
                ratio=b.stats.median / a.stats.median, within_p=within,
                trials=(len(a_meds), len(b_meds)))
    if spread is None:
        why = (f"undecided: {len(a_meds)} trial a side and no other cell of the device to learn "
               "the spread between sessions from; run --trials 3 or more on each side")
        return CellComparison(**base, verdict=UNDECIDED, notes=(why, *notes))
    test = sessions.compare_trials(a.stats.median, len(a_meds), b.stats.median, len(b_meds), spread)
    verdict = classify(test.low, test.high, test.p_value, threshold, alpha)
    needed = None
    if verdict == UNDECIDED:
        needed = sessions.trials_to_resolve(spread, THRESHOLD)
        notes = (f"undecided: the trials spread {spread.sd:.1%} between sessions; about {needed} "
                 f"trials per side would resolve a {THRESHOLD:.0%} change", *notes)
    return CellComparison(**base, verdict=verdict, ratio_ci=(test.low, test.high),
                          p_value=test.p_value, notes=notes, spread=spread.to_dict(),
                          trials_needed=needed)


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
        if c.ratio is not None and c.ratio_ci is not None:
            ratio = f"{c.ratio:.3f} [{c.ratio_ci[0]:.3f}, {c.ratio_ci[1]:.3f}]"
        elif c.ratio is not None:
            ratio = f"{c.ratio:.3f}"
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
    return (f"decided on the trials (their medians' spread between sessions, Welch's t): slower / "
            f"faster: the 95% CI of B/A lies entirely beyond ±{threshold:.0%} and p < {alpha:g}; "
            f"no change: it lies within ±{threshold:.0%}; undecided: it reaches past ±{threshold:.0%} "
            "(the note says how many trials would tell); broken: measured in A, failed in B")


def summary_line(comparison: Comparison) -> str:
    verdicts = (SLOWER, FASTER, NO_CHANGE, UNDECIDED, BROKEN, NOT_MEASURED, ONLY_A, ONLY_B)
    counts = ", ".join(f"{comparison.count(v)} {v}" for v in verdicts if comparison.count(v))
    line = f"B {comparison.run_b} against A {comparison.run_a}: {counts or 'no cells in common'}."
    if comparison.regressions:
        names = ", ".join(f"{c.model}/{c.format}" for c in comparison.regressions)
        line += f" Regressions: {names}."
    return line
