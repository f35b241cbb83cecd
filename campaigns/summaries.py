"""A campaign in words, as its pages show it: when it sends, who receives it, its
key_values, and its status's badge."""

import json
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from campaigns import sending
from campaigns.models import Campaign, DeliveryType
from campaigns.segments import rules
from campaigns.segments.describe import describe

# The portal's badge colours (static/css/portal.css) for campaign and run statuses.
BADGES = {
    "scheduled": "on",
    "running": "in_progress",
    "paused": "pending",
    "completed": "success",
    "failed": "failed",
}


def badged(obj):
    """``obj`` (a campaign or a run) with its status's badge colour as ``obj.badge``."""
    obj.badge = BADGES.get(obj.status, "")
    return obj


def when(campaign: Campaign) -> str:
    """When the campaign sends, in a phrase."""
    try:
        zone = ZoneInfo(campaign.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    if campaign.delivery_type == DeliveryType.LIVE:
        if not campaign.trigger_event:
            return "Live, on an event not chosen yet"
        text = f"on {campaign.trigger_event}"
        if campaign.trigger_delay_minutes:
            text += f", {campaign.trigger_delay_minutes} min later"
        return text
    if campaign.delivery_type == DeliveryType.RECURRING:
        try:
            return sending.recurrence_of(campaign).describe(zone)
        except (ValueError, TypeError, KeyError):
            return "Recurrence not set yet"
    if campaign.send_at is None:
        return "Send time not set yet"
    return f"{campaign.send_at.astimezone(zone):%b %-d, %Y %H:%M} ({zone.key})"


def audience(campaign: Campaign) -> dict:
    if campaign.segment_id:
        return {"segment": campaign.segment}
    if campaign.rule:
        try:
            return {"rule": describe(rules.parse(campaign.rule))}
        except ValueError:
            return {"rule": None}
    return {}


def key_value_rows(key_values) -> list[tuple[str, str]]:
    """Key/value pairs for display; non-text values as JSON (the template escapes all)."""
    if not isinstance(key_values, dict):
        return [("", json.dumps(key_values))] if key_values else []
    return [
        (str(key), value if isinstance(value, str) else json.dumps(value))
        for key, value in key_values.items()
    ]
