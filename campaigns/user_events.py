"""User events in: what the events API does with an event that names a profile.

``record`` adds the event to the profile's events (creating a bare profile for a new
identity) and writes the live triggers it sets off, in the caller's transaction, so the
event, its deliveries, the profile's copy and the triggers commit or fail together.
"""

from datetime import datetime

from campaigns import sending
from campaigns.models import ProfileEvent
from campaigns.profiles import records


def record(identity: str, name: str, properties: dict, occurred_at: datetime) -> ProfileEvent:
    """Record that ``identity`` did ``name`` at ``occurred_at``; returns the event."""
    event = records.record_event(identity, name, properties, occurred_at)
    sending.queue_live(event)  # its live triggers, in this transaction
    return event
