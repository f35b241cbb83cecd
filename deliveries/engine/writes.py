"""New deliveries: the one place a delivery row is inserted.

An event's deliveries (``emit``), a campaign's payloads (fan-out, live sends) and the
payloads whose body could not be built all start here, so a new delivery's state has
one rule (``initial_state``) and its columns one list: the model's own.

Many payloads go in by COPY on PostgreSQL (at a million profiles, INSERTs spend their
time quoting megabytes of payload), with ids drawn from the sequence first so callers
can point at the rows (campaign recipients); elsewhere (SQLite) by ``bulk_create``.
Events and their deliveries go in by one statement on PostgreSQL, however many
(``write_events``, through ``event_statement.py``). Writers call these in their
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

from deliveries.engine.event_statement import Recipient, insert_events
from deliveries.engine.lines import Line, line_of, release
from deliveries.engine.record import record_unsent
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
            rows.append(Recipient(type_id, subscriber.webhook_id, category, status, due))
    # The line of each (event, ordered webhook), by the event's number from 1.
    in_line = {
        (n, subscriber.webhook_id): line_of(
            subscriber.delivery_order, subscriber.ordering_key_path, payload, ordering_key
        )
        for n, (type_id, payload, _, _, ordering_key) in enumerate(events, 1)
        for subscriber in ordered.get(type_id, ())
    }
    if _copies():
        ids = insert_events(events, rows, in_line, guard, now)
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
        transaction.on_commit(functools.partial(release, {(webhook.pk, "")}))
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


def _create_events(
    events: Sequence[tuple[int, Any, str, datetime, str]],
    rows: Sequence[Recipient],
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
    by_type: dict[int, list[Recipient]] = {}
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
