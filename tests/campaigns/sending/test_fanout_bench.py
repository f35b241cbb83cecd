"""bench_fanout end to end on a tiny seeded audience: profile variables alone, and with
--liquid the same audience again with a custom body, compared on the last line (the
figures are for the notes, never asserted here)."""

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from campaigns.management.commands.bench_fanout import LIQUID_NAME, NAME
from campaigns.models import Campaign
from deliveries.models import Delivery

# Transactional: the seeder's VACUUM runs outside a transaction, and the fan-out reads
# its members on a second connection.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="seed_audience loads by COPY (PostgreSQL)"
    ),
]


@pytest.fixture
def seeded():
    call_command("seed_audience", profiles=250, events=500, seed=5, stdout=StringIO())


def run(**options) -> list[str]:
    out = StringIO()
    call_command("bench_fanout", stdout=out, **options)
    return out.getvalue().splitlines()


def test_without_liquid_the_last_line_is_seconds_and_peak_memory(seeded):
    lines = run(profiles=250)

    assert re.fullmatch(r"seconds=\d+\.\d\d peak_rss_mb=\d+", lines[-1])
    assert len(lines) == 2
    assert Delivery.objects.filter(campaign__name=NAME, status="pending").count() == 3


def test_with_liquid_the_same_audience_is_sent_again_and_the_ratio_ends_the_last_line(seeded):
    lines = run(profiles=250, liquid=True)

    assert lines[0].startswith("profile variables: members=250 targets=250 payloads=3 ")
    assert lines[1].startswith("Liquid: members=250 targets=250 payloads=3 ")
    found = re.fullmatch(
        r"seconds=(\S+) liquid_seconds=(\S+) peak_rss_mb=\d+ liquid_ratio=(\d+\.\d\d)", lines[-1]
    )
    assert found
    seconds, liquid_seconds, ratio = map(float, found.groups())
    assert seconds > 0 and liquid_seconds > 0 and ratio > 0  # (of unrounded seconds)
    liquid = Campaign.objects.get(name=LIQUID_NAME)
    bodies = [json.loads(d.payload) for d in Delivery.objects.filter(campaign=liquid)]
    assert sorted(len(body["messages"]) for body in bodies) == [50, 100, 100]
    assert {body["source"] for body in bodies} == {"bench"}
    assert all(message["title"].startswith("Hi ") for b in bodies for message in b["messages"])


def test_rounds_alternate_the_two_and_the_last_run_is_cleaned_up_each_time(seeded):
    lines = run(profiles=250, liquid=True, rounds=2)

    assert [line.split(":")[0] for line in lines[:-1]] == [
        "profile variables",
        "Liquid",
        "profile variables",
        "Liquid",
    ]
    assert "liquid_ratio=" in lines[-1]
    assert Delivery.objects.filter(campaign__name__startswith=NAME).count() == 6


def test_it_asks_for_an_audience_first(transactional_db):
    with pytest.raises(CommandError, match="seed_audience --profiles 10"):
        run(profiles=10, liquid=True)
