"""Celery tasks of campaigns: each adapts one function of ``scheduling`` or ``live``."""

import logging
from functools import partial

from celery import shared_task
from django.db import transaction
from kombu.exceptions import OperationalError

from campaigns import live, scheduling

logger = logging.getLogger(__name__)


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


@shared_task(name="campaigns.run_live", ignore_result=True, acks_late=True)
def run_live(campaign_id: int, event_id: int) -> None:
    """A live campaign's send to the user of one event (see campaigns.live)."""
    live.run(campaign_id, event_id)


def queue_live(event) -> None:
    """After the commit that records ``event``, queue the live campaigns it triggers."""
    for campaign_id, delay in live.triggered_by(event):
        send = partial(_send_live, campaign_id, event.pk, delay)
        transaction.on_commit(send)


def _send_live(campaign_id: int, event_id: int, delay: int) -> None:
    try:
        run_live.apply_async((campaign_id, event_id), countdown=delay)
    except (OperationalError, OSError) as error:
        # The event is recorded either way; only this trigger is lost.
        logger.warning(
            "Could not queue live campaign %s for event %s: %s", campaign_id, event_id, error
        )
