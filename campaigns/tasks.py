"""Celery tasks of campaigns: each adapts one function of ``scheduling`` to Celery."""

from celery import shared_task

from campaigns import scheduling


@shared_task(name="campaigns.dispatch_due", ignore_result=True)
def dispatch_due() -> int:
    """Periodic: start the occurrences that are due (claimed and committed first)."""
    starts = scheduling.due_runs()
    for campaign_id, occurrence in starts:
        run_occurrence.delay(campaign_id, occurrence)
    return len(starts)


# acks_late: a worker that dies mid-run leaves the message for another, which resumes
# the run from its cursor.
@shared_task(name="campaigns.run_occurrence", ignore_result=True, acks_late=True)
def run_occurrence(campaign_id: int, occurrence: str) -> None:
    scheduling.run(campaign_id, occurrence)
