"""Writing a fan-out chunk whose bodies are built in Python: custom Liquid bodies (on every
database) and everything on SQLite (``make run``). PostgreSQL's profile-variables
payloads take ``fanout_copy`` instead.

``build`` runs before the chunk's transaction opens, since linked content may wait on
other servers; ``write`` then writes the deliveries and recipients in it. A batch whose
body cannot be built is written as a failed delivery with its reason and an attempt
saying why (``deliveries.engine.record_unsent``: log and stats count it like any failed
attempt), and the run goes on.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from campaigns import fanout_copy
from campaigns.content.compose import ComposeError, Composer
from campaigns.content.payload import Recipient
from campaigns.models import Campaign, CampaignRecipient, CampaignRun, Profile
from deliveries.engine import record_unsent
from deliveries.models import Delivery, DeliveryStatus, Source

PROFILE_COLUMNS = ("id", "identity", "email", "object_id", "push_token", "properties")


@dataclass
class Built:
    """One batch: its members, and its payload or why it has none."""

    profile_ids: list[int]
    payload: dict[str, Any] | str | None = None
    failure: ComposeError | None = None


def build(
    composer: Composer,
    targets: list[int],
    size: int,
    events: Callable[[list[int]], dict[int, dict]] | None = None,
) -> list[Built]:
    """The payloads of ``targets`` (ascending profile ids) in batches of ``size``, with
    each one's Event_properties from ``events`` (one query for all of them), if given.
    A profile deleted since the segment was read is left out."""
    rows = Profile.objects.filter(pk__in=targets).order_by("pk").values_list(*PROFILE_COLUMNS)
    profiles = list(rows)
    found = events(targets) if events and targets else {}
    built = []
    for start in range(0, len(profiles), size):
        batch = profiles[start : start + size]
        recipients = [
            Recipient(identity, email, object_id, push_token, properties or {}, found.get(pk))
            for pk, identity, email, object_id, push_token, properties in batch
        ]
        item = Built([row[0] for row in batch])
        try:
            item.payload = composer.compose(recipients)
        except ComposeError as error:
            item.failure = error
        built.append(item)
    return built


def write(
    campaign: Campaign, run: CampaignRun, composer: Composer, built: list[Built], control: list
) -> tuple[int, int]:
    """Write one delivery per batch and the recipients, in the caller's transaction.
    Returns the numbers of deliveries and of profiles in them."""
    now = timezone.now()
    deliveries = [delivery_for(campaign, composer, i.payload, i.failure, now) for i in built]
    Delivery.objects.bulk_create(deliveries)
    record_unsent(
        [(d, item.failure.reason, item.failure.message) for d, item in _failed(deliveries, built)],
        now,
    )
    sent = [
        (pk, delivery.pk)
        for item, delivery in zip(built, deliveries, strict=True)
        for pk in item.profile_ids
    ]
    if connection.vendor == "postgresql":  # a million recipients: COPY, not INSERTs
        fanout_copy.write_recipients(run, sent, control)
    else:
        recipients = [CampaignRecipient(run=run, profile_id=p, delivery_id=d) for p, d in sent]
        recipients += [CampaignRecipient(run=run, profile_id=pk, control=True) for pk in control]
        CampaignRecipient.objects.bulk_create(recipients, batch_size=5000)
    return len(deliveries), len(sent)


def delivery_for(
    campaign: Campaign, composer: Composer, payload, failure: ComposeError | None, now
) -> Delivery:
    """An unsaved campaign delivery of ``payload``: due now, held (webhook paused), or,
    with a ``failure``, failed by its one attempt (``record_unsent`` writes it)."""
    active = campaign.webhook.is_active
    delivery = Delivery(
        webhook=campaign.webhook,
        source=Source.CAMPAIGN,
        campaign=campaign,
        category="Campaign",
        payload=payload,
        content_type=composer.content_type,
        query=composer.query,
        status=DeliveryStatus.PENDING if active else DeliveryStatus.NOT_TRIGGERED,
        next_attempt_at=now if active else None,
        created_at=now,
    )
    if failure is not None:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        delivery.attempt_count, delivery.last_attempt_at = 1, now
        delivery.last_failure_reason = failure.reason
    return delivery


def _failed(deliveries: list[Delivery], built: list[Built]):
    return [(d, item) for d, item in zip(deliveries, built, strict=True) if item.failure]
