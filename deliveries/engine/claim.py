"""Claiming: the one way a delivery becomes ``in_progress`` before a send.

Claiming counts the attempt about to be made and sets ``next_attempt_at`` to a lease: the
webhook's timeout plus ``DELIVERIES_LEASE_MARGIN``. If the worker dies mid-send, the lease
runs out and the dispatcher's query for due deliveries (``Delivery.objects.due()``) finds
the delivery again, so one query covers both new work and work a dead worker left behind.
Every send claims here: automatic ones, and those an admin asked for (``manual.py``).
"""

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from deliveries.engine.record import give_up
from deliveries.models import Delivery, DeliveryStatus
from webhooks.models import SystemSettings


def claim(candidates: QuerySet, limit: int | None = None) -> list[Delivery]:
    """Claim the deliveries of ``candidates`` (up to ``limit``, in its order) that no
    other transaction holds, and return them with their webhook, event and event type.

    The rows are locked while they are claimed (``SKIP LOCKED``: concurrent claimers take
    other rows), and the update repeats the candidates' conditions, so a delivery that
    changed meanwhile is left alone. A delivery whose lease ran out after its last
    allowed attempt is failed (``lease_expired``) instead of being claimed again.
    """
    locked = candidates.select_for_update(skip_locked=True, of=("self",)).values_list(*ROW_FIELDS)
    with transaction.atomic():
        return claim_locked(list(locked[:limit] if limit is not None else locked), candidates)


# What claiming needs to know of a locked delivery.
ROW_FIELDS = ("id", "webhook__timeout_seconds", "status", "attempt_count", "webhook__max_retries")


def claim_locked(rows: list[tuple], candidates: QuerySet) -> list[Delivery]:
    """Claim the locked ``rows`` that still are ``candidates`` (in the caller's
    transaction)."""
    now = timezone.now()
    margin = timedelta(seconds=settings.DELIVERIES_LEASE_MARGIN)
    spent = _spent(rows)
    if spent:
        give_up(list(Delivery.objects.filter(id__in=spent).select_related("webhook")), now)
    by_timeout: dict[int, list[int]] = {}
    for delivery_id, timeout, *_ in rows:
        if delivery_id not in spent:
            by_timeout.setdefault(timeout, []).append(delivery_id)
    # The rows are locked, so on PostgreSQL they are still what the claimer chose: update
    # them by key alone (repeating the conditions let the planner pick the churned partial
    # due index over the primary key, at 10 ms a claim). SQLite has no row locks: repeat.
    if connection.vendor == "postgresql":
        candidates = Delivery.objects.all()
    claimed: list[int] = []
    for timeout, ids in by_timeout.items():
        updated = candidates.filter(id__in=ids).update(
            status=DeliveryStatus.IN_PROGRESS,
            attempt_count=F("attempt_count") + 1,
            next_attempt_at=now + timedelta(seconds=timeout) + margin,
            updated_at=now,
        )
        if updated:
            claimed += ids
    if not claimed:
        return []
    return list(
        Delivery.objects.filter(id__in=claimed)
        .select_related("webhook", "event", "event_type")
        .order_by("id")
    )


def _spent(rows: list[tuple]) -> set[int]:
    """The in-progress deliveries among ``rows`` (their lease ran out) that have had every
    automatic attempt the retry policy allows: claiming them again would loop."""
    expired = [row for row in rows if row[2] == DeliveryStatus.IN_PROGRESS]
    if not expired:
        return set()
    default = SystemSettings.load().max_retries
    return {
        delivery_id
        for delivery_id, _, _, attempts, retries in expired
        if attempts >= 1 + (default if retries is None else retries)
    }
