"""Plain functions that make model instances with sensible defaults."""

from itertools import count

from webhooks.models import EventType, Webhook

_sequence = count(1)


def make_event_type(**overrides) -> EventType:
    n = next(_sequence)
    fields = {"name": f"license.event_{n}", "category": "License"}
    fields.update(overrides)
    return EventType.objects.create(**fields)


def make_webhook(event_types=(), **overrides) -> Webhook:
    n = next(_sequence)
    fields = {"name": f"Webhook {n}", "url": f"https://example.com/hooks/{n}"}
    fields.update(overrides)
    webhook = Webhook.objects.create(**fields)
    if event_types:
        webhook.event_types.set(event_types)
    return webhook


def make_due_deliveries(webhook: Webhook, n: int, **overrides) -> list:
    """``n`` deliveries to ``webhook`` with their own payload, due now."""
    from django.utils import timezone

    from deliveries.models import Delivery, DeliveryStatus, Source

    now = timezone.now()
    fields = {"status": DeliveryStatus.PENDING, "next_attempt_at": now, "source": Source.CAMPAIGN}
    fields.update(overrides)
    return Delivery.objects.bulk_create(
        Delivery(webhook=webhook, payload={"n": i}, created_at=now, **fields) for i in range(n)
    )
