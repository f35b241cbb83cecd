"""Events in: record events and their deliveries (an outbox).

An emit costs one statement on PostgreSQL, however many events it carries: the event
types' subscribers come from ``webhooks.subscriptions`` (a per-process cache), and
``writes.write_events`` inserts the events and their deliveries together, provided the
subscriptions are still the ones the cache was read at; when they changed, the cache is
read again and the write retried. SQLite (the embedded setup) reads the subscriptions
and writes by INSERTs in one transaction.
"""

import functools
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from deliveries.engine import lines
from deliveries.engine.wakeups import wake
from deliveries.engine.writes import write_events
from webhooks import subscriptions
from webhooks.models import Event

MAX_PAYLOAD_BYTES = 256 * 1024

# Each try that finds the subscriptions changed reads them again; this many changes, each
# committed within one write, mean something is rewriting them in a loop.
MAX_TRIES = 20


class UnknownEventType(LookupError):
    """The event type is not in the catalog."""


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to record: its type's name, its payload (a JSON document), an optional
    idempotency key, when it happened (default: now) and an optional ordering key (the
    line of webhooks ordered per key that read no field of the payload)."""

    event_type: str
    payload: Any
    idempotency_key: str | None = None
    occurred_at: datetime | None = None
    ordering_key: str | None = None


@dataclass(frozen=True, slots=True)
class Emitted:
    """What became of one ``NewEvent``: the event (``id``), created now or found by its
    idempotency key (``created`` false; then the other fields are the stored event's),
    with its number of deliveries; or, with ``error``, nothing."""

    id: int | None
    event_type: str
    event_type_id: int | None
    occurred_at: datetime | None
    idempotency_key: str | None
    deliveries: int
    created: bool
    error: UnknownEventType | None = None


def emit(
    event_type: str,
    payload,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    ordering_key: str | None = None,
) -> tuple[Event, bool]:
    """Record ``payload`` as an event of ``event_type`` (that happened at ``occurred_at``,
    default now) and one delivery per subscribed webhook: pending for active webhooks,
    ``not_triggered`` for disabled ones.

    Returns ``(event, created)``. A repeated ``idempotency_key`` returns the existing event
    with ``created=False`` and creates nothing. Raises ``UnknownEventType``. The sender is
    woken once the surrounding transaction commits; if that wake-up is lost, the periodic
    dispatcher still finds the pending deliveries.
    """
    new = NewEvent(event_type, payload, idempotency_key, occurred_at, ordering_key)
    [result] = emit_many([new])
    if result.error is not None:
        raise result.error
    if not result.created:
        return Event.objects.get(pk=result.id), False
    event = Event(
        id=result.id,
        event_type_id=result.event_type_id,
        payload=payload,
        idempotency_key=result.idempotency_key or "",
        occurred_at=result.occurred_at,
        ordering_key=_ordering_key(new),
    )
    event._state.adding, event._state.db = False, connection.alias
    return event, True


def emit_many(events: Iterable[NewEvent]) -> list[Emitted]:
    """Record each of ``events`` as ``emit`` does, all at once; return what became of
    each, in order.

    An event of a type not in the catalog is not recorded: its ``Emitted`` carries an
    ``UnknownEventType`` and the others are recorded all the same. An idempotency key
    seen before, or earlier in ``events``, gives the event recorded first (``created``
    false). The sender is woken once, after the surrounding transaction commits.
    """
    batch = list(events)
    if not batch:
        return []
    now = timezone.now()
    occurred = [event.occurred_at or now for event in batch]
    # SQLite: the subscriptions read and the rows written in one (IMMEDIATE) transaction.
    postgresql = connection.vendor == "postgresql"
    with nullcontext() if postgresql else transaction.atomic():
        for _ in range(MAX_TRIES):
            version, found = subscriptions.lookup(event.event_type for event in batch)
            # The first event of each key is the one written; any later one is its duplicate.
            first: dict[str, int] = {}
            rows, row_of = [], {}
            for i, event in enumerate(batch):
                kind, key = found.get(event.event_type), event.idempotency_key or ""
                if kind is None or (key and first.setdefault(key, i) != i):
                    continue
                row_of[i] = len(rows)
                rows.append(
                    (kind.event_type_id, event.payload, key, occurred[i], _ordering_key(event))
                )
            recipients = {
                kind.event_type_id: (kind.category, kind.webhooks) for kind in found.values()
            }
            guard = (subscriptions.GUARD, version) if postgresql else None
            written = write_events(rows, recipients, guard=guard, now=now)
            if written is not None:
                break
            subscriptions.forget()
        else:
            raise RuntimeError(f"The subscriptions changed during each of {MAX_TRIES} writes")
    if written.lines:
        # The lines they joined, promoted once they are there for all to see.
        transaction.on_commit(functools.partial(lines.release, written.lines))
    elif written.pending:
        transaction.on_commit(wake)
    stored = _stored(
        batch[i].idempotency_key for i, row in row_of.items() if written.ids[row] is None
    )
    results = []
    for i, event in enumerate(batch):
        kind, key = found.get(event.event_type), event.idempotency_key or None
        if kind is None:
            results.append(_unknown(event))
        elif i in row_of and written.ids[row_of[i]] is not None:
            results.append(
                Emitted(
                    written.ids[row_of[i]],
                    event.event_type,
                    kind.event_type_id,
                    occurred[i],
                    key,
                    len(kind.webhooks),
                    created=True,
                )
            )
        elif first[key] < i:
            results.append(_again(results[first[key]]))
        else:
            # Its key is stored: found now, unless deleted since (then it fails, as an
            # insert that lost its key to a concurrent one always did).
            results.append(stored[key])
    return results


def _ordering_key(event: NewEvent) -> str:
    return lines.clean_key(event.ordering_key or "")


def _stored(keys: Iterable[str]) -> dict[str, Emitted]:
    """The events stored under ``keys`` (written by earlier or concurrent emits)."""
    keys = list(keys)
    if not keys:
        return {}
    found = (
        Event.objects.filter(idempotency_key__in=keys)
        .values_list("id", "event_type__name", "event_type_id", "occurred_at", "idempotency_key")
        .annotate(deliveries=Count("deliveries"))
    )
    return {
        key: Emitted(pk, name, type_id, occurred_at, key, deliveries, created=False)
        for pk, name, type_id, occurred_at, key, deliveries in found
    }


def _again(first: Emitted) -> Emitted:
    """A later event of a batch with the key of ``first``: ``first``'s event, not created."""
    return replace(first, created=False)


def _unknown(event: NewEvent) -> Emitted:
    return Emitted(
        None,
        event.event_type,
        None,
        event.occurred_at,
        event.idempotency_key or None,
        0,
        created=False,
        error=UnknownEventType(event.event_type),
    )
