"""Send a test webhook: one sample member's payload to the campaign's webhook, now.

The body is built exactly as fan-out builds it (``content.compose``, linked content
included), and sent and recorded by the engine's own path (claim, signatures, custom
headers, redaction, outbound guard, ``send_batch``), as a manual attempt by the user.

A test delivery has source ``test`` and no campaign: the delivery log shows it (filter
its source by "Test"), but the campaign's figures never count it, since every rollup and
status count is keyed by the delivery's campaign. The payload still names the campaign
(``targetId``), so a receiver is told it is a test: the engine adds ``X-Webhook-Test:
true`` to every test delivery's request, and a profile-variables body also carries
``"test": true`` (a custom body is sent byte for byte, as its template rendered it, so
only the header marks it). It is never retried automatically.
"""

from django.utils import timezone

from campaigns import fanout
from campaigns.content.compose import PREVIEW_LINKED_SECONDS, ComposeError, Composer, recipient_of
from campaigns.models import Campaign, DeliveryType, Profile
from deliveries import engine
from deliveries.models import Delivery, DeliveryStatus, Source, Trigger


class TestSendRefused(Exception):
    """No test can be sent; the message says why, for the page to show."""

    __test__ = False  # not a test class, whatever pytest thinks of the name


def send_test(campaign: Campaign, profile: Profile, user) -> Delivery:
    """Send the payload of ``profile`` to the campaign's webhook now and return the test
    delivery, with its one attempt recorded (``delivery.attempts.get()``: request URL,
    headers and body; response code, headers, body and duration).

    Raises TestSendRefused when the campaign has no webhook, the webhook is paused, or
    the body cannot be built (its template or linked content fails).
    """
    webhook = campaign.webhook if campaign.webhook_id else None
    if webhook is None:
        raise TestSendRefused("Choose a webhook first: the test is sent to the campaign's webhook.")
    if not webhook.is_active:
        raise TestSendRefused(f"The webhook “{webhook.name}” is paused; make it active first.")
    # An admin is waiting: linked content gets the preview's few seconds in all.
    composer = Composer(campaign, linked_seconds=PREVIEW_LINKED_SECONDS)
    try:
        payload = composer.compose([recipient_of(profile, _event_properties(campaign, profile))])
    except ComposeError as error:
        raise TestSendRefused(f"The body cannot be built for {profile}: {error.message}") from error
    if isinstance(payload, dict):  # the seed's document: say so in the body too
        payload = {**payload, "test": True}
    delivery = Delivery.objects.create(
        webhook=webhook,
        source=Source.TEST,
        category="Campaign",
        payload=payload,
        content_type=composer.content_type,
        query=composer.query,
        status=DeliveryStatus.PENDING,
        created_at=timezone.now(),
    )
    # No next_attempt_at: no worker picks it up. Claimed here, sent here, recorded here.
    engine.send_batch(engine.claim(Delivery.objects.filter(pk=delivery.pk)), Trigger.MANUAL, user)
    delivery.refresh_from_db()
    return delivery


def _event_properties(campaign: Campaign, profile: Profile) -> dict | None:
    """A live campaign sends the triggering event's properties: for a test, those of the
    member's latest such event, if any. Other campaigns send those of the member's
    latest event that qualifies it for an action segment, as their runs do."""
    if campaign.delivery_type != DeliveryType.LIVE:
        return fanout.member_event_properties(campaign, profile.pk)
    if not campaign.trigger_event:
        return None
    if profile.pk is None:  # an example profile, when there are none yet
        return {}
    latest = (
        profile.events.filter(name=campaign.trigger_event)
        .order_by("-occurred_at")
        .values_list("properties", flat=True)
        .first()
    )
    return latest or {}
