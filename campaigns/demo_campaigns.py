"""The demo campaigns of ``make run``: one of each delivery type, sent to the demo
receiver (``load_demo_audience`` loads them after the audience).

- "Win-back: dormant users" (one time) on the "Dormant users" segment, published and
  sent while loading, so its page has a finished run, and its stats real figures as soon
  as the worker has delivered the payloads.
- "Weekly digest" (recurring, Mondays at 09:00 Europe/Berlin) with a custom Liquid body.
- "Cart reminder" (live): two minutes after an "Added To Cart", to users who bought
  nothing within those two minutes; the demo audience's traffic (``demo.tick``) sets it
  off every few seconds.

Each campaign is created once, found by its name: a second load leaves it as it is,
with an admin's edits, and only makes again one that was deleted.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns import sending
from campaigns.demo_catalogue import SEGMENTS
from campaigns.models import (
    BodyMode,
    Campaign,
    CampaignStatus,
    DeliveryType,
    Segment,
)
from webhooks.models import Webhook

WEBHOOK = "Marketing Automation"
# The demo receiver's path that always answers 200 (webhooks/demo_receiver.py).
RECEIVER_PATH = "/crm"

WIN_BACK = "Win-back: dormant users"
DIGEST = "Weekly digest"
CART_REMINDER = "Cart reminder"

DIGEST_BODY = """\
{
  "digest": {{ key_values.digest | json }},
  "campaign": {{ targetId }},
  "recipients": [
    {%- for p in profiles %}
    {
      "id": {{ p.Identity | json }},
      "email": {{ p.Email | json }},
      "firstName": {{ p.ProfileData.name | split: " " | first | json }},
      "city": {{ p.ProfileData.city | json }},
      "plan": {{ p.ProfileData.plan | default: "free" | json }}
    }{% unless forloop.last %},{% endunless %}
    {%- endfor %}
  ]
}
"""

# Opted-in buyers of the last 30 days: the digest's ad-hoc audience (no saved segment).
DIGEST_AUDIENCE = {
    "category": "user_properties",
    "action": {"event": "Charged"},
    "window": {"kind": "last_days", "days": 30},
    "profile": [{"property": "email_opt_in", "op": "eq", "value": True}],
}

# Added something to the cart today, then bought nothing within two minutes. The
# campaign waits as long, so the cart that triggered it has had its two minutes.
CART_AUDIENCE = {
    "category": "inaction_within_time",
    "action": {"event": "Added To Cart"},
    "missing": {"event": "Charged"},
    "within": {"value": 2, "unit": "minutes"},
    "window": {"kind": "last_days", "days": 1},
}


Builder = Callable[[str, Webhook, datetime], Campaign]


@dataclass
class Loaded:
    campaigns: int  # created by this load
    deliveries: int  # payloads the one-time campaign queued


def load(now: datetime | None = None) -> Loaded:
    """Create and publish the demo campaigns that are missing, and send the one-time
    one; returns what this load created."""
    now = now or timezone.now()
    webhook = demo_webhook()
    created = deliveries = 0
    for name, build in BUILDERS.items():
        if Campaign.objects.filter(name=name).exists():
            continue
        campaign = _publish(build(name, webhook, now), now)
        created += 1
        if campaign.delivery_type == DeliveryType.ONE_TIME:
            deliveries = _send(campaign)
    return Loaded(created, deliveries)


def demo_webhook() -> Webhook:
    """The webhook the demo campaigns send to, on the demo receiver."""
    receiver = f"http://127.0.0.1:{settings.WEBHOOKS_DEMO_RECEIVER_PORT}{RECEIVER_PATH}"
    webhook, _ = Webhook.objects.get_or_create(
        name=WEBHOOK,
        defaults={"url": receiver, "description": "Receives the demo campaigns' payloads."},
    )
    return webhook


def _publish(campaign: Campaign, now: datetime) -> Campaign:
    # Created and published together: a load that dies leaves no half-made draft behind
    # that the next load would skip by its name.
    with transaction.atomic():
        campaign.save()
        sending.publish(campaign, now=now)
    return campaign


def _send(campaign: Campaign) -> int:
    """What beat does with a due occurrence (``sending.due_runs``), here rather than
    a minute after start: claim it, then run it. Returns the payloads queued. (A load
    that dies before this leaves it scheduled and due: beat sends it on start.)"""
    Campaign.objects.filter(pk=campaign.pk).update(next_run_at=None, status=CampaignStatus.RUNNING)
    run = sending.run(campaign.pk, sending.occurrence_key(campaign.send_at))
    return run.payloads if run else 0


def _segment(name: str) -> dict:
    """The audience of a demo segment: the saved one if still there, else its rule."""
    segment = Segment.objects.filter(name=name).first()
    if segment:
        return {"segment": segment}
    return {"rule": next(rule for seg, _, rule in SEGMENTS if seg == name)}


def _win_back(name: str, webhook: Webhook, now: datetime) -> Campaign:
    return Campaign(
        name=name,
        delivery_type=DeliveryType.ONE_TIME,
        webhook=webhook,
        send_at=now,
        goal_event="Charged",
        goal_window_days=7,
        control_percent=10,
        body_mode=BodyMode.PROFILE_VARIABLES,
        profile_fields=["Email", "Identity", "ProfileData"],
        profile_properties=["name", "city", "country", "plan", "currency"],
        key_values={"PromoCode": "COMEBACK20", "Discount": "20%"},
        query_params=[["source", "webhook-portal"]],
        batch_size=50,
        **_segment("Dormant users"),
    )


def _digest(name: str, webhook: Webhook, now: datetime) -> Campaign:
    return Campaign(
        name=name,
        delivery_type=DeliveryType.RECURRING,
        webhook=webhook,
        timezone="Europe/Berlin",
        recurrence={"every": "weekly", "weekday": 0, "at": "09:00"},
        goal_event="App Launched",
        goal_window_days=3,
        rule=DIGEST_AUDIENCE,
        body_mode=BodyMode.CUSTOM,
        custom_body=DIGEST_BODY,
        key_values={"digest": "weekly-picks"},
        batch_size=100,
    )


def _cart(name: str, webhook: Webhook, now: datetime) -> Campaign:
    return Campaign(
        name=name,
        delivery_type=DeliveryType.LIVE,
        webhook=webhook,
        trigger_event="Added To Cart",
        trigger_delay_minutes=2,
        goal_event="Charged",
        goal_window_days=1,
        rule=CART_AUDIENCE,
        body_mode=BodyMode.PROFILE_VARIABLES,
        profile_fields=["Email", "Identity", "ProfileData", "Event_properties", "Push_token"],
        profile_properties=["name", "currency"],
        key_values={"PromoCode": "CART10", "channel": "push"},
        batch_size=1,
    )


BUILDERS: dict[str, Builder] = {WIN_BACK: _win_back, DIGEST: _digest, CART_REMINDER: _cart}
