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
