"""When a campaign's occurrences fall, and running them: beat starts what is due.

``first_run`` is the occurrence publishing sets (``lifecycle.publish``); after each one
``due_runs`` moves the campaign to the next (``recurrence_of``, ``schedule``).

A scheduled occurrence is started once: ``due_runs`` claims due campaigns with
``SELECT ... FOR UPDATE SKIP LOCKED`` and moves their ``next_run_at`` on in the same
transaction, and a run is unique per (campaign, occurrence). An occurrence more than
``schedule.DEFAULT_GRACE`` late (beat or every worker was down) is never sent: the
issue's rule is that a campaign never sends for a date already past. It is recorded as
a failed run, so the campaign page can say so.

A run that raises, for whatever reason, ends ``failed`` with the reason on the campaign
page and in the activity log; the campaign is completed or moves on as after any run,
so a one-time campaign never stays ``running`` and a recurring one keeps its next
occurrence.
"""

import logging
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError

from campaigns.models import (
    Campaign,
    CampaignRun,
    CampaignStatus,
    DeliveryType,
    RunStatus,
)
from campaigns.sending import fanout, schedule
from config import advisory
from webhooks.models import ActivityEntry

logger = logging.getLogger(__name__)


def recurrence_of(campaign: Campaign) -> schedule.Recurrence:
    """The campaign's saved recurrence; raises ValueError (or TypeError, KeyError on
    a malformed one) as ``schedule.Recurrence`` does."""
    data = campaign.recurrence or {}
    return schedule.Recurrence(
        every=data.get("every", ""),
        at=time.fromisoformat(data["at"]) if data.get("at") else None,
        weekday=data.get("weekday"),
        day=data.get("day"),
        starts=date.fromisoformat(data["starts"]) if data.get("starts") else None,
        ends=date.fromisoformat(data["ends"]) if data.get("ends") else None,
    )


def first_run(campaign: Campaign, now: datetime) -> datetime | None:
    """The first occurrence of a campaign published now (None for a live one)."""
    if campaign.delivery_type == DeliveryType.LIVE:
        return None
    if campaign.delivery_type == DeliveryType.ONE_TIME:
        schedule.validate_send_at(campaign.send_at, now)
        return campaign.send_at
    return schedule.next_occurrence(recurrence_of(campaign), ZoneInfo(campaign.timezone), now)


def due_runs(now: datetime | None = None) -> list[tuple[int, str]]:
    """Claim the occurrences due now and move each campaign to its next one; returns
    the (campaign id, occurrence key) to run, after this function's commit."""
    now = now or timezone.now()
    starts = []
    with transaction.atomic():
        due = Campaign.objects.select_for_update(skip_locked=True).filter(
            status__in=[CampaignStatus.SCHEDULED, CampaignStatus.RUNNING],
            next_run_at__lte=now,
        )
        for campaign in due:
            when = campaign.next_run_at
            key = schedule.occurrence_key(when)
            started = now - when <= schedule.DEFAULT_GRACE
            if started:
                starts.append((campaign.pk, key))
            else:
                _record_missed(campaign, key, when, now)
            campaign.next_run_at = (
                schedule.next_occurrence(recurrence_of(campaign), ZoneInfo(campaign.timezone), now)
                if campaign.delivery_type == DeliveryType.RECURRING
                else None
            )
            if campaign.next_run_at is None:
                # Its last occurrence: running until that run completes it.
                campaign.status = CampaignStatus.RUNNING if started else CampaignStatus.COMPLETED
            campaign.save(update_fields=["next_run_at", "status", "updated_at"])
    return starts


def _record_missed(campaign: Campaign, key: str, when: datetime, now: datetime) -> None:
    CampaignRun.objects.get_or_create(
        campaign=campaign,
        occurrence=key,
        defaults={
            "status": RunStatus.FAILED,
            "finished_at": now,
            "error": f"Missed: nothing was running at {when:%Y-%m-%d %H:%M} UTC, and a "
            "campaign never sends for a time already past.",
        },
    )


def run(campaign_id: int, occurrence: str) -> CampaignRun | None:
    """Run one occurrence unless another worker is running this campaign (then None),
    and complete a campaign that has nothing left to send."""
    with advisory.alone(advisory.CAMPAIGN_RUN, campaign_id) as only:
        if not only:
            return None
        try:
            finished = fanout.run_occurrence(campaign_id, occurrence)
        except Exception as error:
            logger.exception("Run %s of campaign %s failed", occurrence, campaign_id)
            finished = _record_failure(campaign_id, occurrence, error)
    Campaign.objects.filter(
        pk=campaign_id,
        status__in=[CampaignStatus.SCHEDULED, CampaignStatus.RUNNING],
        next_run_at__isnull=True,
    ).exclude(delivery_type=DeliveryType.LIVE).update(status=CampaignStatus.COMPLETED)
    return finished


def _record_failure(campaign_id: int, occurrence: str, error: Exception) -> CampaignRun:
    """End the occurrence's run ``failed`` with the reason (a run finished before keeps
    its status), and say so in the activity log."""
    reason = failure_reason(error)
    now = timezone.now()
    run, created = CampaignRun.objects.get_or_create(
        campaign_id=campaign_id,
        occurrence=occurrence,
        defaults={"status": RunStatus.FAILED, "error": reason, "finished_at": now},
    )
    failed = created or (
        CampaignRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED, error=reason, finished_at=now
        )
        == 1
    )
    if failed:
        name = Campaign.objects.filter(pk=campaign_id).values_list("name", flat=True).first()
        summary = f"Campaign “{name}”: run {occurrence} failed. {reason}"
        ActivityEntry.record("campaign.run_failed", _cut(summary, 500))
    run.refresh_from_db()
    return run


def failure_reason(error: Exception) -> str:
    """Why a run failed, in a sentence an admin can act on."""
    if isinstance(error, fanout.NothingToSend):
        return str(error)
    if isinstance(error, ValidationError):
        return (
            "Its audience rule is no longer valid: open the segment (or the campaign's "
            "Who step) and save it again."
        )
    return _cut(f"It stopped on an error: {type(error).__name__}: {error}".strip(), 1000)


def first_error(error: Exception) -> str:
    """The error's first message, cut short, for a sentence that gives its reason."""
    if isinstance(error, ValidationError) and error.errors():
        return _cut(str(error.errors()[0]["msg"]).removeprefix("Value error, "), 200)
    return _cut(str(error), 200)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
