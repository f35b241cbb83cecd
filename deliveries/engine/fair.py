"""The sender's claim: a fair share of the due work for every endpoint.

Claims do not take the oldest due deliveries whatever they are. They take, per endpoint
with due work, as many as the slots it was dealt (``deliveries.engine.limits``), the
longest due first, in one statement on PostgreSQL (``claim.claim_per_endpoint``). An
endpoint that is failing gets one probe when its probe is due; one that is disabled gets
nothing, and its deliveries wait without using retries.
"""

import random
from collections import defaultdict
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from deliveries.engine import limits
from deliveries.engine.claim import claim, claim_per_endpoint
from deliveries.models import Delivery
from webhooks.models import Health, Webhook


def sendable_webhooks(now, health: str | None = None) -> list[tuple]:
    """(id, health, max_in_flight, rate_limit, timeout) of the endpoints that have due
    work and may be sent to now: healthy ones, and failing ones whose probe is due."""
    due = Delivery.objects.due(now).filter(webhook_id=OuterRef("pk"))
    webhooks = Webhook.objects.filter(
        Q(health=Health.HEALTHY) | Q(health=Health.FAILING, next_probe_at__lte=now), Exists(due)
    )
    if health:
        webhooks = webhooks.filter(health=health)
    return list(
        webhooks.values_list("id", "health", "max_in_flight", "rate_limit", "timeout_seconds")
    )


class Claimed(NamedTuple):
    deliveries: list[Delivery]
    # The slot each delivery holds (by id): release it when its send returns.
    slots: dict[int, limits.Slot]
    # An endpoint with a rate limit had due work and got no slot: its tokens refill soon.
    rate_limited: bool = False


def claim_fair(free: int, webhooks: list[tuple] | None = None) -> Claimed:
    """Claim up to ``free`` due deliveries spread across endpoints within their limits.
    ``webhooks`` may be a recent ``sendable_webhooks`` (the drain reuses it for a moment)."""
    now = timezone.now()
    webhooks = list(sendable_webhooks(now) if webhooks is None else webhooks)
    if not webhooks or free <= 0:
        return Claimed([], {})
    random.shuffle(webhooks)  # who is dealt first when there are fewer slots than endpoints
    default_cap = settings.DELIVERIES_ENDPOINT_CONCURRENCY
    margin = settings.DELIVERIES_LEASE_MARGIN
    wants = [
        limits.Want(
            webhook_id,
            cap=1 if health == Health.FAILING else (cap or default_cap),
            rate=rate or 0,
            lease=timeout + margin,
        )
        for webhook_id, health, cap, rate, timeout in webhooks
    ]
    dealt: dict[int, list[limits.Slot]] = defaultdict(list)
    for slot in limits.acquire(wants, free):
        dealt[slot.webhook_id].append(slot)
    failing = {row[0]: row[4] for row in webhooks if row[1] == Health.FAILING}
    for webhook_id in set(dealt) & set(failing):
        if not _reserve_probe(webhook_id, now, failing[webhook_id] + margin):
            limits.release(dealt.pop(webhook_id))
    deliveries = _claim_counts({wid: len(slots) for wid, slots in dealt.items()}, now)
    held = {}
    for delivery in deliveries:
        held[delivery.pk] = dealt[delivery.webhook_id].pop()
    limits.release([slot for slots in dealt.values() for slot in slots])
    rate_limited = any(want.rate and want.webhook_id not in dealt for want in wants)
    return Claimed(deliveries, held, rate_limited)


def _reserve_probe(webhook_id: int, now, lease: float) -> bool:
    """Make this worker the one that probes a failing endpoint now; until the probe is
    recorded (or its lease runs out) no other worker probes it."""
    return bool(
        Webhook.objects.filter(pk=webhook_id, health=Health.FAILING, next_probe_at__lte=now).update(
            next_probe_at=now + timedelta(seconds=lease)
        )
    )


def _claim_counts(counts: dict[int, int], now) -> list[Delivery]:
    """Claim up to ``counts[webhook_id]`` due deliveries of each endpoint."""
    counts = {webhook_id: n for webhook_id, n in counts.items() if n > 0}
    if connection.vendor == "postgresql":
        return claim_per_endpoint(counts, now)
    due = Delivery.objects.due(now)
    return [
        delivery
        for webhook_id, n in counts.items()
        for delivery in claim(due.filter(webhook_id=webhook_id).order_by("next_attempt_at"), n)
    ]
