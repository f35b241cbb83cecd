"""Live campaigns: a user event starts a send to that user, after the campaign's delay.

When the events API records a user event (``profiles.records.record_event``), each live
campaign triggered by its name gets a trigger row, due ``trigger_delay_minutes`` after
the event (``live_triggers``), and ``run`` is called when it is due. When it runs, the
user must still belong to the campaign's audience (so a delay of T with an "inaction
within time" segment sends only to users who did not act in the meantime). A control
member is recorded and not sent. The run's occurrence is the event, so a trigger run
twice never sends twice. The body is built by ``content.compose`` with the event's
properties as Event_properties; one that cannot be built (a failing template or linked
content) is a failed delivery.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.content.compose import ComposeError, Composer, recipient_of
from campaigns.models import (
    Campaign,
    CampaignRecipient,
    CampaignRun,
    CampaignStatus,
    DeliveryType,
    Profile,
    ProfileEvent,
    RunStatus,
)
from campaigns.segments import evaluate
from campaigns.sending import fanout, fanout_orm, schedule
from deliveries.engine import wake


def run(campaign_id: int, event_id: int) -> CampaignRun | None:
    """Send the live campaign to the user of the event, if still in its audience."""
    campaign = Campaign.objects.select_related("segment", "webhook").get(pk=campaign_id)
    event = ProfileEvent.objects.select_related("profile").filter(pk=event_id).first()
    if event is None or campaign.status != CampaignStatus.RUNNING or campaign.webhook is None:
        return None  # the event was purged, or the campaign paused or stopped since
    profile = event.profile
    member = evaluate.members(fanout.audience(campaign)).filter(pk=profile.pk).exists()
    held = fanout.in_control(campaign.pk, profile.pk, campaign.control_percent)
    composer, built = Composer(campaign), fanout_orm.Built([profile.pk])
    if member and not held:
        # Before the transaction: linked content may wait on other servers.
        try:
            built.payload = composer.compose([recipient_of(profile, event.properties or {})])
        except ComposeError as error:
            built.failure = error
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
                _send(campaign, run, event, held, built)
    except IntegrityError:
        return None  # this event's run exists: a repeated message
    return run


def _send(
    campaign: Campaign,
    run: CampaignRun,
    event: ProfileEvent,
    held: bool,
    built: fanout_orm.Built,
) -> None:
    """Record the member and, unless held back, the delivery of its ``built`` body."""
    delivery_id = None
    if not held:
        [delivery_id] = fanout_orm.write_built(campaign, [built])
        if not built.failure:
            transaction.on_commit(wake)
    CampaignRecipient.objects.create(
        run=run,
        profile_id=event.profile_id,
        control=held,
        delivery_id=delivery_id,
    )


def sample_event_properties(
    campaign: Campaign, profile: Profile, anyone: bool = False
) -> dict | None:
    """The Event_properties a preview or a test send for ``profile`` shows, as a run would
    send them. A live campaign's are those of the member's latest triggering event
    (with ``anyone``, failing that, anyone's latest; ``{}`` when there is none); another
    campaign's, those of the member's latest event that qualifies it for an action
    segment (``fanout.member_event_properties``)."""
    if campaign.delivery_type != DeliveryType.LIVE:
        return fanout.member_event_properties(campaign, profile.pk)
    if not campaign.trigger_event:
        return None
    events = ProfileEvent.objects.filter(name=campaign.trigger_event).order_by("-occurred_at")
    latest = None
    if profile.pk is not None:  # else an example profile, when there are none yet
        latest = events.filter(profile_id=profile.pk).values_list("properties", flat=True).first()
    if latest is None and anyone:
        latest = events.values_list("properties", flat=True).first()
    return latest or {}
