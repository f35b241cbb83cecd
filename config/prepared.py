"""Prepared statements, for the few statements run on every request or event.

PostgreSQL parses and plans a statement once per connection and then runs it from its
plan: for the events API's two statements (the API key, the emit), parsing, analysing and
planning were half of the database's time an event. Django's queries stay as they are
(bound by the client, never prepared, as PgBouncer in transaction mode wants); the
settings let psycopg prepare only where code asks (``prepare_threshold`` past any count).
"""

from contextlib import contextmanager

import psycopg
from django.db import connection
from django.db.backends.utils import CursorDebugWrapper


class _PreparingCursor(psycopg.Cursor):
    """Sends the parameters apart from the statement, which PostgreSQL prepares once per
    connection (psycopg keeps the names): the statement is not parsed, planned or quoted
    again."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


class _DebugCursor(CursorDebugWrapper):
    """Logs a statement as written: psycopg keeps no text of one run from its plan."""

    @contextmanager
    def debug_sql(self, sql=None, params=None, use_last_executed_query=False, many=False):
        with super().debug_sql(sql, params, use_last_executed_query=False, many=many):
            yield


def prepared_cursor():
    """On PostgreSQL, Django's cursor over a cursor whose statements are prepared (its
    queries counted and logged, and its errors mapped, as any other's); elsewhere,
    Django's own cursor."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    cursor = _PreparingCursor(connection.connection)
    if connection.queries_logged:
        return _DebugCursor(cursor, connection)
    return connection.make_cursor(cursor)
