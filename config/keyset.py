"""Keyset pagination for every list page (the delivery log, the activity log, ...).

A page is ordered by an optional sort key and then ``(time, id)``, all in one direction,
so "the rows after this one" is a single row-value comparison, ``(key, time, id) <
(...)``, which an index on those columns answers directly at any depth. Rows arriving
while someone pages do not shift the pages they have not seen yet.

A cursor is the last (or first) row's values as URL-safe base64 JSON. ``after`` walks on
in the page's order, ``before`` walks back towards its start.
"""

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import BadRequest
from django.db import connection
from django.db.models import BooleanField, Expression, QuerySet
from django.db.models.expressions import RawSQL

# The largest BigAutoField; a bigger id in a cursor is garbage, not a database error.
MAX_ID = 2**63 - 1


class InvalidCursor(BadRequest):
    """A cursor that is not one of ours (a 400: the link is broken or out of date)."""

    def __init__(self, message: str = ""):
        super().__init__(
            message or "This page link is broken or out of date; start from the first page."
        )


@dataclass(frozen=True)
class SortKey:
    """An extra leading sort column: its SQL (``{t}`` stands for the quoted table) and
    the expression that annotates it, which must match the SQL."""

    sql: str
    expression: Callable[[], Expression]
    # The type of the key's values: a cursor carrying another is forged or stale (a 400,
    # not a database error).
    kind: type = str


@dataclass
class Page:
    rows: list
    next_cursor: str | None  # further in the page's order (older, for newest-first)
    previous_cursor: str | None  # back towards the start


def encode(values: list) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, with_key: bool = False) -> list:
    """The cursor's values, ``[key?, time, id]``; ``InvalidCursor`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        *key, moment, pk = json.loads(raw)
        if len(key) != int(with_key) or not isinstance(pk, int) or isinstance(pk, bool):
            raise ValueError
        if not 0 < pk <= MAX_ID or (key and not isinstance(key[0], str | int)):
            raise ValueError
        moment = datetime.fromisoformat(moment)
        if moment.tzinfo is None:
            raise ValueError
        return [*key, moment, pk]
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeError):
        raise InvalidCursor() from None


def _of_kind(value, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_ID
    return isinstance(value, kind)


def paginate(
    queryset: QuerySet,
    *,
    key: SortKey | None = None,
    time_field: str | SortKey = "created_at",
    descending: bool = True,
    after: str | None = None,
    before: str | None = None,
    per_page: int = 50,
) -> Page:
    """One page of ``queryset`` ordered by ``key`` (if any), ``time_field`` (a datetime
    field, or a ``SortKey`` whose values are datetimes) and id, after or before a cursor;
    reads ``per_page + 1`` rows and counts nothing. Raises ``InvalidCursor``."""
    table = f'"{queryset.model._meta.db_table}"'
    if isinstance(time_field, SortKey):
        queryset = queryset.annotate(sort_time=time_field.expression())
        time_sql, time_name = time_field.sql.format(t=table), "sort_time"
    else:
        column = queryset.model._meta.get_field(time_field).column
        time_sql, time_name = f'{table}."{column}"', time_field
    columns = [time_name, "id"]
    if key is not None:
        queryset = queryset.annotate(sort_key=key.expression())
        columns = ["sort_key", *columns]
    key_sql = [key.sql.format(t=table)] if key else []
    sql_columns = ", ".join([*key_sql, time_sql, f'{table}."id"'])

    backwards = before is not None
    cursor = before if backwards else after
    # Walking back towards the start reverses the order, then the page is flipped.
    walk_descending = descending != backwards
    if cursor:
        values = decode(cursor, with_key=key is not None)
        if key is not None and not _of_kind(values[0], key.kind):
            raise InvalidCursor()
        # Adapted as the column stores it: on SQLite a datetime is text, and a raw
        # parameter with a "+00:00" suffix would not equal the stored value.
        values = [
            connection.ops.adapt_datetimefield_value(v) if isinstance(v, datetime) else v
            for v in values
        ]
        placeholders = ", ".join(["%s"] * len(values))
        operator = "<" if walk_descending else ">"
        queryset = queryset.filter(
            RawSQL(
                f"({sql_columns}) {operator} ({placeholders})", values, output_field=BooleanField()
            )
        )
    order = [f"-{c}" if walk_descending else c for c in columns]
    rows = list(queryset.order_by(*order)[: per_page + 1])
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backwards:
        rows.reverse()

    def cursor_of(row) -> str:
        return encode([getattr(row, c) for c in columns])

    has_next = more if not backwards else True
    has_previous = (more if backwards else bool(cursor)) and bool(rows)
    return Page(
        rows=rows,
        next_cursor=cursor_of(rows[-1]) if rows and has_next else None,
        previous_cursor=cursor_of(rows[0]) if has_previous else None,
    )
