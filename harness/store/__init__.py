"""The results database: SQLite, versioned schema, raw samples always kept.

Every record is committed the moment it is measured, so an interrupted run keeps everything it
finished. A run row starts as `running` and ends `complete` or `interrupted`. While it runs, its
`heartbeat_at` is refreshed (`Store.start_heartbeat`, and every stored record). A run left
`running` reads as `interrupted` when its process, on this host, no longer exists, and as
`abandoned` when its heartbeat is older than STALE_AFTER_S (another host, or a reused pid); the
stored row is never rewritten by reading it.

Writers (`harness run`) create the database and migrate it. Readers (`Store(readonly=True)`:
show, report, compare) never create or alter a file: they open it read-only (`immutable` when a
WAL database sits on read-only media), refuse a missing file or one that is not a harness
database, and read an older schema by migrating an in-memory copy.

Every SQLite failure reaches the caller as a one-line `StoreError` saying what to do
(errors.py); a failed write leaves every earlier record intact, since each write is
one transaction. JSON columns are strict JSON: a non-finite float is stored as null.

The derived columns of `records` (median, CI, unstable) are a convenience for queries; the truth
is the `samples` table, and `records(..., recompute=True)` recomputes them from it.

A record is one cell measured in one or more independent trials. `result_json` holds the
combined result (`harness.bench.trials`), `trials_json` each trial's own result; both are stored
without their samples, which live only in `samples`, one row per sample and trial, and are put
back when a record is read.

    sqlite.py     Store: open, migrate, runs, records, samples
    records.py    RunInfo and BenchmarkRecord
    schema.py     the schema, its version and the migrations (versions listed there)
    errors.py     SQLite failures as one-line StoreErrors; strict JSON
    heartbeat.py  a running run's proof of life
"""

from harness.store.records import BenchmarkRecord, RunInfo  # noqa: F401
from harness.store.schema import SCHEMA_VERSION  # noqa: F401
from harness.store.sqlite import (  # noqa: F401
    DEFAULT_DB,
    RUN_ABANDONED,
    RUN_COMPLETE,
    RUN_INTERRUPTED,
    RUN_RUNNING,
    STALE_AFTER_S,
    Store,
    default_db_path,
    new_run_id,
)
