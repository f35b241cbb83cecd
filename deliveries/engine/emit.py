"""Events in: record an event and its deliveries in one transaction (an outbox)."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from deliveries.engine.wakeups import wake
from deliveries.models import Delivery, DeliveryStatus, Source
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
            pending = _create_deliveries(event, kind)
    except IntegrityError:
        # Another request with the same key committed first.
        if key:
            return Event.objects.get(idempotency_key=key), False
        raise
    if pending:
        transaction.on_commit(wake)
    return event, True


def _create_deliveries(event: Event, kind: EventType) -> int:
    now = timezone.now()
    webhooks = Webhook.objects.filter(event_types=kind).only("id", "is_active")
    deliveries = [
        Delivery(
            webhook=webhook,
            source=Source.EVENT,
            event=event,
            event_type=kind,
            category=kind.category,
            status=DeliveryStatus.PENDING if webhook.is_active else DeliveryStatus.NOT_TRIGGERED,
            next_attempt_at=now if webhook.is_active else None,
            created_at=now,
        )
        for webhook in webhooks
    ]
    Delivery.objects.bulk_create(deliveries)
    return sum(1 for d in deliveries if d.status == DeliveryStatus.PENDING)
