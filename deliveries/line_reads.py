"""Reads of ordered lines (``engine/lines.py`` keeps them): what a waiting delivery waits
behind, and a webhook's lines with deliveries waiting. Pages read them; only the engine
changes lines."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min

from deliveries.models import LINE_BUSY, LINE_WAITING, Delivery, DeliveryStatus


def is_waiting(delivery: Delivery) -> bool:
    """Whether ``delivery`` waits for its turn in an ordered line (``LINE_WAITING``)."""
    return (
        delivery.line_key is not None
        and delivery.next_attempt_at is None
        and not delivery.holds_line
        and (delivery.status == DeliveryStatus.PENDING or delivery.manual_requested_at is not None)
    )


def is_busy(delivery: Delivery) -> bool:
    """Whether ``delivery`` is the head of an ordered line (``LINE_BUSY``): due, being
    sent, retrying, or holding the line after it was given up."""
    return delivery.line_key is not None and (
        delivery.next_attempt_at is not None or delivery.holds_line
    )


def head_of(delivery: Delivery) -> Delivery | None:
    """The busy delivery ``delivery`` waits behind, if it is waiting in a line."""
    if not is_waiting(delivery):
        return None
    return (
        Delivery.objects.filter(
            LINE_BUSY, webhook_id=delivery.webhook_id, line_key=delivery.line_key
        )
        .order_by("id")
        .first()
    )


@dataclass(frozen=True)
class LineSummary:
    """A line with deliveries waiting: how many, since when, and its head."""

    key: str
    waiting: int
    oldest: datetime
    head: Delivery | None


def waiting_lines(webhook, limit: int = 20) -> tuple[int, int, list[LineSummary]]:
    """``webhook``'s lines with deliveries waiting, the most waiting first (``limit`` of
    them): (lines, deliveries waiting in all, the summaries)."""
    waiting = Delivery.objects.filter(LINE_WAITING, webhook_id=webhook.pk)
    rows = list(
        waiting.values("line_key")
        .annotate(count=Count("id"), oldest=Min("created_at"))
        .order_by("-count", "line_key")
    )
    heads = {
        head.line_key: head
        for head in Delivery.objects.filter(
            LINE_BUSY,
            webhook_id=webhook.pk,
            line_key__in=[row["line_key"] for row in rows[:limit]],
        ).order_by("-id")
    }
    summaries = [
        LineSummary(row["line_key"], row["count"], row["oldest"], heads.get(row["line_key"]))
        for row in rows[:limit]
    ]
    return len(rows), sum(row["count"] for row in rows), summaries
