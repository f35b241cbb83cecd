"""The worker's loop: send what is due, batch after batch, and the periodic safety net.

A broker message is only a wake-up call: the delivery rows are the truth, so a lost
message delays work but never loses it.
"""

import logging
import math
import time

from django.conf import settings

from deliveries.engine import wakeups
from deliveries.engine.batches import send_due_batch
from deliveries.models import Delivery

logger = logging.getLogger(__name__)


def drain(time_budget: float | None = None) -> tuple[int, bool]:
    """Send due deliveries batch after batch until none is due or the time budget is
    spent. Returns how many were claimed, and whether the budget ran out with work
    possibly left (the caller hands over to a new drain, so other tasks get a turn)."""
    budget = settings.DELIVERIES_DRAIN_SECONDS if time_budget is None else time_budget
    started, total = time.monotonic(), 0
    while True:
        wakeups.clear()  # before claiming: what commits after this claim wakes us again
        claimed = send_due_batch()
        total += claimed
        if claimed == settings.DELIVERIES_BATCH_SIZE:
            wakeups.wake()  # a full batch: there may be a backlog, let another worker help
        if claimed == 0 or time.monotonic() - started > budget:
            break
    # Retries scheduled for later are found by dispatch_due when they fall due.
    return total, bool(total) and time.monotonic() - started > budget


def drains_needed() -> tuple[int, int]:
    """How many deliveries are due now (new, retries, and leases run out), and how many
    drains to start for them: one per batch, at most ``DELIVERIES_MAX_DRAINS``."""
    due = Delivery.objects.due().count()
    drains = min(math.ceil(due / settings.DELIVERIES_BATCH_SIZE), settings.DELIVERIES_MAX_DRAINS)
    if due:
        logger.info("dispatch_due: %s due, starting %s drains", due, drains)
    return due, drains
