"""A campaign's lifecycle: publish, pause, resume and stop.

``publish`` checks the campaign is ready (``problems``) and sets its first occurrence
(``runs.first_run``): a scheduled campaign waits for beat, a live one starts listening.
Pause, resume and stop change the campaign's status only from the statuses
``STARTS_FROM`` names for them; the campaign page offers each action from those
statuses alone (``can``), so the page and these functions share one table.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

from campaigns.content import template
from campaigns.models import BodyMode, Campaign, CampaignStatus, DeliveryType, RunStatus
from campaigns.sending import fanout, runs, schedule

# Statuses in which a campaign sends, or will when its next occurrence comes.
SENDING = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.RUNNING})
# What each action may start from; from any other status it changes nothing.
STARTS_FROM = {
    "pause": SENDING,
    "resume": frozenset({CampaignStatus.PAUSED}),
    "stop": SENDING | {CampaignStatus.PAUSED},
}


class PublishRefused(ValueError):
    """The campaign is not ready to publish; ``problems`` says why, one per line."""

    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = problems


def can(action: str, campaign: Campaign) -> bool:
    """Whether ``action`` ("pause", "resume", "stop") applies to the campaign as loaded."""
    return campaign.status in STARTS_FROM[action]


def problems(campaign: Campaign, now: datetime | None = None) -> list[str]:
    """What stops the campaign from being published now, one sentence each."""
    now = now or timezone.now()
    found = []
    if campaign.webhook is None:
        found.append("Choose the webhook to send to.")
    elif not campaign.webhook.is_active:
        found.append(f"The webhook “{campaign.webhook.name}” is paused.")
    if campaign.segment_id is None and not campaign.rule:
        found.append("Choose who receives it: a segment, or build one.")
    else:
        try:
            fanout.audience(campaign)
        except (ValueError, fanout.NothingToSend) as error:  # e.g. saved before a new check
            found.append(f"{runs.failure_reason(error)} ({runs.first_error(error)})")
    if campaign.delivery_type == DeliveryType.ONE_TIME and campaign.send_at is None:
        found.append("Choose when to send it.")
    if campaign.delivery_type == DeliveryType.RECURRING and not campaign.recurrence:
        found.append("Choose when it repeats.")
    if campaign.delivery_type == DeliveryType.LIVE and not campaign.trigger_event:
        found.append("Choose the event that triggers it.")
    found += _content_problems(campaign)
    if not found:
        try:
            next_run = runs.first_run(campaign, now)
        except ValueError as error:
            found.append(str(error))
        else:
            if next_run is None and campaign.delivery_type == DeliveryType.RECURRING:
                found.append("The recurrence has ended: no occurrence is left.")
    return found


def _content_problems(campaign: Campaign) -> list[str]:
    if campaign.body_mode == BodyMode.CUSTOM:
        if not campaign.custom_body.strip():
            return ["Write the custom body, or send profile variables."]
        if template.check(campaign.custom_body):
            return ["The custom body has errors: fix them on the What step."]
    elif not campaign.profile_fields:
        return ["Choose the profile variables to send."]
    return []


def publish(campaign: Campaign, now: datetime | None = None) -> None:
    """Schedule the campaign (or, for a live one, start listening); PublishRefused
    lists what is missing."""
    now = now or timezone.now()
    found = problems(campaign, now)
    if found:
        raise PublishRefused(found)
    campaign.status = (
        CampaignStatus.RUNNING
        if campaign.delivery_type == DeliveryType.LIVE
        else CampaignStatus.SCHEDULED
    )
    campaign.next_run_at = runs.first_run(campaign, now)
    campaign.published_at = now
    campaign.save(update_fields=["status", "next_run_at", "published_at", "updated_at"])


def pause(campaign: Campaign) -> bool:
    """Stop sending after the chunk being written; resume() carries on from there.
    Returns whether the campaign was paused (False from a status that cannot pause)."""
    return (
        Campaign.objects.filter(pk=campaign.pk, status__in=STARTS_FROM["pause"]).update(
            status=CampaignStatus.PAUSED, updated_at=timezone.now()
        )
        == 1
    )


def resume(campaign: Campaign, now: datetime | None = None) -> list[tuple[int, str]]:
    """Back to sending. Returns the runs a pause left unfinished, to start again (they
    resume from their cursor); a scheduled occurrence missed while paused is not sent."""
    now = now or timezone.now()
    campaign.refresh_from_db()
    if not can("resume", campaign):
        return []
    if campaign.delivery_type == DeliveryType.RECURRING:
        zone = ZoneInfo(campaign.timezone)
        campaign.next_run_at = schedule.next_occurrence(runs.recurrence_of(campaign), zone, now)
    unfinished = list(
        campaign.runs.filter(status=RunStatus.RUNNING).values_list("campaign_id", "occurrence")
    )
    waiting = campaign.next_run_at is not None and campaign.next_run_at > now
    live = campaign.delivery_type == DeliveryType.LIVE
    campaign.status = (
        CampaignStatus.RUNNING if unfinished or live or not waiting else CampaignStatus.SCHEDULED
    )
    campaign.save(update_fields=["status", "next_run_at", "updated_at"])
    return unfinished


def stop(campaign: Campaign) -> bool:
    """Stop for good: nothing more is sent (what is already queued still goes out).
    Returns whether the campaign was stopped (False from a status that cannot stop)."""
    now = timezone.now()
    stopped = Campaign.objects.filter(pk=campaign.pk, status__in=STARTS_FROM["stop"]).update(
        status=CampaignStatus.STOPPED, next_run_at=None, updated_at=now
    )
    if stopped:
        campaign.runs.filter(status=RunStatus.RUNNING).update(
            status=RunStatus.STOPPED, finished_at=now
        )
    return stopped == 1
