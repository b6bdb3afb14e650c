"""What a cell's flag on the site points to: its numbered notes (its reason, warnings, why it is
not valid, partial or run notes), the flag's words, and the validity row of its page."""

from __future__ import annotations

from harness.bench.validity import invalid_notes, validity
from harness.report.leaderboard import partial_note, run_note
from harness.store import BenchmarkRecord, RunInfo


def _validity(record: BenchmarkRecord, run: RunInfo | None):
    return validity(record, run.config.get("bench") if run else None)


def why(record: BenchmarkRecord, run: RunInfo | None) -> list[str]:
    """The texts a record's flags point to: its reason, warnings, why it is not valid, and
    partial or run notes."""
    partial = partial_note(record)
    reason = record.reason
    if partial and reason and "interrupted after" in reason:
        reason = ""
    invalid = invalid_notes(_validity(record, run), record.warnings)
    return [t for t in (reason, *record.warnings, *invalid, partial, run_note(record, run)) if t]


class NoteBook:
    """Numbered notes under a table (one number per distinct text)."""

    def __init__(self):
        self.texts: list[str] = []

    def refs(self, texts) -> list[int]:
        out = []
        for t in texts:
            t = " ".join(t.split())
            if t not in self.texts:
                self.texts.append(t)
            out.append(self.texts.index(t) + 1)
        return sorted(set(out))


def refs_text(numbers: list[int]) -> str:
    return "[" + ",".join(map(str, numbers)) + "]" if numbers else ""


def validity_words(record: BenchmarkRecord, run: RunInfo | None) -> list[str]:
    """"invalid", and "implausible" before it when the hardware could not be that fast."""
    verdict = _validity(record, run)
    if verdict is None or verdict.valid:
        return []
    implausible = any(c.name == "plausible" and not c.passed for c in verdict.checks)
    return ["implausible"] * implausible + ["invalid"]


def validity_row(record: BenchmarkRecord, run: RunInfo | None) -> tuple[tuple[str, str], ...]:
    verdict = _validity(record, run)
    if verdict is None:
        return ()
    return (("validity", "valid: " + "; ".join(c.text for c in verdict.checks) if verdict.valid
             else "not valid: " + "; ".join(verdict.reasons)),)
