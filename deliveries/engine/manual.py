"""Sends an admin asks for: Retry (or Replay) of one delivery, a bulk retry, a test send.

None of them sends anything itself. Each marks its deliveries as asked for
(``manual_requested_at`` and ``_by``) and due, and wakes a worker after the commit; the
drain claims them like any due delivery, within the endpoint's in-flight cap and rate
limit, and records the attempt as manual, by the admin who asked, with no automatic retry
after it (``record.record``). A Retry or a test send goes to the front of its endpoint's
line; a bulk retry joins the line in order. A Retry of a failing endpoint's delivery is its
probe, made now.
"""

import functools
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from deliveries.engine import health, lines
from deliveries.engine.wakeups import wake
from deliveries.engine.writes import write_payloads
from deliveries.line_reads import head_of, is_busy
from deliveries.models import Delivery, DeliveryStatus, Source
from webhooks.models import ActivityEntry, Health, Webhook

BUSY = "This delivery is being sent right now; wait for the result."
WAITING = "A retry of this delivery is already waiting to be sent."


class RetryRefused(Exception):
    """The delivery cannot be retried now; the message says why."""


def refusal(webhook: Webhook) -> str:
    """Why nothing can be sent to ``webhook`` now ("" when it can)."""
    if not webhook.is_active:
        return f"The webhook “{webhook.name}” is paused; make it active first."
    if webhook.health == Health.DISABLED:
        return (
            f"The webhook “{webhook.name}” was disabled after failing for too long; "
            "enable it on its page first."
        )
    return ""


def start_retry(delivery: Delivery, user, replay: bool = False) -> None:
    """Ask for a manual attempt of ``delivery`` now, by ``user``, and log who asked.

    Raises ``RetryRefused`` for a delivery being sent or already waiting for its retry, a
    successful one without ``replay`` (sending it again is a replay the admin confirms),
    or a webhook that is paused or disabled.
    """
    if delivery.status == DeliveryStatus.IN_PROGRESS:
        raise RetryRefused(BUSY)
    if delivery.manual_requested_at is not None:
        raise RetryRefused(WAITING)
    if delivery.status == DeliveryStatus.SUCCESS and not replay:
        raise RetryRefused(
            "This delivery already succeeded. Sending it again is a replay: confirm to go on."
        )
    if reason := refusal(delivery.webhook):
        raise RetryRefused(reason)
    if head := head_of(delivery):
        raise RetryRefused(
            f"This delivery waits in its line behind delivery #{head.pk}: "
            "retry or skip that one first."
        )
    now = timezone.now()
    with transaction.atomic():
        # Of two admins clicking at once, one asks and the other is refused.
        unchanged = Delivery.objects.filter(
            pk=delivery.pk, status=delivery.status, manual_requested_at__isnull=True
        )
        if delivery.line_key is not None and not is_busy(delivery):
            # Done with its line: sent again, it takes its turn in the line.
            asked = _ask_in_line(unchanged, user, now)
        else:
            asked = _ask_first(unchanged, delivery.webhook_id, user, now)
        if not asked:
            raise RetryRefused(BUSY)
        verb = "Replay" if replay else "Manual retry"
        ActivityEntry.record(
            "retry.manual",
            f"{verb} of delivery #{delivery.pk} to “{delivery.webhook.name}”",
            user,
            count=1,
        )


def retry_failed(ids: list[int], user, bulk_retry_id: int) -> int:
    """Ask for a manual attempt, by ``user`` for the bulk retry ``bulk_retry_id``, of each
    delivery of ``ids`` that still has failed for good; return how many were asked for.
    They join their endpoints' lines in order."""
    now = timezone.now()
    with transaction.atomic():
        failed = Delivery.objects.filter(
            id__in=ids,
            status=DeliveryStatus.FAILED,
            next_attempt_at__isnull=True,
            manual_requested_at__isnull=True,
            webhook__is_active=True,
        )
        # In an ordered line they take their turns in their original order (a line's
        # held head goes now: it is its line's turn).
        in_lines = failed.filter(line_key__isnull=False, holds_line=False)
        joined = set(in_lines.values_list("webhook_id", "line_key").distinct())
        asked = in_lines.update(**_asked(user, now, due=None, bulk_retry_id=bulk_retry_id))
        asked += failed.exclude(line_key__isnull=False, holds_line=False).update(
            **_asked(user, now, due=now, bulk_retry_id=bulk_retry_id)
        )
        if joined:
            transaction.on_commit(functools.partial(lines.release, joined))
        elif asked:
            transaction.on_commit(wake)
    return asked


