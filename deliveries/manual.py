"""Manual retries: an admin sends a delivery again now, and the attempt records who."""

from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from deliveries.models import Delivery, DeliveryStatus
from deliveries.tasks import retry_delivery
from webhooks.models import ActivityEntry


class RetryRefused(Exception):
    """The delivery cannot be retried now; the message says why."""


def start_retry(delivery: Delivery, user, replay: bool = False) -> None:
    """Mark ``delivery`` as being sent again and queue the manual attempt.

    Raises ``RetryRefused`` for a delivery already being sent, a successful one without
    ``replay`` (sending it again is a replay the admin confirms), or a disabled webhook.
    """
    if delivery.status == DeliveryStatus.IN_PROGRESS:
        raise RetryRefused("This delivery is being sent right now; wait for the result.")
    if delivery.status == DeliveryStatus.SUCCESS and not replay:
        raise RetryRefused(
            "This delivery already succeeded. Sending it again is a replay: confirm to go on."
        )
    if not delivery.webhook.is_active:
        raise RetryRefused(f"The webhook “{delivery.webhook.name}” is disabled; enable it first.")
    now = timezone.now()
    lease = now + timedelta(
        seconds=delivery.webhook.timeout_seconds + settings.DELIVERIES_LEASE_MARGIN
    )
    # Conditional: of two admins clicking at once, one wins and the other is refused.
    claimed = (
        Delivery.objects.filter(pk=delivery.pk)
        .exclude(status=DeliveryStatus.IN_PROGRESS)
        .update(
            status=DeliveryStatus.IN_PROGRESS,
            attempt_count=F("attempt_count") + 1,
            next_attempt_at=lease,
            updated_at=now,
        )
    )
    if not claimed:
        raise RetryRefused("This delivery is being sent right now; wait for the result.")
    delivery.refresh_from_db(fields=["status", "attempt_count", "next_attempt_at", "updated_at"])
    verb = "Replay" if replay else "Manual retry"
    ActivityEntry.record(
        "retry.manual",
        f"{verb} of delivery #{delivery.pk} to “{delivery.webhook.name}”",
        user,
        count=1,
    )
    retry_delivery.delay(delivery.pk, user.pk if user else None)
