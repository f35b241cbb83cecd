"""Profile-variables bodies: exactly the shape of seed 002's sample payload.

``{"targetId": <campaign id>, "key_values": {...}, "profiles": [{"Email", "Identity",
"ObjectId", "ProfileData", "Event_properties", "Push_token"}, ...]}``, where each profile
carries only the fields the campaign ticked, in the sample's key order.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The seed's key names and casing, in the sample's order.
PROFILE_FIELDS = ["Email", "Identity", "ObjectId", "ProfileData", "Event_properties", "Push_token"]


@dataclass(frozen=True)
class Recipient:
    """One profile as the content needs it, plus the properties of the event that
    triggered the send (None for campaigns sent at a time rather than on an event)."""

    identity: str
    email: str = ""
    object_id: str = ""
    push_token: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    event_properties: dict[str, Any] | None = None


def profile_entry(
    recipient: Recipient, fields: Iterable[str], properties: Iterable[str] | None = None
) -> dict[str, Any]:
    """The recipient's entry in ``profiles``, holding only the chosen ``fields``.

    ProfileData holds the chosen ``properties`` (all of them when None); a property the
    profile lacks is left out rather than sent as null, as the profile simply has no
    such value. Event_properties is {} when no event triggered the send.
    """
    chosen = set(fields)
    unknown = chosen.difference(PROFILE_FIELDS)
    if unknown:
        # The campaign form only offers PROFILE_FIELDS; anything else is a bug upstream.
        raise ValueError(f"unknown profile fields: {sorted(unknown)}")
    values = {
        "Email": recipient.email,
        "Identity": recipient.identity,
        "ObjectId": recipient.object_id,
        "ProfileData": _profile_data(recipient.properties, properties),
        "Event_properties": dict(recipient.event_properties or {}),
        "Push_token": recipient.push_token,
    }
    return {name: values[name] for name in PROFILE_FIELDS if name in chosen}


def profile_variables_body(
    target_id: int, key_values: Mapping[str, Any], entries: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """One delivery's body: the campaign id, its key_values and a batch of entries."""
    return {
        "targetId": target_id,
        "key_values": dict(key_values),
        "profiles": [dict(entry) for entry in entries],
    }


def _profile_data(stored: Mapping[str, Any], chosen: Iterable[str] | None) -> dict[str, Any]:
    if chosen is None:
        return dict(stored)
    return {name: stored[name] for name in chosen if name in stored}
