"""Live campaigns: a user event starts a send to that user, after the campaign's delay.

When the events API records a user event (``profiles.records.record_event``), each
running live campaign triggered by its name is queued for that event, after the commit
and ``trigger_delay_minutes`` later. When it runs, the user must still belong to the
campaign's audience (so a delay of T with an "inaction within time" segment sends only
to users who did not act in the meantime). A control member is recorded and not sent.
The run's occurrence is the event, so a repeated message never sends twice.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns import fanout, schedule
from campaigns.content.payload import Recipient, profile_entry, profile_variables_body
from campaigns.models import (
    Campaign,
    CampaignRecipient,
    CampaignRun,
    CampaignStatus,
    DeliveryType,
    ProfileEvent,
    RunStatus,
)
from campaigns.segments import evaluate
from deliveries.engine import wake
from deliveries.models import Delivery, DeliveryStatus, Source


def triggered_by(event: ProfileEvent) -> list[tuple[int, int]]:
    """(campaign id, delay in seconds) of the running live campaigns ``event`` starts."""
    campaigns = Campaign.objects.filter(
        delivery_type=DeliveryType.LIVE,
        status=CampaignStatus.RUNNING,
        trigger_event=event.name,
    ).values_list("pk", "trigger_delay_minutes")
    return [(pk, minutes * 60) for pk, minutes in campaigns]


def run(campaign_id: int, event_id: int) -> CampaignRun | None:
    """Send the live campaign to the user of the event, if still in its audience."""
    campaign = Campaign.objects.select_related("segment", "webhook").get(pk=campaign_id)
    event = ProfileEvent.objects.select_related("profile").filter(pk=event_id).first()
    if event is None or campaign.status != CampaignStatus.RUNNING or campaign.webhook is None:
        return None  # the event was purged, or the campaign paused or stopped since
    profile = event.profile
    member = evaluate.members(fanout.audience(campaign)).filter(pk=profile.pk).exists()
    held = fanout.in_control(campaign.pk, profile.pk, campaign.control_percent)
    try:
        with transaction.atomic():
            run = CampaignRun.objects.create(
                campaign=campaign,
                occurrence=schedule.live_occurrence_key(event.pk),
                status=RunStatus.COMPLETED,
                members=int(member),
                streamed=int(member),
                control=int(member and held),
                targets=int(member and not held),
                payloads=int(member and not held),
                cursor=profile.pk,
                finished_at=timezone.now(),
            )
            if member:
                _send(campaign, run, event, held)
    except IntegrityError:
        return None  # this event's run exists: a repeated message
    return run


def _send(campaign: Campaign, run: CampaignRun, event: ProfileEvent, held: bool) -> None:
    profile = event.profile
    delivery = None
    if not held:
        entry = profile_entry(
            Recipient(
                identity=profile.identity,
                email=profile.email,
                object_id=profile.object_id,
                push_token=profile.push_token,
                properties=profile.properties or {},
                event_properties=event.properties or {},
            ),
            campaign.profile_fields,
            campaign.profile_properties,
        )
        active = campaign.webhook.is_active
        delivery = Delivery.objects.create(
            webhook=campaign.webhook,
            source=Source.CAMPAIGN,
            campaign=campaign,
            category="Campaign",
            payload=profile_variables_body(campaign.pk, campaign.key_values, [entry]),
            status=DeliveryStatus.PENDING if active else DeliveryStatus.NOT_TRIGGERED,
            next_attempt_at=timezone.now() if active else None,
        )
        transaction.on_commit(wake)
    CampaignRecipient.objects.create(
        run=run,
        profile_id=profile.pk,
        control=held,
        delivery_id=delivery.pk if delivery else None,
    )
