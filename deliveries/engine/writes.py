"""New deliveries: the one place a delivery row is inserted.

An event's deliveries (``emit``), a campaign's payloads (fan-out, live sends) and the
payloads whose body could not be built all start here, so a new delivery's state has
one rule (``initial_state``) and its columns one list: the model's own.

Many payloads go in by COPY on PostgreSQL (at a million profiles, INSERTs spend their
time quoting megabytes of payload), with ids drawn from the sequence first so callers
can point at the rows (campaign recipients); elsewhere (SQLite) by ``bulk_create``.
Events and their deliveries go in by one statement on PostgreSQL, however many
(``write_events``: a batch of 1,000 events is one round trip, and a single event is
a statement PostgreSQL has prepared, ``config.prepared``). Writers call these in their
own transaction and ``wake`` the sender after its commit.
"""

import functools
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from config.prepared import prepared_cursor
from deliveries.engine.lines import Line, line_of, promote
from deliveries.engine.record import record_unsent
from deliveries.engine.wakeups import wake
from deliveries.models import Delivery, DeliveryStatus, Source
from webhooks.models import DeliveryOrder, Event, Webhook
from webhooks.subscriptions import Subscriber


def initial_state(webhook: Webhook, now: datetime) -> tuple[str, datetime | None]:
    """A new delivery's ``(status, next_attempt_at)``: pending and due ``now`` to an
    active webhook; ``not_triggered``, and never due, to a paused one."""
    return _state(webhook.is_active, now)


def _state(active: bool, now: datetime) -> tuple[str, datetime | None]:
    if active:
        return DeliveryStatus.PENDING, now
    return DeliveryStatus.NOT_TRIGGERED, None


class EventsWritten(NamedTuple):
    """What ``write_events`` wrote: each event's new id (None where its idempotency key
    belonged to an event already stored), how many deliveries are due now, and the
    ordered lines that deliveries joined (``lines.promote`` them after the commit)."""

    ids: list[int | None]
    pending: int
    lines: frozenset[Line] = frozenset()


def write_events(
    events: Sequence[tuple[int, Any, str, datetime, str]],
    recipients: Mapping[int, tuple[str, Sequence[Subscriber]]],
    *,
    guard: tuple[str, Any] | None = None,
    now: datetime | None = None,
) -> EventsWritten | None:
    """Write ``events``, each ``(event type id, payload, idempotency key or "",
    occurred_at, ordering key or "")``, and one delivery per webhook of
    ``recipients[event type id]`` (``(category, [Subscriber])``) in the state of
    ``initial_state``; to an ordered webhook, waiting in its line (``lines.line_of``).

    An event whose key is stored already is skipped (the key's unique constraint decides,
    so concurrent writers of one key write it once); keys must not repeat within
    ``events``. On PostgreSQL, one statement writes them all, and only while the SQL
    condition ``guard`` (with its one parameter) holds: ``None`` is returned when it did
    not, and nothing was written. Elsewhere, INSERTs in the caller's transaction.
    """
    if not events:
        return EventsWritten([], 0)
    now = now or timezone.now()
    # A delivery's state depends on its webhook's is_active alone: two calls, not one a row.
    states = {active: _state(active, now) for active in (True, False)}
    rows, ordered = [], {}
    for type_id, (category, webhooks) in recipients.items():
        for subscriber in webhooks:
            status, due = states[subscriber.is_active]
            if subscriber.is_active and subscriber.delivery_order != DeliveryOrder.ANY:
                ordered.setdefault(type_id, []).append(subscriber)
                due = None  # waits in its line until promoted
            rows.append(_Recipient(type_id, subscriber.webhook_id, category, status, due))
    # The line of each (event, ordered webhook), by the event's number from 1.
    in_line = {
        (n, subscriber.webhook_id): line_of(
            subscriber.delivery_order, subscriber.ordering_key_path, payload, ordering_key
        )
        for n, (type_id, payload, _, _, ordering_key) in enumerate(events, 1)
        for subscriber in ordered.get(type_id, ())
    }
    if _copies():
        ids = _insert_events(events, rows, in_line, guard, now)
        if ids is None:
            return None
    else:
        ids = _create_events(events, rows, in_line, now)
    due = Counter(row.event_type_id for row in rows if row.status == DeliveryStatus.PENDING)
    pending = sum(
        due[type_id] for event_id, (type_id, *_) in zip(ids, events, strict=True) if event_id
    )
    joined = frozenset(
        (webhook_id, key) for (n, webhook_id), key in in_line.items() if ids[n - 1] is not None
    )
    return EventsWritten(ids, pending, joined)


class _Recipient(NamedTuple):
    """One delivery of each event of a type: to whom, and in which state."""

    event_type_id: int
    webhook_id: int
    category: str
    status: str
    next_attempt_at: datetime | None


