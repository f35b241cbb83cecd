"""New deliveries: the one place a delivery row is inserted.

An event's deliveries (``emit``), a campaign's payloads (fan-out, live sends) and the
payloads whose body could not be built all start here, so a new delivery's state has
one rule (``initial_state``) and its columns one list: the model's own.

Many payloads go in by COPY on PostgreSQL (at a million profiles, INSERTs spend their
time quoting megabytes of payload), with ids drawn from the sequence first so callers
can point at the rows (campaign recipients); elsewhere (SQLite) by ``bulk_create``.
Writers call these in their own transaction and ``wake`` the sender after its commit.
"""

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from deliveries.engine.record import record_unsent
from deliveries.models import Delivery, DeliveryStatus, Source
from webhooks.models import Event, Webhook


def initial_state(webhook: Webhook, now: datetime) -> tuple[str, datetime | None]:
    """A new delivery's ``(status, next_attempt_at)``: pending and due ``now`` to an
    active webhook; ``not_triggered``, and never due, to a paused one."""
    if webhook.is_active:
        return DeliveryStatus.PENDING, now
    return DeliveryStatus.NOT_TRIGGERED, None


def write_for_event(event: Event, webhooks: Iterable[Webhook], now=None) -> int:
    """Write one delivery of ``event`` to each of ``webhooks`` (each webhook's
    ``is_active`` is read); return how many are due now."""
    now = now or timezone.now()
    kind = event.event_type
    deliveries = [
        _new(
            webhook, now, source=Source.EVENT, event=event, event_type=kind, category=kind.category
        )
        for webhook in webhooks
    ]
    Delivery.objects.bulk_create(deliveries)
    return sum(1 for d in deliveries if d.status == DeliveryStatus.PENDING)


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
    return Delivery(
        webhook=webhook,
        status=status,
        next_attempt_at=due,
        created_at=now,
        updated_at=now,
        **fields,
    )


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
