"""The results database: SQLite or PostgreSQL, versioned schema, raw samples always kept.

`Store(path_or_url)` opens an SQLite file (the embedded default, results/harness.db) or, for a
postgresql:// URL, a database on a PostgreSQL server that many hosts write to at once
(docs/store.md). Both have the same schema, migrations and methods, and say the same things;
what follows holds for both but where it names one.

Every record is committed the moment it is measured, so an interrupted run keeps everything it
finished. A run row starts as `running` and ends `complete` or `interrupted`. While it runs, its
`heartbeat_at` is refreshed (`Store.start_heartbeat`, and every stored record). A run left
`running` reads as `interrupted` when its process, on this host, no longer exists, and as
`abandoned` when its heartbeat is older than STALE_AFTER_S (another host, or a reused pid); the
stored row is never rewritten by reading it.

Writers (`harness run`) create the database (the schema; a server's database must exist) and
migrate it. Readers (`Store(readonly=True)`: show, report, compare) never create or alter
anything: SQLite's open the file read-only (`immutable` when a WAL database sits on read-only
media), refuse a missing file or one that is not a harness database, and read an older schema
by migrating an in-memory copy; PostgreSQL's read in read-only transactions, refuse a database
without the harness's schema, and refuse an older schema until a writer has migrated it.

Every failure of the database reaches the caller as a one-line `StoreError` saying what to do
(errors.py); a failed write leaves every earlier record intact, since each write is
one transaction. JSON columns are strict JSON: a non-finite float is stored as null.

A record's figures (its statistics and stability warnings) are computed once, when it is
stored, and kept with it, marked with the `STATS_VERSION` of `harness.bench.stats` that computed
them; `median_ms`, `ci_low_ms`, `ci_high_ms` and `unstable` repeat them for queries. Reads
return the stored figures and never touch the samples, so `records()`, `latest_records()` and
`get_run()` cost the same for a record of ten samples as for one of 60,000. The samples are the
truth all the same: `records(..., samples=True)` and `trial_samples()` read them,
`records(..., recompute=True)` recomputes the figures from them, and opening a database whose
stored figures are of an older STATS_VERSION recomputes those: a writer once, in the database, in
the same transaction as any schema migration; a reader, until a writer has, in its copy (as it
reads them, on PostgreSQL). Stored results
are read back without validating them again: the contract is checked where results enter.

A record is one cell measured in one or more independent trials. `result_json` holds the
combined result (`harness.bench.trials`), `trials_json` each trial's own result; both are stored
without their samples, which live only in `samples`, one row per record, phase and trial
holding them as an array of float64 (samples.py), and are put back when asked for.

    base.py       StoreBase: runs, records, samples, migrating, written once (Store() below opens
                  the backend a path or URL names)
    location.py   a file or a postgresql:// URL: from --db, $HARNESS_DB or the default
    sqlite.py     the SQLite file: opening it (read-only media, in-memory copies), its SQL dialect
    postgres.py   the PostgreSQL server: connecting, read-only sessions, retries, its SQL dialect
    records.py    RunInfo and BenchmarkRecord; a record's figures; stored results read back
    cell_key.py   CellKey: what a cell is (device, model, format, settings), defined once
    samples.py    samples as stored: float64 arrays, one row per record, phase and trial
    schema.py     the schema on each backend, its version and the migrations (versions listed there)
    errors.py     SQLite's and PostgreSQL's failures as one-line StoreErrors; strict JSON
    heartbeat.py  a running run's proof of life
"""

from harness.store.base import (  # noqa: F401
    RUN_ABANDONED,
    RUN_COMPLETE,
    RUN_INTERRUPTED,
    RUN_RUNNING,
    STALE_AFTER_S,
    StoreBase,
    new_run_id,
)
from harness.store.cell_key import CellKey, format_label, parse_format_label  # noqa: F401
from harness.store.location import DEFAULT_DB, as_location, default_db_path, is_url  # noqa: F401
from harness.store.records import BenchmarkRecord, RunInfo, ToolSummary  # noqa: F401
from harness.store.schema import SCHEMA_VERSION  # noqa: F401


def Store(path=None, readonly: bool = False) -> StoreBase:  # noqa: N802 (named as the class it opens)
    """The results database at `path` (a file, or a postgresql:// URL; default $HARNESS_DB or
    results/harness.db), opened by its backend. The PostgreSQL one is imported only for a URL,
    so a machine without psycopg reads its SQLite files as before."""
    if is_url(as_location(path)):
        from harness.store.postgres import PostgresStore

        return PostgresStore(path, readonly)
    from harness.store.sqlite import SQLiteStore

    return SQLiteStore(path, readonly)
