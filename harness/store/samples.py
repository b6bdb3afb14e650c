"""Raw samples as stored: one row per (record, phase, trial), the values packed in one BLOB.

A trial's samples are little-endian IEEE-754 float64 values in time order, `n` of them, so any
language reads them back (numpy: `np.frombuffer(ms, "<f8")`; Python: `struct.unpack`). One row
per trial rather than per sample keeps a 60,000-sample record three rows, not 60,000. SQLite
stores them as a BLOB, PostgreSQL as a BYTEA: the same bytes.
"""

from __future__ import annotations

import numpy as np

TIMED = "timed"
WARMUP = "warmup"
DTYPE = np.dtype("<f8")


def pack(values) -> bytes:
    """`values` (milliseconds) as the stored BLOB."""
    return np.asarray(values, dtype=DTYPE).tobytes()


def unpack(blob: bytes) -> list[float]:
    """A stored BLOB as the list of its values."""
    return np.frombuffer(blob, dtype=DTYPE).tolist()


def sample_rows(record_id: int, trials) -> list[tuple]:
    """The rows of `trials` (RunResults, in order): each trial's timed and warm-up samples."""
    rows = []
    for trial, result in enumerate(trials):
        for phase, values in ((TIMED, result.samples_ms), (WARMUP, result.warmup_samples_ms)):
            rows.append((record_id, phase, trial, len(values), pack(values)))
    return rows


# The functions below take the store's `execute(sql, params)`, which speaks `?` parameters on
# either backend and returns rows that are read by column name.


def insert_samples(executemany, rows: list[tuple]) -> None:
    executemany("INSERT INTO samples(record_id, phase, trial, n, ms) VALUES (?,?,?,?,?)", rows)


def samples_by_trial(execute, record_id: int, phase: str = TIMED) -> dict[int, list[float]]:
    """A record's samples of one phase by trial number (a trial without any is absent)."""
    rows = execute("SELECT trial, ms FROM samples WHERE record_id=? AND phase=?",
                   (record_id, phase)).fetchall()
    return {row["trial"]: unpack(row["ms"]) for row in rows}


def trial_samples(execute, record_id: int, phase: str = TIMED) -> list[list[float]]:
    """A record's samples of one phase, one list per trial in trial order; a trial stored without
    any (possible in databases migrated from schema 3) reads as []."""
    by_trial = samples_by_trial(execute, record_id, phase)
    return [by_trial.get(t, []) for t in range(max(by_trial) + 1)] if by_trial else []


def trial_of(execute, record_id: int, phase: str, trial: int) -> list[float]:
    """One trial's samples of one phase ([] when the record has no such trial)."""
    row = execute("SELECT ms FROM samples WHERE record_id=? AND phase=? AND trial=?",
                  (record_id, phase, trial)).fetchone()
    return unpack(row["ms"]) if row else []


def record_samples(execute, record_id: int) -> dict[str, dict[int, list[float]]]:
    """Every sample of a record in one query: {phase: {trial: values}}."""
    by_phase: dict[str, dict[int, list[float]]] = {TIMED: {}, WARMUP: {}}
    for row in execute("SELECT phase, trial, ms FROM samples WHERE record_id=?",
                       (record_id,)).fetchall():
        by_phase.setdefault(row["phase"], {})[row["trial"]] = unpack(row["ms"])
    return by_phase
