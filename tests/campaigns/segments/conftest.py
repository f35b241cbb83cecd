from datetime import UTC, datetime

import pytest

from campaigns.models import Profile, ProfileEvent
from campaigns.segments import evaluate, rules
from tests.factories import make_profile, make_profile_event

# Every test evaluates at this moment, so windows and "N days ago" are fixed.
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class Audience:
    """Hand-built profiles and events, and the identities a rule selects from them."""

    def profile(self, identity: str, **properties) -> Profile:
        return make_profile(identity=identity, properties=properties)

    def event(self, profile: Profile, name: str, at: datetime, **properties) -> ProfileEvent:
        return make_profile_event(profile, name, occurred_at=at, properties=properties)

    def members(self, rule: dict, now: datetime = NOW) -> set[str]:
        parsed = rules.parse(rule)
        found = {p.identity for p in evaluate.members(parsed, now)}
        assert evaluate.count(parsed, now) == len(found)
        streamed = [pk for chunk in evaluate.stream_ids(parsed, now, chunk=2) for pk in chunk]
        assert sorted(streamed) == sorted(
            Profile.objects.filter(identity__in=found).values_list("pk", flat=True)
        )
        return found


@pytest.fixture
def audience(db) -> Audience:
    return Audience()