def write_payloads(
    webhook: Webhook,
    payloads: Sequence[Any],
    *,
    source: str,
    content_type: str,
    campaign=None,
    category: str = "",
    query: str = "",
    encoded: bool = False,
    now: datetime | None = None,
) -> list[int]:
    """Write one delivery to ``webhook`` per payload of ``payloads``, in the state of
    ``initial_state``, and return their ids in the order of ``payloads``.

    A payload is a JSON document, or a str: a body a campaign's template rendered, sent
    byte for byte. With ``encoded``, each payload is the JSON text of a document instead
    (built in SQL), which COPY writes as it is. The other arguments are the columns all
    the deliveries share: ``content_type`` and ``query`` say how they are sent.
    """
    if not payloads:
        return []
    now = now or timezone.now()
    shared = {"source": source, "campaign": campaign, "category": category}
    shared |= {"content_type": content_type, "query": query}
    if source != Source.TEST and webhook.is_active and webhook.delivery_order != DeliveryOrder.ANY:
        # To an ordered webhook, a campaign's payloads wait in one line, in their order;
        # the first goes once the line is free (after the commit).
        shared |= {"line_key": "", "next_attempt_at": None}
        transaction.on_commit(functools.partial(_promote_line, webhook.pk))
    if _copies():
        bodies = payloads if encoded else (json.dumps(payload) for payload in payloads)
        return _copy(_new(webhook, now, **shared), len(payloads), bodies)
    if encoded:
        payloads = [json.loads(payload) for payload in payloads]
    deliveries = [_new(webhook, now, payload=payload, **shared) for payload in payloads]
    return [d.pk for d in Delivery.objects.bulk_create(deliveries)]


def write_unsent(
    webhook: Webhook,
    failures: Sequence[tuple[str, str]],
    *,
    source: str,
    content_type: str,
    campaign=None,
    category: str = "",
    query: str = "",
    now: datetime | None = None,
) -> list[int]:
    """Write one delivery to ``webhook`` per ``(reason, detail)`` of ``failures``: a
    payload whose body could not be built (``template_error``, ``linked_content_error``).
    Each is recorded as a failed attempt that sent nothing (``record_unsent``: in the
    log and the stats like any other) and fails for good. Returns their ids, in order.

    They are written as a claim leaves a delivery (in progress, its one attempt counted),
    and ``record_unsent`` writes the attempt and the state it leaves, as after a send.
    The other arguments are as for ``write_payloads``.
    """
    if not failures:
        return []
    now = now or timezone.now()
    shared = {"source": source, "campaign": campaign, "category": category}
    shared |= {"content_type": content_type, "query": query}
    deliveries = [_new(webhook, now, **shared) for _ in failures]
    for delivery in deliveries:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.IN_PROGRESS, None
        delivery.attempt_count = 1
    # One transaction: an in-progress row without its attempt is never seen.
    with transaction.atomic():
        Delivery.objects.bulk_create(deliveries)
        record_unsent(
            [(d, reason, detail) for d, (reason, detail) in zip(deliveries, failures, strict=True)],
            now,
        )
    return [d.pk for d in deliveries]


def _new(webhook: Webhook, now: datetime, **fields) -> Delivery:
    status, due = initial_state(webhook, now)
    fields = {"status": status, "next_attempt_at": due, **fields}
    return Delivery(webhook=webhook, created_at=now, updated_at=now, **fields)


def _promote_line(webhook_id: int) -> None:
    if promote({(webhook_id, "")}):
        wake()


def _copies() -> bool:
    """Whether many deliveries go in by COPY (PostgreSQL) rather than INSERTs."""
    return connection.vendor == "postgresql"


def _copy(template: Delivery, count: int, bodies: Iterable[str]) -> list[int]:
    """COPY ``count`` deliveries like ``template``, one per JSON text of ``bodies``, with
    ids drawn from the sequence beforehand; return the ids."""
    meta = Delivery._meta
    payload = meta.get_field("payload")
    # Every column the model has, so a new field with a default needs nothing here; the
    # id and the payload first, since they alone vary from row to row.
    rest = [f for f in meta.concrete_fields if f not in (meta.pk, payload)]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in [meta.pk, payload, *rest])
    values = tuple(f.get_db_prep_save(getattr(template, f.attname), connection) for f in rest)
    table = meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)",
            [count],
        )
        ids = [row[0] for row in cursor.fetchall()]
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for delivery_id, body in zip(ids, bodies, strict=True):
                copy.write_row((delivery_id, body, *values))
    return ids


def _insert_events(
    events: Sequence[tuple[int, Any, str, datetime, str]],
    rows: Sequence[_Recipient],
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
        *([row[i] for row in rows] for i in range(len(_Recipient._fields))),
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
    """The statement of ``_insert_events``: its text depends on the models alone, and on
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


def _create_events(
    events: Sequence[tuple[int, Any, str, datetime, str]],
    rows: Sequence[_Recipient],
    in_line: Mapping[tuple[int, int], str],
    now: datetime,
) -> list[int | None]:
    """The same by INSERTs (SQLite): the caller's transaction holds the database's write
    lock, so the keys found stored now are still the stored ones at the commit."""
    keys = [key for _, _, key, _, _ in events if key]
    taken = set(
        Event.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True)
    )
    new = {
        n: Event(
            event_type_id=type_id,
            payload=payload,
            idempotency_key=key,
            occurred_at=occurred_at,
            ordering_key=ordering_key,
            created_at=now,
        )
        for n, (type_id, payload, key, occurred_at, ordering_key) in enumerate(events, 1)
        if not key or key not in taken
    }
    Event.objects.bulk_create(new.values())
    ids = [new[n].pk if n in new else None for n in range(1, len(events) + 1)]
    by_type: dict[int, list[_Recipient]] = {}
    for row in rows:
        by_type.setdefault(row.event_type_id, []).append(row)
    Delivery.objects.bulk_create(
        Delivery(
            event=event,
            webhook_id=row.webhook_id,
            event_type_id=row.event_type_id,
            category=row.category,
            status=row.status,
            next_attempt_at=row.next_attempt_at,
            line_key=in_line.get((n, row.webhook_id)),
            source=Source.EVENT,
            created_at=now,
            updated_at=now,
        )
        for n, event in new.items()
        for row in by_type.get(event.event_type_id, ())
    )
    return ids
