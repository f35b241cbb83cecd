"""Live triggers: a live campaign's send to the user of one event, kept as a row until due.

``record`` writes one ``LiveTrigger`` per live campaign (running or paused) that an event
sets off, in the caller's transaction (the events API's), due at the event's time plus
the campaign's delay: if the event is committed, so is its trigger, whatever the broker
does. ``dispatch_due`` (beat's ``campaigns.dispatch_due``, and a wake-up after the commit
for a trigger due at once) claims due rows with ``FOR UPDATE SKIP LOCKED`` and a lease,
and settles each by the campaign's status at that moment:

- running: ``live.run`` sends to the user if still in the audience. Its run is unique per
  (campaign, event), so a row settled twice (a lease that ran out) sends once;
- paused: skipped and counted on the campaign page. An event whose delay is still open
  when the marketer presses Resume is sent; one whose moment passed while paused is not;
- stopped or completed: closed, nothing sent.

``purge_finished`` (hourly, by beat) deletes settled rows older than the log's retention;
skipped rows stay, since the campaign page counts them.
"""

import logging
import time
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from campaigns.models import (
    Campaign,
    CampaignStatus,
    DeliveryType,
    LiveTrigger,
    ProfileEvent,
    TriggerStatus,
)
from campaigns.sending import live
from webhooks.models import SystemSettings

logger = logging.getLogger(__name__)

# A claimed row is left alone this long; past it, the worker that claimed it is taken for
# dead and another settles it (live.run's unique run keeps that from sending twice).
# Longer than a run can take: one profile's audience check and body, with budgets.
LEASE = timedelta(minutes=10)
# Rows per claim: small, so a batch is settled long before its lease runs out.
BATCH = 20
# A trigger whose run raised is tried again after its lease, this many times in all.
MAX_ATTEMPTS = 3
# One dispatch stops claiming after this long (the next beat tick carries on), so its
# task stays well inside the broker's visibility timeout.
DISPATCH_SECONDS = 60.0

# Live campaigns that take triggers: a paused one too, so Resume can still send the
# events whose delay is open.
LISTENING = [CampaignStatus.RUNNING, CampaignStatus.PAUSED]


def record(event: ProfileEvent, now: datetime | None = None) -> list[LiveTrigger]:
    """Write the triggers of the live campaigns ``event`` sets off, in the caller's
    transaction, and return them (an event recorded twice writes nothing more)."""
    now = now or timezone.now()
    # The event's time, so a late-reported event keeps its delay; never later than now,
    # so a client clock running ahead cannot postpone the send.
    start = min(event.occurred_at, now)
    campaigns = Campaign.objects.filter(
        delivery_type=DeliveryType.LIVE, status__in=LISTENING, trigger_event=event.name
    ).values_list("pk", "trigger_delay_minutes")
    triggers = [
        LiveTrigger(campaign_id=pk, event=event, due_at=start + timedelta(minutes=minutes))
        for pk, minutes in campaigns
    ]
    LiveTrigger.objects.bulk_create(triggers, ignore_conflicts=True)
    return triggers


def dispatch_due(now: datetime | None = None) -> int:
    """Settle the triggers due by ``now`` (default: the clock, read per batch) that no
    lease holds; returns how many were settled."""
    settled = 0
    deadline = time.monotonic() + DISPATCH_SECONDS
    while time.monotonic() < deadline and (batch := _claim(now or timezone.now())):
        settled += sum(_settle(trigger) for trigger in batch)
    return settled


def purge_finished(now: datetime | None = None, batch: int = 2000) -> int:
    """Delete settled triggers (ran, closed, failed) that finished before the retention
    period, in batches; returns how many went."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=SystemSettings.load().retention_days)
    old = LiveTrigger.objects.filter(
        status__in=[TriggerStatus.RAN, TriggerStatus.CLOSED, TriggerStatus.FAILED],
        finished_at__lt=cutoff,
    )
    deleted = 0
    while ids := list(old.values_list("pk", flat=True)[:batch]):
        deleted += LiveTrigger.objects.filter(pk__in=ids).delete()[0]
    return deleted


def skipped_while_paused(campaign: Campaign) -> int:
    """How many triggering events came due while ``campaign`` was paused (not sent)."""
    return LiveTrigger.objects.filter(campaign=campaign, status=TriggerStatus.SKIPPED).count()


def _claim(now: datetime) -> list[LiveTrigger]:
    """Lease up to BATCH due rows to this worker; committed before any is run."""
    with transaction.atomic():
        due = list(
            LiveTrigger.objects.select_for_update(skip_locked=True)
            .filter(status=TriggerStatus.PENDING, due_at__lte=now)
            .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lte=now - LEASE))
            .order_by("due_at")[:BATCH]
        )
        LiveTrigger.objects.filter(pk__in=[trigger.pk for trigger in due]).update(
            claimed_at=now, attempts=F("attempts") + 1
        )
    for trigger in due:
        trigger.claimed_at, trigger.attempts = now, trigger.attempts + 1
    return due


def _settle(trigger: LiveTrigger) -> int:
    """Run, skip or close one claimed trigger; 1 if it is settled, 0 if left to retry."""
    campaign = Campaign.objects.filter(pk=trigger.campaign_id)
    status = campaign.values_list("status", flat=True).first()
    if status == CampaignStatus.RUNNING:
        try:
            live.run(trigger.campaign_id, trigger.event_id)
        except Exception:
            # A bad row fails alone: the others in the batch still go. This one is
            # tried again when its lease runs out, and given up after MAX_ATTEMPTS.
            logger.exception(
                "Live campaign %s failed on event %s (attempt %s of %s)",
                trigger.campaign_id,
                trigger.event_id,
                trigger.attempts,
                MAX_ATTEMPTS,
            )
            if trigger.attempts < MAX_ATTEMPTS:
                return 0
            outcome = TriggerStatus.FAILED
        else:
            outcome = TriggerStatus.RAN
    elif status == CampaignStatus.PAUSED:
        outcome = TriggerStatus.SKIPPED
    else:
        outcome = TriggerStatus.CLOSED
    # Only while our lease holds: a worker that took the row over settles it itself.
    LiveTrigger.objects.filter(
        pk=trigger.pk, status=TriggerStatus.PENDING, claimed_at=trigger.claimed_at
    ).update(status=outcome, finished_at=timezone.now())
    return 1
