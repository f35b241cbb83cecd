"""Writing a fan-out chunk whose bodies are built in Python: custom Liquid bodies (on every
database) and everything on SQLite (``make run``). PostgreSQL's profile-variables
payloads take ``fanout_copy`` instead.

``build`` runs before the chunk's transaction opens, since linked content may wait on
other servers; ``write`` then hands the payloads to the engine and writes the recipients
in it. A batch whose body cannot be built is written as a failed delivery with its
reason and an attempt saying why (``engine.write_unsent``: log and stats count it like
any failed attempt), and the run goes on.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from django.db import connection
from django.utils import timezone

from campaigns.content.compose import ComposeError, Composer
from campaigns.content.payload import Recipient
from campaigns.models import Campaign, CampaignRecipient, CampaignRun, Profile
from campaigns.sending import fanout_copy
from deliveries import engine

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
    rows: list[tuple] | None = None,
) -> list[Built]:
    """The payloads of ``targets`` (ascending profile ids) in batches of ``size``, with
    each one's Event_properties from ``events`` (one query for all of them), if given.
    ``rows`` are the targets' PROFILE_COLUMNS when the segment's read gave them
    (properties as JSON text); else they are read here, and a profile deleted since the
    segment was read is left out."""
    profiles = _profiles(targets) if rows is None else rows
    properties = _decoded([row[-1] for row in profiles])
    found = events(targets) if events and targets else {}
    built = []
    for start in range(0, len(profiles), size):
        batch = profiles[start : start + size]
        recipients = [
            Recipient(identity, email, object_id, push_token, data or {}, found.get(pk))
            for (pk, identity, email, object_id, push_token, _), data in zip(
                batch, properties[start : start + size], strict=True
            )
        ]
        item = Built([row[0] for row in batch])
        try:
            item.payload = composer.compose(recipients)
        except ComposeError as error:
            item.failure = error
        built.append(item)
    return built


def _profiles(targets: list[int]) -> list[tuple]:
    """The PROFILE_COLUMNS of the profiles of ``targets``, by id."""
    if connection.vendor != "postgresql" or not targets:
        rows = Profile.objects.filter(pk__in=targets).order_by("pk")
        return list(rows.values_list(*PROFILE_COLUMNS))
    # One array parameter rather than 5,000 placeholders, which psycopg spends longer
    # splitting out of the query text than PostgreSQL spends finding the rows.
    columns = ", ".join(PROFILE_COLUMNS)
    table = Profile._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table} WHERE id = ANY(%s) ORDER BY id", [targets])
        return cursor.fetchall()


def _decoded(properties: list) -> list:
    """The profiles' ``properties``, decoded from the JSON text plain queries give (the
    ORM decodes it the same way; its own rows are decoded already), in one json.loads
    for all: a call for each spends more in the call than in the parse."""
    if all(type(text) is str for text in properties):
        return json.loads(f"[{','.join(properties)}]")
    return [json.loads(text) if isinstance(text, str) else text for text in properties]


def write(
    campaign: Campaign, run: CampaignRun, built: list[Built], control: list
) -> tuple[int, int]:
    """Write one delivery per batch and the recipients, in the caller's transaction.
    Returns the numbers of deliveries and of profiles in them."""
    ids = write_built(campaign, built)
    sent = [
        (pk, delivery_id)
        for item, delivery_id in zip(built, ids, strict=True)
        for pk in item.profile_ids
    ]
    if connection.vendor == "postgresql":  # a million recipients: COPY, not INSERTs
        fanout_copy.write_recipients(run, sent, control)
    else:
        recipients = [CampaignRecipient(run=run, profile_id=p, delivery_id=d) for p, d in sent]
        recipients += [CampaignRecipient(run=run, profile_id=pk, control=True) for pk in control]
        CampaignRecipient.objects.bulk_create(recipients, batch_size=5000)
    return len(ids), len(sent)


def write_built(campaign: Campaign, built: list[Built]) -> list[int]:
    """Hand the batches of ``built`` to the engine: each payload as a delivery due now
    (or held, the webhook paused), each failure as a failed delivery with an attempt
    saying why. Returns the deliveries' ids, in the order of ``built``."""
    now, fields = timezone.now(), fanout_copy.delivery_fields(campaign)
    ids: list[int] = []
    # Run by run, so the ids follow the batches (the log lists a failed one in its place).
    for failed, group in groupby(built, key=lambda item: item.failure is not None):
        items = list(group)
        if failed:
            reasons = [(item.failure.reason, item.failure.message) for item in items]
            ids += engine.write_unsent(campaign.webhook, reasons, now=now, **fields)
        else:
            payloads = [item.payload for item in items]
            ids += engine.write_payloads(campaign.webhook, payloads, now=now, **fields)
    return ids
