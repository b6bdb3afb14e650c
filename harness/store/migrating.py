"""Opening a database brings it up to date: the schema created, or an older one migrated (in
one exclusive transaction, so two processes opening it cannot both migrate), and stored figures
of an older STATS_VERSION recomputed from their samples. Mixed into StoreBase, whose dialect
supplies the SQL and the transactions."""

from __future__ import annotations

from harness.bench.stats import STATS_VERSION
from harness.store import schema
from harness.errors import StoreError
from harness.store.records import figure_columns, figures, stored_prior


class Migrating:
    def _stale_stats(self) -> bool:
        """Whether some record's stored figures are of an older STATS_VERSION (current schema only)."""
        row = self._execute("SELECT EXISTS(SELECT 1 FROM records WHERE stats_version < ?) AS stale",
                            (STATS_VERSION,)).fetchone()
        return bool(row["stale"])

    def _refuse_newer(self, version: int | None) -> None:
        if version is not None and version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"{self.location} was written by a newer harness (schema {version}, this one "
                f"reads up to {schema.SCHEMA_VERSION}); upgrade the harness or use another --db."
            )

    def _refuse_foreign(self, version: int | None) -> None:
        if version is None:
            raise StoreError(f"{self.location} is not a harness results database (it has no "
                             "`meta` table with a schema_version); nothing was changed. Point "
                             "--db (or HARNESS_DB) at the database `harness run` wrote.")

    def _migrate(self) -> None:
        """Create the schema, or bring an older one up to date and recompute stored figures of
        an older STATS_VERSION, in one transaction."""
        version = self._read_schema_version()
        if version == schema.SCHEMA_VERSION and not self._stale_stats():
            return  # the common case writes nothing
        # The migration transaction is exclusive, so two processes opening one old (or new)
        # database cannot both migrate it: the second waits and then finds it current.
        with self._migration_transaction():
            version = self._read_schema_version()
            self._refuse_newer(version)
            if version is None:
                for statement in schema.statements(schema.SCHEMAS[self.dialect]):
                    self._execute(statement)
                self._execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                              (str(schema.SCHEMA_VERSION),))
            elif version < schema.SCHEMA_VERSION:
                schema.migrate(self.conn, self.dialect, version)
                self._execute("UPDATE meta SET value=? WHERE key='schema_version'",
                              (str(schema.SCHEMA_VERSION),))
            self._recompute_stale_figures()

    def _recompute_stale_figures(self) -> None:
        """Recompute, from the samples, the stored figures of every record whose statistics are
        of an older STATS_VERSION (inside the caller's transaction)."""
        rows = self._execute("SELECT * FROM records WHERE stats_version < ?",
                             (STATS_VERSION,)).fetchall()
        for row in rows:
            result, trials = self._results(row, with_samples=True)
            if result is None or not result.samples_ms:
                # Nothing to recompute from: the figures stay as stored, marked as of no version
                # (so they are not tried again on every open).
                self._execute("UPDATE records SET stats_version=NULL WHERE id=?", (row["id"],))
                continue
            stats, warnings = figures(result, trials, stored_prior(row["stats_json"]))
            self._execute(
                "UPDATE records SET median_ms=?, ci_low_ms=?, ci_high_ms=?, unstable=?,"
                " stats_json=?, stats_version=?, warnings_json=? WHERE id=?",
                (*figure_columns(stats, warnings), row["id"]))
