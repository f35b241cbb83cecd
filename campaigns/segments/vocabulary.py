"""The names the builder suggests: events that happened and properties in use."""

from django.db import connections

from campaigns.models import Profile, ProfileEvent

# Distinct event names by skipping through the (name, occurred_at) index one name at a
# time: as fast with 10M events as with 10, on PostgreSQL and SQLite alike.
_EVENT_NAMES = """
WITH RECURSIVE names(name) AS (
    SELECT MIN(name) FROM campaigns_profileevent
    UNION ALL
    SELECT (SELECT MIN(e.name) FROM campaigns_profileevent e WHERE e.name > names.name)
    FROM names WHERE names.name IS NOT NULL
)
SELECT name FROM names WHERE name IS NOT NULL LIMIT %s
"""


def event_names(limit: int = 200, using: str = "default") -> list[str]:
    with connections[using].cursor() as cursor:
        cursor.execute(_EVENT_NAMES, [limit])
        return [row[0] for row in cursor.fetchall()]


def profile_properties(sample: int = 500) -> list[str]:
    """Keys of the latest profiles' properties (a sample: all would read every row)."""
    rows = Profile.objects.order_by("-pk").values_list("properties", flat=True)[:sample]
    return sorted(
        {key for properties in rows if isinstance(properties, dict) for key in properties}
    )


def event_properties(sample: int = 2000) -> list[str]:
    rows = ProfileEvent.objects.order_by("-pk").values_list("properties", flat=True)[:sample]
    return sorted(
        {key for properties in rows if isinstance(properties, dict) for key in properties}
    )
