"""PostgreSQL set up for a test run rather than for keeping data.

- ``synchronous_commit=off`` for the tests' own connections: a commit returns before its
  WAL reaches the disk. Other connections see it at once, as ever; only a crash of the
  server could lose it, and a test database is dropped anyway.
- After each ``transaction=True`` test, pytest-django empties the tables with Django's
  ``flush``, a ``TRUNCATE`` of every table: 0.2 s on a quiet machine (new files for
  every table and index, then a WAL flush), over a second on a busy one, for tables that
  hold a handful of rows. ``DELETE FROM`` each table takes about a millisecond.
"""

from django.db.backends.postgresql.operations import DatabaseOperations

TEST_CONNECTION_OPTIONS = "-c synchronous_commit=off"

_truncate = DatabaseOperations.sql_flush


def _delete_rows(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    if reset_sequences or allow_cascade or not tables:
        return _truncate(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
    deletes = [f"DELETE FROM {self.quote_name(table)};" for table in tables]
    # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: checked at commit, when every
    # table is empty, so the order of the deletes does not matter. Deleting deliveries
    # fires the status-count triggers (deliveries/migrations/0003_rollup_triggers.py),
    # which write rows the first round may have passed: a second round removes them.
    return ["SET CONSTRAINTS ALL DEFERRED;", *deletes, *deletes]


def flush_with_deletes() -> None:
    """Make Django's ``flush`` (without sequence resets or cascades) delete rows instead of
    truncating tables, in this process."""
    DatabaseOperations.sql_flush = _delete_rows
