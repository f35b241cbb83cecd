"""Writing a fan-out chunk on PostgreSQL: entries built in SQL, rows written by COPY.

At a million profiles the ORM path spends most of its time decoding every profile's
properties only to encode them again, and quoting megabytes of payload into INSERT
statements. Here PostgreSQL builds each profile's entry as JSON text (the same entry as
``content.payload.profile_entry``), Python only joins them into bodies, the engine writes
them as they are (``engine.write_payloads``: COPY, with the delivery ids it returns), and
recipients go in by COPY, pointing at those ids.
"""

import json
from collections.abc import Iterable

from django.db import connection

from campaigns.content.compose import content_type_of, query_string
from campaigns.content.payload import PROFILE_FIELDS
from deliveries import engine
from deliveries.models import Source

# Each profile field's SQL, in the seed's key order.
_FIELD_SQL = {
    "Email": "p.email",
    "Identity": "p.identity",
    "ObjectId": "p.object_id",
    "ProfileData": None,  # the chosen properties, below
    # The latest qualifying event's properties when the segment is built on an action
    # (``entry_select``), else none: a scheduled send has no triggering event.
    "Event_properties": "'{}'::json",
    "Push_token": "p.push_token",
}
_ALL_PROPERTIES = "p.properties"
_SOME_PROPERTIES = (
    "(SELECT COALESCE(jsonb_object_agg(key, value), '{}'::jsonb) "
    "FROM jsonb_each(p.properties) WHERE key = ANY(%s))"
)


def entry_select(campaign, latest_event: tuple[str, list] | None = None) -> tuple[str, list]:
    """The SQL (over the profile as ``p``) of a target's entry as JSON text, and its
    parameters: the same entry as ``content.payload.profile_entry``. ``latest_event`` is
    the SQL of the profile's latest qualifying event's properties
    (``evaluate.latest_event_select``), if the segment has such events."""
    pairs, params = [], []
    for name in PROFILE_FIELDS:
        if name not in campaign.profile_fields:
            continue
        sql = _FIELD_SQL[name]
        if name == "Event_properties" and latest_event is not None:
            sql = f"COALESCE({latest_event[0]}, '{{}}'::jsonb)"
            params += latest_event[1]
        if name == "ProfileData":
            sql = _ALL_PROPERTIES if campaign.profile_properties is None else _SOME_PROPERTIES
            if campaign.profile_properties is not None:
                params.append(list(campaign.profile_properties))
        pairs.append(f"'{name}', {sql}")
    return (f"json_build_object({', '.join(pairs)})::text" if pairs else "'{}'"), params


def write(campaign, run, batches: list[list[tuple[int, str]]], control: list[int]) -> int:
    """Write one delivery per batch of ``entries``, and each member of the batches and
    of ``control`` as a recipient. Returns the number of deliveries."""
    if not batches and not control:
        return 0
    head = f'{{"targetId": {campaign.pk}, "key_values": {json.dumps(campaign.key_values)}, '
    bodies = [
        f'{head}"profiles": [{", ".join(entry for _, entry in batch)}]}}' for batch in batches
    ]
    ids = engine.write_payloads(campaign.webhook, bodies, encoded=True, **delivery_fields(campaign))
    sent = (
        (profile_id, delivery_id)
        for delivery_id, batch in zip(ids, batches, strict=True)
        for profile_id, _ in batch
    )
    write_recipients(run, sent, control)
    return len(ids)


def delivery_fields(campaign) -> dict:
    """What a campaign's deliveries share besides their webhook (``engine.write_payloads``
    and ``write_unsent``): how they are sent is kept with them, so a retry after the
    campaign was edited sends the same request."""
    return {
        "source": Source.CAMPAIGN,
        "campaign": campaign,
        "category": "Campaign",
        "content_type": content_type_of(campaign),
        "query": query_string(campaign.query_params),
    }


def write_recipients(run, targets: Iterable[tuple[int, int]], control: Iterable[int]) -> None:
    """COPY the run's ``(profile id, delivery id)`` targets and its ``control`` members."""
    recipients = "campaigns_campaignrecipient (run_id, profile_id, control, delivery_id)"
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {recipients} FROM STDIN") as copy:
        for profile_id, delivery_id in targets:
            copy.write_row((run.pk, profile_id, False, delivery_id))
        for profile_id in control:
            copy.write_row((run.pk, profile_id, True, None))
