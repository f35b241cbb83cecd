"""Celery tasks of the delivery log's background jobs."""

from celery import shared_task

from deliveries.log import bulk


@shared_task(name="deliveries.bulk_retry", ignore_result=True)
def run_bulk_retry(job_id: int) -> None:
    """Bulk recovery started from the delivery log (see deliveries.log.bulk)."""
    bulk.run(job_id)


@shared_task(name="deliveries.finish_bulk_retries", ignore_result=True)
def finish_bulk_retries() -> int:
    """Periodic: keep the results of bulk retries whose deliveries have all been sent."""
    return bulk.finish_sent()