def skip(delivery: Delivery, user) -> None:
    """Give up ``delivery``, the head of its ordered line (retrying, or holding the line
    after it was given up), so the next in its line goes; log who did it."""
    if not is_busy(delivery):
        raise RetryRefused("Only the first delivery of an ordered line can be skipped.")
    if delivery.status == DeliveryStatus.IN_PROGRESS:
        raise RetryRefused(BUSY)
    now = timezone.now()
    with transaction.atomic():
        skipped = (
            Delivery.objects.filter(pk=delivery.pk, updated_at=delivery.updated_at)
            .exclude(status=DeliveryStatus.IN_PROGRESS)
            .update(
                status=DeliveryStatus.FAILED,
                next_attempt_at=None,
                holds_line=False,
                manual_requested_at=None,
                manual_requested_by=None,
                updated_at=now,
            )
        )
        if not skipped:
            raise RetryRefused("This delivery changed meanwhile; look again.")
        ActivityEntry.record(
            "retry.skip",
            f"Skipped delivery #{delivery.pk} to “{delivery.webhook.name}”: the next in its "
            "line goes",
            user,
            count=1,
        )
        transaction.on_commit(
            functools.partial(lines.release, {(delivery.webhook_id, delivery.line_key)})
        )


def send_test(
    webhook: Webhook, payload, user, *, content_type: str, query: str = "", category: str = ""
) -> Delivery:
    """Write a test delivery of ``payload`` to ``webhook`` and ask for its one attempt now,
    by ``user``: the caller shows the delivery and polls it for the result. Raises
    ``RetryRefused`` when the webhook is paused or disabled."""
    if reason := refusal(webhook):
        raise RetryRefused(reason)
    now = timezone.now()
    with transaction.atomic():
        [delivery_id] = write_payloads(
            webhook,
            [payload],
            source=Source.TEST,
            content_type=content_type,
            category=category,
            query=query,
            now=now,
        )
        _ask_first(Delivery.objects.filter(pk=delivery_id), webhook.pk, user, now)
    return Delivery.objects.select_related("webhook").get(pk=delivery_id)


def _asked(user, now, due, bulk_retry_id=None) -> dict:
    """The fields that ask for a delivery's next attempt, by ``user``, due at ``due``."""
    return {
        "status": DeliveryStatus.PENDING,
        "next_attempt_at": due,
        "manual_requested_at": now,
        "manual_requested_by": user,
        "bulk_retry_id": bulk_retry_id,
        "updated_at": now,
    }


def _ask_in_line(deliveries, user, now) -> int:
    """Ask for the next attempt of ``deliveries`` (done with their ordered lines), by
    ``user``, in turn in their lines: due once the line's head is done."""
    joined = set(deliveries.values_list("webhook_id", "line_key"))
    asked = deliveries.update(**_asked(user, now, due=None))
    if asked:
        transaction.on_commit(functools.partial(lines.release, joined))
    return asked


def _ask_first(deliveries, webhook_id: int, user, now) -> int:
    """Ask for the next attempt of ``deliveries`` (of one endpoint), by ``user``, first in
    the endpoint's line (a failing one probes now), and wake a worker after the commit.
    Returns how many were asked for."""
    asked = deliveries.update(**_asked(user, now, due=_front_of_line(webhook_id, now)))
    if asked:
        health.probe_now(webhook_id, now)
        transaction.on_commit(wake)
    return asked


def _front_of_line(webhook_id: int, now):
    """A due time before every delivery due to this endpoint: the next one it sends."""
    first = (
        Delivery.objects.due(now)
        .filter(webhook_id=webhook_id)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return min(first, now) - timedelta(milliseconds=1) if first else now
