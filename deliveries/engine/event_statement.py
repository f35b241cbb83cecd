"""The one statement that writes events and their deliveries on PostgreSQL
(``writes.write_events``): a batch of 1,000 events is one round trip, and a single
event a statement PostgreSQL has prepared (``config.prepared``). Its text depends on the
models alone (and on whether the batch has deliveries in ordered lines), so it is built
once per shape."""

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection

from config.prepared import prepared_cursor
from deliveries.models import Delivery, Source
from webhooks.models import Event


class Recipient(NamedTuple):
    """One delivery of each event of a type: to whom, and in which state."""

    event_type_id: int
    webhook_id: int
    category: str
    status: str
    next_attempt_at: datetime | None


def insert_events(
    events: Sequence[tuple[int, Any, str, datetime, str]],
    rows: Sequence[Recipient],
    in_line: Mapping[tuple[int, int], str],
    guard: tuple[str, Any] | None,
    now: datetime,
) -> list[int | None] | None:
    """One statement: the events (ids drawn in their order; keys inserted in key order,
    so two writers of overlapping keys take them in the same order and never deadlock)
    and, joined on their type, the deliveries of those inserted."""
    field = Event._meta.get_field("occurred_at")
    times: dict[datetime, str] = {}  # Most events of a batch happened "now": one each.
    for _, _, _, occurred_at, _ in events:
        if occurred_at not in times:
            times[occurred_at] = field.get_db_prep_save(occurred_at, connection).isoformat()
    params = [
        # The events as one JSON text: a single parameter that PostgreSQL parses, rather
        # than thousands of values quoted one by one.
        json.dumps(
            [
                (type_id, payload, key, times[occurred_at], ordering_key)
                for type_id, payload, key, occurred_at, ordering_key in events
            ]
        ),
        *([guard[1]] if guard else []),
        *_defaults(Event, {"created_at": now}),
        # The recipients by column, an array each.
        *([row[i] for row in rows] for i in range(len(Recipient._fields))),
        # The ordered deliveries' lines, if any: (event number, webhook id) -> line key.
        *(
            (
                [n for n, _ in in_line],
                [webhook_id for _, webhook_id in in_line],
                [*in_line.values()],
            )
            if in_line
            else ()
        ),
        *_defaults(Delivery, {"source": Source.EVENT, "created_at": now, "updated_at": now}),
    ]
    with prepared_cursor() as cursor:
        cursor.execute(_events_sql(guard[0] if guard else "true", bool(in_line)), params)
        found = cursor.fetchall()
    if found and found[-1][1] is None:
        return None  # The guard failed: nothing was written.
    ids: list[int | None] = [None] * len(events)
    for n, event_id in found:
        ids[n - 1] = event_id
    return ids


# What an event brings, and what a recipient row gives each of its deliveries; every
# other column of the models is written as a new instance leaves it (its default), so a
# new field with a default needs nothing here.
EVENT_GIVEN = ("id", "event_type", "payload", "idempotency_key", "occurred_at", "ordering_key")
DELIVERY_GIVEN = (
    "id",
    "event",
    "event_type",
    "webhook",
    "category",
    "status",
    "next_attempt_at",
    "line_key",
)


@functools.cache
def _events_sql(condition: str, lines: bool) -> str:
    """The statement of ``insert_events``: its text depends on the models alone, and on
    whether any of the deliveries go in ordered ``lines`` (a statement without them is
    the one before ordered delivery, as fast)."""
    quote = connection.ops.quote_name
    event, delivery = Event._meta, Delivery._meta

    def columns(meta, names):
        return ", ".join(quote(meta.get_field(name).column) for name in names)

    def others(model, given):
        return [f for f in model._meta.concrete_fields if f.name not in given]

    event_others = others(Event, EVENT_GIVEN)
    delivery_others = others(Delivery, DELIVERY_GIVEN)
    casts = {name: delivery.get_field(name).db_type(connection) for name in DELIVERY_GIVEN[2:]}
    line_cte = f"""line AS (
            SELECT * FROM unnest(%s::integer[], %s::bigint[], %s::{casts["line_key"]}[])
                AS l(n, webhook_id, line_key)
        ),"""
    line_join = """FROM e JOIN input i ON i.id = e.id
            JOIN recipient r ON r.event_type_id = e.event_type_id
            LEFT JOIN line l ON l.n = i.n AND l.webhook_id = r.webhook_id
            -- Ids in the events' order: an ordered line's order is its deliveries' ids.
            ORDER BY i.n, r.webhook_id"""
    return f"""
        WITH input AS MATERIALIZED (
            -- The sequence found once (an InitPlan), not once a row.
            SELECT nextval((SELECT pg_get_serial_sequence('{event.db_table}', 'id')::regclass))
                AS id, i.n,
                (i.e->>0)::bigint AS event_type_id, (i.e->1)::jsonb AS payload,
                i.e->>2 AS idempotency_key, (i.e->>3)::timestamptz AS occurred_at,
                i.e->>4 AS ordering_key
            FROM json_array_elements(%s::json) WITH ORDINALITY AS i(e, n)
        ),
        allowed AS (SELECT {condition} AS ok),
        e AS (
            INSERT INTO {event.db_table} (
                {columns(event, EVENT_GIVEN)}{"".join(", " + quote(f.column) for f in event_others)}
            )
            SELECT id, event_type_id, payload, idempotency_key, occurred_at, ordering_key
                {"".join(f", %s::{f.db_type(connection)}" for f in event_others)}
            FROM input WHERE (SELECT ok FROM allowed)
            ORDER BY idempotency_key, n
            ON CONFLICT (idempotency_key) WHERE NOT (idempotency_key = '') DO NOTHING
            RETURNING id, event_type_id
        ),
        recipient AS (
            SELECT * FROM unnest(
                %s::{casts["event_type"]}[], %s::{casts["webhook"]}[], %s::{casts["category"]}[],
                %s::{casts["status"]}[], %s::{casts["next_attempt_at"]}[]
            ) AS r(event_type_id, webhook_id, category, status, next_attempt_at)
        ),
        {line_cte if lines else ""}
        d AS (
            INSERT INTO {delivery.db_table} (
                {columns(delivery, DELIVERY_GIVEN[1:])}
                {"".join(", " + quote(f.column) for f in delivery_others)}
            )
            SELECT e.id, r.event_type_id, r.webhook_id, r.category, r.status, r.next_attempt_at,
                {"l.line_key" if lines else f"NULL::{casts['line_key']}"}
                {"".join(f", %s::{f.db_type(connection)}" for f in delivery_others)}
            {line_join if lines else "FROM e JOIN recipient r ON r.event_type_id = e.event_type_id"}
        )
        SELECT n, id FROM input WHERE id IN (SELECT id FROM e)
        UNION ALL SELECT 0, NULL FROM allowed WHERE NOT ok
    """


def _defaults(model, values: Mapping[str, Any]) -> list:
    """The database values of the columns ``_events_sql`` leaves to ``model``'s defaults,
    with ``values`` in place of some."""
    given = EVENT_GIVEN if model is Event else DELIVERY_GIVEN
    prepared = _prepared_defaults(model, given)
    return [values.get(name, value) for name, value in prepared]


@functools.cache
def _prepared_defaults(model, given: tuple[str, ...]) -> list[tuple[str, Any]]:
    fields = [f for f in model._meta.concrete_fields if f.name not in given]
    return [(f.name, f.get_db_prep_save(f.get_default(), connection)) for f in fields]
