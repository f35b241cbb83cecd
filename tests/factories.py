"""Plain functions that make model instances with sensible defaults."""

from copy import deepcopy
from itertools import count

from django.utils import timezone

from campaigns.models import Campaign, Profile, ProfileEvent, Segment
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, Source
from webhooks.models import EventType, Webhook

_sequence = count(1)


def make_event_type(**overrides) -> EventType:
    """An event type with a unique name in the License category."""
    n = next(_sequence)
    fields = {"name": f"license.event_{n}", "category": "License"}
    fields.update(overrides)
    return EventType.objects.create(**fields)


def make_webhook(event_types=(), **overrides) -> Webhook:
    """An active webhook to a unique example.com URL, subscribed to ``event_types``."""
    n = next(_sequence)
    fields = {"name": f"Webhook {n}", "url": f"https://example.com/hooks/{n}"}
    fields.update(overrides)
    webhook = Webhook.objects.create(**fields)
    if event_types:
        webhook.event_types.set(event_types)
    return webhook


def make_due_deliveries(webhook: Webhook, n: int, **overrides) -> list:
    """``n`` deliveries to ``webhook`` with their own payload, due now."""
    now = timezone.now()
    fields = {"status": DeliveryStatus.PENDING, "next_attempt_at": now, "source": Source.CAMPAIGN}
    fields.update(overrides)
    return Delivery.objects.bulk_create(
        Delivery(webhook=webhook, payload={"n": i}, created_at=now, **fields) for i in range(n)
    )


# --- Campaigns: profiles, their events, segments and campaigns ---------------------------

# Everyone who launched the app: the rule most campaign tests send to.
LAUNCHED = {"category": "single_action", "action": {"event": "App Launched"}}

# A default that asks for a new row, so that None can still mean "none".
_NEW = object()


def make_profile(**overrides) -> Profile:
    """A profile with a unique identity and no properties."""
    fields = {"identity": f"profile-{next(_sequence)}"}
    fields.update(overrides)
    return Profile.objects.create(**fields)


def make_profiles(n: int, identity: str = "user-{:02}", first: int = 1, **overrides) -> list:
    """``n`` profiles in one insert; ``identity`` and callable overrides get each number."""
    profiles = []
    for number in range(first, first + n):
        fields = {k: v(number) if callable(v) else deepcopy(v) for k, v in overrides.items()}
        profiles.append(Profile(identity=identity.format(number), **fields))
    return Profile.objects.bulk_create(profiles, batch_size=1000)


def make_profile_event(profile: Profile, name: str, **overrides) -> ProfileEvent:
    """An event ``name`` of ``profile``, happening now, without properties."""
    fields = {"occurred_at": timezone.now()}
    fields.update(overrides)
    return ProfileEvent.objects.create(profile=profile, name=name, **fields)


def make_segment(rule=None, **overrides) -> Segment:
    """A segment with a unique name, of ``rule`` (everyone who launched the app by default)."""
    fields = {"name": f"Segment {next(_sequence)}", "rule": LAUNCHED if rule is None else rule}
    fields.update(overrides)
    return Segment.objects.create(**fields)


def make_campaign(webhook=_NEW, **overrides) -> Campaign:
    """A draft to a new webhook for everyone who launched the app (pass webhook=None for none)."""
    fields = {
        "name": "Spring sale",
        "webhook": make_webhook() if webhook is _NEW else webhook,
        "rule": None if "segment" in overrides else LAUNCHED,  # a segment's rule comes first
        "profile_fields": ["Identity"],
    }
    fields.update(overrides)
    return Campaign.objects.create(**fields)


# --- Deliveries ---------------------------------------------------------------------------


def make_delivery(webhook=None, attempts: int = 0, **overrides) -> Delivery:
    """A successful delivery (to a new webhook by default) and its ``attempts``, made at once."""
    webhook = webhook or make_webhook()
    fields = {"status": DeliveryStatus.SUCCESS, "created_at": timezone.now(), **overrides}
    if fields.get("event_type") is not None:
        fields.setdefault("category", fields["event_type"].category)
    if attempts:
        fields.setdefault("attempt_count", attempts)
        fields.setdefault("last_attempt_at", fields["created_at"])
    delivery = Delivery.objects.create(webhook=webhook, **fields)
    make_attempts(delivery, attempts)
    return delivery


def make_attempts(delivery: Delivery, attempts: int) -> None:
    """``attempts`` attempts of ``delivery``, made when it was; the last one has its
    outcome (a success if it succeeded, its response code)."""
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(
            delivery=delivery,
            webhook=delivery.webhook,
            number=number,
            attempted_at=delivery.created_at,
            request_url=delivery.webhook.url,
            success=number == attempts and delivery.status == DeliveryStatus.SUCCESS,
            response_code=delivery.last_response_code if number == attempts else None,
        )
        for number in range(1, attempts + 1)
    )
