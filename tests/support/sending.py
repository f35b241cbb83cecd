"""Sending in the test's own process: what a worker's drain does, one batch at a time."""

from django.conf import settings

from deliveries.engine.batches import Sending
from deliveries.engine.claim import claim
from deliveries.engine.fair import claim_fair
from deliveries.models import Delivery


def send_due_batch(limit: int | None = None) -> int:
    """Claim one fair share of due deliveries (within the endpoints' limits, as the drain
    does), send it and record it. Returns how many were claimed."""
    claimed = claim_fair(limit or settings.DELIVERIES_BATCH_SIZE)
    sending = Sending()
    sending.submit(claimed.deliveries, claimed.slots)
    while sending:
        sending.record_finished()
    return len(claimed.deliveries)


def send_all_due() -> int:
    """Send batches until nothing is due now. Returns how many were claimed."""
    total = 0
    while claimed := send_due_batch():
        total += claimed
    return total


def claim_due(limit: int) -> list[Delivery]:
    """Claim up to ``limit`` due deliveries, the longest due first (no endpoint limits)."""
    return claim(Delivery.objects.due().order_by("next_attempt_at"), limit)
