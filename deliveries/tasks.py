"""Celery tasks of the delivery engine. A broker message is only a wake-up call: the
delivery rows are the truth, so a lost message delays work but never loses it."""

import logging
import math
import time

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from deliveries import rollups, wakeups
from deliveries.dispatch import DUE, send_due_batch, send_one
from deliveries.models import Delivery, Trigger
from deliveries.retention import purge_expired

logger = logging.getLogger(__name__)


@shared_task(name="deliveries.drain", ignore_result=True)
def drain(time_budget: float | None = None) -> int:
    """Send due deliveries batch after batch until none is due or the time budget is
    spent. Returns how many were claimed."""
    budget = settings.DELIVERIES_DRAIN_SECONDS if time_budget is None else time_budget
    started, total = time.monotonic(), 0
    while True:
        wakeups.clear()  # before claiming: what commits after this claim wakes us again
        claimed = send_due_batch()
        total += claimed
        if claimed == settings.DELIVERIES_BATCH_SIZE:
            wake()  # a full batch: there may be a backlog, let another worker help
        if claimed == 0 or time.monotonic() - started > budget:
            break
    # Retries scheduled for later are found by dispatch_due when they fall due.
    if total and time.monotonic() - started > budget:
        drain.delay()  # more may be due: hand over so other tasks get a turn
    return total


def wake() -> None:
    """Ask a worker to send what is due now (coalesced; never raises)."""
    wakeups.publish(drain)


@shared_task(name="deliveries.dispatch_due", ignore_result=True)
def dispatch_due() -> int:
    """Periodic: start enough drains for everything due, including deliveries whose lease
    ran out because a worker died or a broker message was lost."""
    due = Delivery.objects.filter(DUE, next_attempt_at__lte=timezone.now()).count()
    drains = min(math.ceil(due / settings.DELIVERIES_BATCH_SIZE), settings.DELIVERIES_MAX_DRAINS)
    for _ in range(drains):
        drain.delay()
    if due:
        logger.info("dispatch_due: %s due, started %s drains", due, drains)
    return due


@shared_task(name="deliveries.retry_delivery", ignore_result=True)
def retry_delivery(delivery_id: int, user_id: int | None) -> bool:
    """A manual retry an admin asked for (see deliveries.manual.start_retry)."""
    return send_one(delivery_id, Trigger.MANUAL, user_id)


@shared_task(name="deliveries.bulk_retry", ignore_result=True)
def run_bulk_retry(job_id: int) -> None:
    """Bulk recovery started from the delivery log (see deliveries.bulk)."""
    from deliveries import bulk

    bulk.run(job_id)


@shared_task(name="deliveries.compact_rollups", ignore_result=True)
def compact_rollups() -> int:
    """Merge the +n/-n rows the delivery-status triggers write (see deliveries.rollups)."""
    return rollups.compact()


@shared_task(name="deliveries.purge_expired", ignore_result=True)
def purge_expired_task() -> int:
    return purge_expired()
