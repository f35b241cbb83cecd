"""Manual retries: an admin sends a delivery again now, and the attempt records who.

``start_retry`` claims the delivery; the caller queues the send after its commit
(``deliveries.engine.tasks.retry_delivery``), so a rolled-back claim sends nothing.
"""

from django.db import transaction

from deliveries.engine.claim import claim
from deliveries.models import Delivery, DeliveryStatus
from webhooks.models import ActivityEntry

BUSY = "This delivery is being sent right now; wait for the result."


class RetryRefused(Exception):
    """The delivery cannot be retried now; the message says why."""


def start_retry(delivery: Delivery, user, replay: bool = False) -> Delivery:
    """Claim ``delivery`` for a manual attempt and log who asked; return it claimed.

    Raises ``RetryRefused`` for a delivery already being sent, a successful one without
    ``replay`` (sending it again is a replay the admin confirms), or a disabled webhook.
    """
    if delivery.status == DeliveryStatus.IN_PROGRESS:
        raise RetryRefused(BUSY)
    if delivery.status == DeliveryStatus.SUCCESS and not replay:
        raise RetryRefused(
            "This delivery already succeeded. Sending it again is a replay: confirm to go on."
        )
    if not delivery.webhook.is_active:
        raise RetryRefused(
            f"The webhook “{delivery.webhook.name}” is paused; make it active first."
        )
    with transaction.atomic():
        # Of two admins clicking at once, one claims it and the other is refused.
        claimed = claim(
            Delivery.objects.filter(pk=delivery.pk).exclude(status=DeliveryStatus.IN_PROGRESS)
        )
        if not claimed:
            raise RetryRefused(BUSY)
        verb = "Replay" if replay else "Manual retry"
        ActivityEntry.record(
            "retry.manual",
            f"{verb} of delivery #{delivery.pk} to “{delivery.webhook.name}”",
            user,
            count=1,
        )
    return claimed[0]
