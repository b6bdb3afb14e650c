"""A validity verdict per cell, as MLPerf's LoadGen gives one: did the measurement follow the
protocol it was asked to, so that its figure may be quoted? Valid, or not with every reason.

    iterations     every trial timed at least the minimum iterations asked (--iterations)
    duration       every trial's timed samples add up to at least the minimum time asked
                   (--min-time; a trial bounded by --max iterations first says so)
    replication    the trials agree: two or more, their medians within MAX_TRIAL_SPREAD of the
                   median (one trial shows nothing about the next session)
    thermal        no trial throttled, and the thermal gate let every model start cool
    level shift    the latency did not run at two levels inside the trials (a core shared with
                   something the machine cannot see)
    plausible      the cores it ran on could compute the model that fast (harness.bench.
                   plausibility), where the runner says what they can

It reads only stored figures (the record, its trials' contexts, the run's settings), so any
record can be judged again; `harness show`, `--json`, the site and the farm's digest print it.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.bench.plausibility import implausible_text, plausibility
from harness.bench.stats import MAX_TRIAL_SPREAD, level_shift

# A trial's timed samples may add up to a little less than the loop's wall time (the clock is
# read between iterations): that little is not a trial cut short.
DURATION_SLACK = 0.95


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    text: str
    # A phrase of the record's own warning about the same finding (harness.bench.stats), so a
    # table's notes say it once.
    warned_as: str = ""


@dataclass(frozen=True)
class Validity:
    checks: tuple[Check, ...]

    @property
    def valid(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def reasons(self) -> list[str]:
        return [c.text for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        return {"valid": self.valid, "reasons": self.reasons,
                "checks": {c.name: {"passed": c.passed, "text": c.text} for c in self.checks}}


def _timed_s(trial) -> float:
    """How long `trial`'s timed loop ran: as its runner measured it, else from the loop's start
    and end on the wall clock (the Python worker's), else the sum of its samples."""
    context = trial.context
    if context.get("timed_duration_s"):
        return context["timed_duration_s"]
    start, end = context.get("timed_start_unix"), context.get("timed_end_unix")
    if start and end and end > start:
        return end - start
    return sum(trial.samples_ms) / 1000.0


def _reached_cap(trial, cap: int | None, stats) -> bool:
    """Whether `trial` stopped at --max-iterations: as its runner says (the native runner's
    `timed_stop_reason`), else by its count of samples (a stored record's trials keep theirs in
    the samples table: the pooled count shared out then)."""
    reason = trial.context.get("timed_stop_reason")
    if reason:
        return reason == "max_iterations"
    count = len(trial.samples_ms) or stats.n // (stats.trials or 1)
    return bool(cap) and count >= cap


def validity(record, bench: dict | None = None) -> Validity | None:
    """The verdict of a measured record (None for one not measured, or imported from another
    tool); `bench` is its run's settings (`config["bench"]`), without which the minimums are
    not checked."""
    stats, result = record.stats, record.result
    if stats is None or result is None or not result.ok:
        return None
    if result.context.get("imported"):  # another tool's protocol, not ours: its flag says so
        return None
    bench = bench or {}
    trials = record.trial_results
    checks = []
    want_n = bench.get("min_iterations")
    if want_n:
        counts = [len(t.samples_ms) for t in trials if t.samples_ms]
        short = [i + 1 for i, n in enumerate(counts) if n < want_n]
        if not counts:  # stored without samples: the count of the pooled figures
            short = [] if stats.n >= want_n * stats.trials else ["?"]
        checks.append(Check("iterations", not short,
                            f"trial {', '.join(map(str, short))} timed fewer than {want_n} iterations"
                            if short else f"every trial timed {want_n} iterations or more"))
    want_s = bench.get("min_duration_s")
    if want_s:
        cap = bench.get("max_iterations")
        timed = [_timed_s(t) for t in trials]
        short = [i + 1 for i, s in enumerate(timed) if s and s < want_s * DURATION_SLACK]
        # A trial that reached --max-iterations stopped where it was asked to, not short.
        capped = [i for i in short if _reached_cap(trials[i - 1], cap, stats)]
        short = [i for i in short if i not in capped]
        text = (f"trial {', '.join(map(str, short))} timed less than {want_s:g} s" if short
                else f"every trial timed {want_s:g} s or more")
        if capped and not short:
            text = (f"trial {', '.join(map(str, capped))} reached --max-iterations {cap} before "
                    f"{want_s:g} s (as asked); the others timed {want_s:g} s or more"
                    if len(capped) < len(trials) else
                    f"every trial reached --max-iterations {cap} before {want_s:g} s (as asked)")
        checks.append(Check("duration", not short, text))
    sustained = bool(result.context.get("sustained"))
    spread = stats.trial_spread
    if sustained:  # one long trial by design, throttling and all (harness.bench.sustained)
        checks.append(Check("replication", True, "one sustained trial: its windows are the figures"))
    elif spread is None:
        # Fewer than two trials: the interval covers one session, unless the device's other
        # cells lent it their spread between sessions (harness.bench.sessions); either way
        # nothing shows this cell's next session would agree.
        where = ("its interval takes the spread between sessions from the device's other cells"
                 if stats.between_sessions else "its interval covers only one session")
        checks.append(Check("replication", False, f"one trial: {where}; nothing shows another "
                                                  "session would agree (--trials 3 or more)"))
    else:
        checks.append(Check("replication", spread <= MAX_TRIAL_SPREAD,
                            f"the {stats.trials} trials' medians spread over {spread:.1%} of the "
                            f"median (limit {MAX_TRIAL_SPREAD:.0%})"))
    throttled = result.thermal.throttled and not sustained
    gate_failed = [t for t in trials if (t.context.get("thermal_gate") or {}).get("timed_out")]
    checks.append(Check("thermal", not throttled and not gate_failed,
                        "the device throttled during a trial" if throttled else
                        "the thermal gate timed out before a trial" if gate_failed else
                        "no trial throttled; the thermal gate passed",
                        warned_as="the device was throttling" if throttled else ""))
    if sustained:
        found = None
    elif any(t.samples_ms for t in trials):
        shift = level_shift([t.samples_ms for t in trials])
        found = None if shift is None else (f"the latency ran at two levels ({shift.fast_ms:.3g} and "
                                            f"{shift.slow_ms:.3g} ms)")
    else:  # read without its samples: the warning stored with it says so
        found = next((w.split(";")[0] for w in record.warnings if "ran at two levels" in w), None)
    checks.append(Check("level shift", found is None, found or "no level shift",
                        warned_as="the latency ran at two levels"))
    figures = plausibility(record)
    if figures is not None:
        checks.append(Check("plausible", not figures["implausible"],
                            implausible_text(figures) if figures["implausible"] else
                            f"{figures['efficiency']:.0%} of its cores' peak"))
    return Validity(tuple(checks))


def invalid_notes(verdict: Validity | None, warnings=()) -> list[str]:
    """A verdict's "not valid: ..." notes for a table's footnotes, leaving out a finding one of
    `warnings` (the record's own) already states, as the level shift's warning does."""
    if verdict is None or verdict.valid:
        return []
    return [f"not valid: {c.text}" for c in verdict.checks if not c.passed
            and not (c.warned_as and any(c.warned_as in w for w in warnings))]
