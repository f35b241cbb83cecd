"""The demo audience of `make run`: load_demo_audience and demo_audience_traffic."""

import random
import re
from datetime import UTC, datetime
from io import StringIO

from django.core.management import call_command

from campaigns import demo
from campaigns.models import Profile, ProfileEvent, Segment
from campaigns.segments import evaluate, rules


def load(**options) -> str:
    out = StringIO()
    call_command("load_demo_audience", stdout=out, **options)
    return out.getvalue()


def test_it_loads_profiles_events_and_segments_that_have_members(db):
    output = load()
    assert Profile.objects.count() == demo.PROFILES
    events = ProfileEvent.objects.count()
    assert events > 20 * demo.PROFILES // 2
    assert f"{demo.PROFILES:,} profiles, {events:,} events, 3 segments" in output
    names = set(ProfileEvent.objects.values_list("name", flat=True).distinct())
    assert {"App Launched", "Notification Viewed", "Product Viewed", "Added To Cart",
            "Charged"} <= names  # fmt: skip
    charged = ProfileEvent.objects.filter(name="Charged").first()
    assert {"amount", "currency", "items"} <= set(charged.properties)
    for segment in Segment.objects.all():
        count = evaluate.count(rules.parse(segment.rule))
        assert 0 < count < demo.PROFILES, segment.name


def test_profiles_look_like_people(db):
    load(profiles=200)
    countries = set()
    for profile in Profile.objects.all():
        props = profile.properties
        assert re.fullmatch(r"C\d{7}", profile.identity)
        assert profile.email == profile.email.lower() and "@" in profile.email
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", props["birthday"])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", props["signup_date"])
        assert 18 <= props["age"] <= 72 and props["plan"] in ("free", "pro", "team")
        assert props["name"] and props["city"]
        assert profile.created_at.date().isoformat() == props["signup_date"]
        countries.add(props["country"])
    assert {"United States", "India", "Canada"} <= countries
    emails = list(Profile.objects.values_list("email", flat=True))
    assert len(emails) == len(set(emails))
    # Events stay within the last 60 days and after the profile signed up.
    oldest = ProfileEvent.objects.order_by("occurred_at").select_related("profile").first()
    assert oldest.occurred_at >= oldest.profile.created_at


def test_it_is_idempotent(db):
    load(profiles=50)
    profiles, events = Profile.objects.count(), ProfileEvent.objects.count()
    Segment.objects.filter(name="Dormant users").update(description="edited by an admin")
    assert "already loaded, nothing to do" in load(profiles=50)
    assert (Profile.objects.count(), ProfileEvent.objects.count()) == (profiles, events)
    assert Segment.objects.count() == 3
    assert Segment.objects.get(name="Dormant users").description == "edited by an admin"


def test_the_same_seed_and_moment_give_the_same_audience():
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)

    def audience():
        rng = random.Random(demo.SEED)
        people = [demo.make_profile(rng, 1000 + n, now, set()) for n in range(30)]
        return [(p.profile.identity, p.profile.email, p.profile.properties) for p in people]

    assert audience() == audience()


def test_every_demo_segment_rule_parses():
    for _, _, rule in demo.SEGMENTS:
        rules.parse(rule)


def test_traffic_adds_events_until_it_is_stopped(transactional_db):
    # transactional: the command closes stale connections between ticks, as a long-running
    # process must.
    load(profiles=20)
    events = ProfileEvent.objects.count()
    out = StringIO()
    call_command("demo_audience_traffic", ticks=5, interval=0, seed=7, stdout=out)
    assert ProfileEvent.objects.count() > events
    assert "Demo audience traffic stopped:" in out.getvalue()


def test_a_new_demo_profile_takes_the_next_customer_number(db):
    load(profiles=20)
    result = demo.tick(random.Random(1), new_profile_chance=1)
    assert result.new_profile == "C1000021"
    joined = Profile.objects.get(identity="C1000021")
    assert joined.events.filter(name="App Launched").exists()
    assert not ProfileEvent.objects.filter(occurred_at__gt=datetime.now(UTC)).exists()
