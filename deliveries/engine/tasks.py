"""Celery tasks of the delivery engine: each adapts one domain function to Celery.

Tasks take ids, are safe to run twice, and are enqueued after the commit that makes
their work visible (``delay_on_commit`` or ``transaction.on_commit``).
"""

from celery import shared_task

from deliveries.engine import alerts, drain, health, lines, partitions, retention
from deliveries.engine.wakeups import DRAIN_TASK
from deliveries.stats import recount


@shared_task(name=DRAIN_TASK, ignore_result=True)
def drain_due(time_budget: float | None = None) -> int:
    """Send what is due now; hand over to a new drain when the time budget runs out."""
    claimed, more = drain.drain(time_budget)
    if more:
        drain_due.delay()
    return claimed


@shared_task(name="deliveries.dispatch_due", ignore_result=True)
def dispatch_due() -> int:
    """Periodic: start enough drains for everything due, including deliveries whose lease
    ran out because a worker died or a broker message was lost, and the next of each
    ordered line whose head is done (a process stopped before promoting it)."""
    lines.promote_all()
    due, drains = drain.drains_needed()
    for _ in range(drains):
        drain_due.delay()
    return due


@shared_task(name="deliveries.compact_rollups", ignore_result=True)
def compact_rollups() -> int:
    """Merge the +n/-n rows the delivery-status triggers write."""
    return recount.compact()


@shared_task(name="deliveries.purge_expired", ignore_result=True)
def purge_expired() -> int:
    return retention.purge_expired()


@shared_task(name="deliveries.prepare_partitions", ignore_result=True)
def prepare_partitions() -> int:
    """Periodic: make the attempts' partitions of the days ahead (PostgreSQL)."""
    return partitions.ensure_ahead()


@shared_task(name=health.EMAIL_TASK, ignore_result=True)
def health_email(webhook_id: int, subject: str, summary: str) -> int:
    """Tell the admins an endpoint started failing, recovered or was disabled."""
    return alerts.send_health_email(webhook_id, subject, summary)
