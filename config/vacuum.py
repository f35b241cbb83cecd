"""VACUUM (ANALYZE) of tables just rewritten or purged, on PostgreSQL.

VACUUM marks the space of deleted rows free for the next inserts (the table stops
growing: no bloat) and sets the visibility map that index-only scans need; ANALYZE gives
the planner the tables' new statistics. VACUUM cannot run in a transaction (a test's,
say), where ANALYZE alone does. Neither blocks reads or writes. SQLite: nothing."""

from django.db import connection


def vacuum_analyze(*tables: str) -> str:
    """Vacuum and analyze ``tables`` (only analyze them inside a transaction); return the
    statement run, or "" where there is nothing to do."""
    if connection.vendor != "postgresql" or not tables:
        return ""
    verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    statement = f"{verb} {', '.join(tables)}"
    with connection.cursor() as cursor:
        cursor.execute(statement)
    return statement
