"""Keyset pagination for the delivery log.

Each sort orders by one key and then ``(created_at, id)``, all in the same direction, so
"the rows after this one" is a single row-value comparison, ``(key, created_at, id) <
(...)``, which an index on those columns answers directly at any depth. New deliveries
arriving while someone pages do not shift the pages they have not seen yet.
"""

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import BadRequest
from django.db.models import BooleanField, F, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

# sort name -> (SQL of the key with {t} for the table, expression to annotate it with)
SORT_KEYS = {
    "time": None,
    "status": ('{t}."status"', lambda: F("status")),
    # Deliveries without a response sort as code 0 (see the delivery_log_code index).
    "code": (
        'COALESCE({t}."last_response_code", 0)',
        lambda: Coalesce("last_response_code", Value(0)),
    ),
}


@dataclass
class Page:
    rows: list
    next_cursor: str | None  # further in the chosen order (older, for newest-first)
    previous_cursor: str | None  # back towards the start


def encode(values: list) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, sort: str) -> list:
    """The cursor's values; ``BadRequest`` (400) for anything that is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        *key, created, pk = values
        expected_key = 0 if SORT_KEYS[sort] is None else 1
        if len(key) != expected_key or not isinstance(pk, int) or isinstance(pk, bool):
            raise ValueError
        if key and not isinstance(key[0], str | int):
            raise ValueError
        return [*key, datetime.fromisoformat(created), pk]
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest(
            "This page link is broken or out of date; start from the first page."
        ) from None


def paginate(
    queryset: QuerySet,
    sort: str = "time",
    descending: bool = True,
    after: str | None = None,
    before: str | None = None,
    per_page: int = 50,
) -> Page:
    """One page of ``queryset`` in the given order, after or before a cursor."""
    key = SORT_KEYS[sort]
    columns = ["created_at", "id"]
    if key is not None:
        queryset = queryset.annotate(sort_key=key[1]())
        columns = ["sort_key", *columns]
    table = f'"{queryset.model._meta.db_table}"'
    key_sql = [key[0].format(t=table)] if key else []
    sql_columns = ", ".join([*key_sql, f'{table}."created_at"', f'{table}."id"'])

    backwards = before is not None
    cursor = before if backwards else after
    # Walking back towards the start reverses the order, then the page is flipped.
    walk_descending = descending != backwards
    if cursor:
        values = decode(cursor, sort)
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
