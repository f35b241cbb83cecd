"""Celery tasks of campaigns: each adapts one function of ``runs`` or ``live_triggers``.

Their names (``campaigns.dispatch_due``, ...) are what beat's schedule and queued
messages use: they stay the same wherever this module lives.
"""

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from campaigns.sending import live_triggers, runs

logger = logging.getLogger(__name__)


@shared_task(name="campaigns.dispatch_due", ignore_result=True)
def dispatch_due() -> int:
    """Periodic: start the occurrences that are due (claimed and committed first), then
    settle the live triggers that are due."""
    starts = runs.due_runs()
    for campaign_id, occurrence in starts:
        run_occurrence.delay(campaign_id, occurrence)
    live_triggers.dispatch_due()
    return len(starts)


# acks_late: a worker that dies mid-run leaves the message for another, which resumes
# the run from its cursor.
@shared_task(name="campaigns.run_occurrence", ignore_result=True, acks_late=True)
def run_occurrence(campaign_id: int, occurrence: str) -> None:
    runs.run(campaign_id, occurrence)


@shared_task(name="campaigns.dispatch_live", ignore_result=True)
def dispatch_live() -> int:
    """A wake-up: settle the live triggers due now, without waiting for beat."""
    return live_triggers.dispatch_due()


@shared_task(name="campaigns.purge_triggers", ignore_result=True)
def purge_triggers() -> int:
    """Periodic: delete settled live triggers older than the retention period."""
    return live_triggers.purge_finished()


def queue_runs(unfinished: list[tuple[int, str]]) -> None:
    """Start each (campaign id, occurrence) run after the caller's commit (a resumed
    campaign's unfinished runs carry on from their cursor)."""
    for campaign_id, occurrence in unfinished:
        run_occurrence.delay_on_commit(campaign_id, occurrence)


def queue_live(event) -> None:
    """Write the live triggers ``event`` sets off, in the caller's transaction; after the
    commit, wake a worker if one is due already (beat finds the others when due)."""
    now = timezone.now()
    if any(trigger.due_at <= now for trigger in live_triggers.record(event, now)):
        # Not delay_on_commit: a broker error there would escape the caller's commit
        # (the events API would answer 500 for an event it recorded).
        transaction.on_commit(_wake_dispatcher)


def _wake_dispatcher() -> None:
    try:
        dispatch_live.delay()
    except (OperationalError, OSError) as error:
        # The trigger is committed: beat's dispatcher sends it once the broker is back.
        logger.warning("Could not wake the live dispatcher (%s); beat will send it", error)
