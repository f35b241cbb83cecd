"""Events in: record an event and its deliveries in one transaction (an outbox)."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from deliveries.engine.wakeups import wake
from deliveries.engine.writes import write_for_event
from webhooks.models import Event, EventType, Webhook

MAX_PAYLOAD_BYTES = 256 * 1024


class UnknownEventType(LookupError):
    """The event type is not in the catalog."""


def emit(
    event_type: str,
    payload,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
) -> tuple[Event, bool]:
    """Record ``payload`` as an event of ``event_type`` (that happened at ``occurred_at``,
    default now) and one delivery per subscribed webhook: pending for active webhooks,
    ``not_triggered`` for disabled ones.

    Returns ``(event, created)``. A repeated ``idempotency_key`` returns the existing event
    with ``created=False`` and creates nothing. Raises ``UnknownEventType``. The sender is
    woken once the surrounding transaction commits; if that wake-up is lost, the periodic
    dispatcher still finds the pending deliveries.
    """
    key = idempotency_key or ""
    try:
        kind = EventType.objects.get(name=event_type)
    except EventType.DoesNotExist:
        raise UnknownEventType(event_type) from None
    if key:
        existing = Event.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            event = Event.objects.create(
                event_type=kind,
                payload=payload,
                idempotency_key=key,
                occurred_at=occurred_at or timezone.now(),
            )
            webhooks = Webhook.objects.filter(event_types=kind).only("id", "is_active")
            pending = write_for_event(event, webhooks)
    except IntegrityError:
        # Another request with the same key committed first.
        if key:
            return Event.objects.get(idempotency_key=key), False
        raise
    if pending:
        transaction.on_commit(wake)
    return event, True
