"""seed_audience and bench_segments end to end on a tiny audience (the benchmark's figures
are for the notes, never asserted here)."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from campaigns.bench import catalogue
from campaigns.bench.cases import RULES
from campaigns.models import Profile, ProfileEvent

# Transactional: the seeder's VACUUM and the benchmark's held cursors run outside a
# transaction, as they do for real.
pytestmark = pytest.mark.django_db(transaction=True)
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="seed_audience loads by COPY, which only PostgreSQL has",
)
EVENT_NAMES = {
    "App Launched", "Notification Viewed", "Product Viewed", "Added To Cart", "Charged",
    "Flight Booked",
}  # fmt: skip


def run(command, **options) -> list[str]:
    out = StringIO()
    call_command(command, stdout=out, **options)
    return out.getvalue().splitlines()


def indexes() -> set[str]:
    with connection.cursor() as cursor:
        return {
            name
            for model in (Profile, ProfileEvent)
            for name in connection.introspection.get_constraints(cursor, model._meta.db_table)
        }


def audience() -> list[tuple]:
    return list(
        Profile.objects.order_by("id").values_list("identity", "email", "push_token", "properties")
    ) + list(ProfileEvent.objects.order_by("id").values_list("profile__identity", "name"))


@postgres_only
def test_seed_audience_writes_exactly_the_sizes_asked_for_and_puts_the_indexes_back():
    before = indexes()

    lines = run("seed_audience", profiles=400, events=5000, seed=3)

    assert lines[-1].startswith("seeded 400 profiles and 5,000 events in ")
    assert Profile.objects.count() == 400
    assert ProfileEvent.objects.count() == 5000
    assert indexes() == before
    profile = Profile.objects.get(identity="user-000001")
    assert profile.properties["country"] in {country for country, *_ in catalogue.COUNTRIES}
    assert {"name", "plan", "signup_date", "vip"} <= set(profile.properties)
    assert "@" in profile.email
    assert set(ProfileEvent.objects.values_list("name", flat=True).distinct()) <= EVENT_NAMES
    now = timezone.now()
    times = ProfileEvent.objects.order_by("occurred_at").values_list("occurred_at", flat=True)
    assert now - timedelta(days=91) < times.first() < times.last() <= now
    charged = ProfileEvent.objects.filter(name="Charged").first()
    assert charged.properties["amount"] > 0
    # The sequence is past the COPYed ids.
    assert Profile.objects.create(identity="after-the-seed").pk == 401


@postgres_only
def test_seed_audience_repeats_with_the_same_seed_and_replaces_only_when_told():
    run("seed_audience", profiles=200, events=1500, seed=9)
    first = audience()

    with pytest.raises(CommandError, match="--clear"):
        run("seed_audience", profiles=200, events=1500, seed=9)
    run("seed_audience", profiles=200, events=1500, seed=9, clear=True)

    assert audience() == first


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the refusal is for other databases")
def test_seed_audience_says_it_needs_postgresql():
    with pytest.raises(CommandError, match="PostgreSQL"):
        run("seed_audience", profiles=10, events=10)


def test_bench_segments_prints_a_line_per_category_then_the_largest():
    if connection.vendor == "postgresql":
        run("seed_audience", profiles=300, events=3000, seed=1)
    else:  # a hand-made audience: seeding needs COPY
        now = timezone.now()
        for number in range(5):
            profile = Profile.objects.create(identity=f"user-{number}", properties={"age": 30})
            ProfileEvent.objects.create(
                profile=profile, name="App Launched", occurred_at=now - timedelta(days=number)
            )

    lines = run("bench_segments", repeat=1)

    assert [line.split(":")[0] for line in lines[:-1]] == list(RULES)
    for line in lines[:-1]:
        assert re.fullmatch(
            r"\w+: seconds=\d+\.\d{3} members=\d+ preview_seconds=\d+\.\d{3} "
            r"rss_growth_mb=[\d.]+ stream_peak_kb=\d+",
            line,
        )
    assert re.fullmatch(r"max_seconds=\d+\.\d{3}", lines[-1])


def test_bench_segments_asks_for_an_audience_first():
    with pytest.raises(CommandError, match="seed_audience"):
        run("bench_segments", repeat=1)
