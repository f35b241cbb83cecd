"""Celery tasks of the delivery log's background jobs."""

from celery import shared_task

from deliveries.log import bulk


@shared_task(name="deliveries.bulk_retry", ignore_result=True)
def run_bulk_retry(job_id: int) -> None:
    """Bulk recovery started from the delivery log (see deliveries.log.bulk)."""
    bulk.run(job_id)
