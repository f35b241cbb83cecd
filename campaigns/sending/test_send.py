"""Send a test webhook: one sample member's payload to the campaign's webhook, next.

The body is built exactly as fan-out builds it (``content.compose``, linked content
included), and handed to the engine (``engine.send_test``), which writes the test delivery
and sends it first in its endpoint's line, within the endpoint's limits, through the one
send path (claim, signatures, custom headers, redaction, outbound guard), as a manual
attempt by the user. The page polls the delivery for its attempt.

A test delivery has source ``test`` and no campaign: the delivery log shows it (filter
its source by "Test"), but the campaign's figures never count it, since every rollup and
status count is keyed by the delivery's campaign. The payload still names the campaign
(``targetId``), so a receiver is told it is a test: the engine adds ``X-Webhook-Test:
true`` to every test delivery's request, and a profile-variables body also carries
``"test": true`` (a custom body is sent byte for byte, as its template rendered it, so
only the header marks it). It is never retried automatically.
"""

from campaigns.content.compose import PREVIEW_LINKED_SECONDS, ComposeError, Composer, recipient_of
from campaigns.models import Campaign, Profile
from campaigns.sending import live
from deliveries import engine
from deliveries.models import Delivery


class TestSendRefused(Exception):
    """No test can be sent; the message says why, for the page to show."""

    __test__ = False  # not a test class, whatever pytest thinks of the name


def send_test(campaign: Campaign, profile: Profile, user) -> Delivery:
    """Ask for the payload of ``profile`` to be sent to the campaign's webhook next, and
    return the test delivery; once sent it has one attempt (``delivery.attempts.get()``:
    request URL, headers and body; response code, headers, body and duration).

    Raises TestSendRefused when the campaign has no webhook, the webhook is paused or
    disabled, or the body cannot be built (its template or linked content fails).
    """
    webhook = campaign.webhook if campaign.webhook_id else None
    if webhook is None:
        raise TestSendRefused("Choose a webhook first: the test is sent to the campaign's webhook.")
    if reason := engine.refusal(webhook):
        raise TestSendRefused(reason)
    # An admin is waiting: linked content gets the preview's few seconds in all.
    composer = Composer(campaign, linked_seconds=PREVIEW_LINKED_SECONDS)
    try:
        payload = composer.compose(
            [recipient_of(profile, live.sample_event_properties(campaign, profile))]
        )
    except ComposeError as error:
        raise TestSendRefused(f"The body cannot be built for {profile}: {error.message}") from error
    if isinstance(payload, dict):  # the seed's document: say so in the body too
        payload = {**payload, "test": True}
    try:
        return engine.send_test(
            webhook,
            payload,
            user,
            content_type=composer.content_type,
            query=composer.query,
            category="Campaign",
        )
    except engine.RetryRefused as refused:  # the webhook changed meanwhile
        raise TestSendRefused(str(refused)) from refused
