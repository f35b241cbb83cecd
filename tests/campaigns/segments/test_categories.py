"""Each of seed 002's six categories on hand-built profiles, with the expected members
written out, edges included (window edges, B before A, missing properties, time zones)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError, connection, transaction

from tests.campaigns.segments.conftest import NOW

DAY = timedelta(days=1)


def test_single_action_with_event_property_and_window_edge(audience):
    rule = {
        "category": "single_action",
        "action": {
            "event": "Charged",
            "where": [{"property": "amount", "op": "gt", "value": 100}],
        },
        "window": {"kind": "last_days", "days": 7},
    }
    cases = {
        "recent_big": ("Charged", NOW - DAY, {"amount": 150}),
        "recent_small": ("Charged", NOW - DAY, {"amount": 50}),
        "too_old": ("Charged", NOW - 8 * DAY, {"amount": 150}),
        "at_the_edge": ("Charged", NOW - 7 * DAY, {"amount": 101}),
        "just_outside": ("Charged", NOW - 7 * DAY - timedelta(seconds=1), {"amount": 101}),
        "amount_as_text": ("Charged", NOW - DAY, {"amount": "200"}),
        "amount_not_a_number": ("Charged", NOW - DAY, {"amount": "lots"}),
        "no_amount": ("Charged", NOW - DAY, {}),
        "other_event": ("App Launched", NOW - DAY, {"amount": 150}),
    }
    for identity, (name, at, properties) in cases.items():
        audience.event(audience.profile(identity), name, at, **properties)
    audience.profile("did_nothing")

    assert audience.members(rule) == {"recent_big", "at_the_edge", "amount_as_text"}


def test_single_action_between_dates_counts_days_in_the_rules_time_zone(audience):
    # 23:30 UTC on 1 November is 00:30 on 2 November in Berlin.
    late = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)
    audience.event(audience.profile("late_evening"), "App Launched", late)
    audience.event(
        audience.profile("morning"), "App Launched", datetime(2026, 11, 1, 9, tzinfo=UTC)
    )
    rule = {
        "category": "single_action",
        "action": {"event": "App Launched"},
        "window": {"kind": "between", "start": "2026-11-02", "end": "2026-11-02"},
    }

    assert audience.members({**rule, "timezone": "Europe/Berlin"}) == {"late_evening"}
    assert audience.members({**rule, "timezone": "UTC"}) == set()
    assert audience.members({**rule, "window": {"kind": "ever"}}) == {"late_evening", "morning"}


def test_actions_needs_every_action_within_the_window(audience):
    both = audience.profile("both")
    audience.event(both, "App Launched", NOW - 2 * DAY)
    audience.event(both, "Notification Viewed", NOW - 3 * DAY)
    launched = audience.profile("launched_only")
    audience.event(launched, "App Launched", NOW - DAY)
    stale = audience.profile("viewed_too_long_ago")
    audience.event(stale, "App Launched", NOW - DAY)
    audience.event(stale, "Notification Viewed", NOW - 40 * DAY)
    rule = {
        "category": "actions",
        "actions": [{"event": "App Launched"}, {"event": "Notification Viewed"}],
        "window": {"kind": "last_days", "days": 30},
    }

    assert audience.members(rule) == {"both"}


def test_inaction_within_time(audience):
    cart = NOW - 2 * DAY
    hour = timedelta(hours=1)
    cases = {
        "never_charged": [("Added To Cart", cart)],
        "charged_in_time": [("Added To Cart", cart), ("Charged", cart + hour / 2)],
        "charged_at_the_deadline": [("Added To Cart", cart), ("Charged", cart + hour)],
        "charged_too_late": [
            ("Added To Cart", cart),
            ("Charged", cart + hour + timedelta(minutes=1)),
        ],
        "charged_before_the_cart": [("Charged", cart - hour / 6), ("Added To Cart", cart)],
        "still_has_time": [("Added To Cart", NOW - hour / 2)],
        "outside_the_window": [("Added To Cart", NOW - 40 * DAY)],
        "second_cart_abandoned": [
            ("Added To Cart", cart - DAY),
            ("Charged", cart - DAY + hour / 2),
            ("Added To Cart", cart),
        ],
    }
    for identity, events in cases.items():
        profile = audience.profile(identity)
        for name, at in events:
            audience.event(profile, name, at)
    rule = {
        "category": "inaction_within_time",
        "action": {"event": "Added To Cart"},
        "missing": {"event": "Charged"},
        "within": {"value": 1, "unit": "hours"},
        "window": {"kind": "last_days", "days": 30},
    }

    assert audience.members(rule) == {
        "never_charged",
        "charged_too_late",
        "charged_before_the_cart",
        "second_cart_abandoned",
    }


def test_inaction_within_time_with_the_same_event_is_a_gap_in_activity(audience):
    # Seed 002: "User has not launched the app in three days."
    quiet = audience.profile("quiet_since")
    audience.event(quiet, "App Launched", NOW - 4 * DAY)
    busy = audience.profile("busy")
    for days in (6, 4, 2):
        audience.event(busy, "App Launched", NOW - days * DAY)
    rule = {
        "category": "inaction_within_time",
        "action": {"event": "App Launched"},
        "missing": {"event": "App Launched"},
        "within": {"value": 3, "unit": "days"},
        "window": {"kind": "last_days", "days": 7},
    }

    assert audience.members(rule) == {"quiet_since"}


def test_inaction(audience):
    cases = {
        "launched_never_viewed": [("App Launched", NOW - DAY, {})],
        "launched_then_viewed": [
            ("App Launched", NOW - 3 * DAY, {}),
            ("Notification Viewed", NOW - DAY, {}),
        ],
        "viewed_before_launching": [
            ("Notification Viewed", NOW - 3 * DAY, {}),
            ("App Launched", NOW - DAY, {}),
        ],
        "viewed_another_kind_after": [
            ("App Launched", NOW - 3 * DAY, {}),
            ("Notification Viewed", NOW - DAY, {"channel": "email"}),
        ],
        "never_launched": [],
    }
    for identity, events in cases.items():
        profile = audience.profile(identity)
        for name, at, properties in events:
            audience.event(profile, name, at, **properties)
    rule = {
        "category": "inaction",
        "action": {"event": "App Launched"},
        "missing": {
            "event": "Notification Viewed",
            "where": [{"property": "channel", "op": "ne", "value": "email"}],
        },
    }

    assert audience.members(rule) == {
        "launched_never_viewed",
        "viewed_before_launching",
        "viewed_another_kind_after",
    }


def test_date_property_of_the_profile(audience):
    audience.profile("born_today", birthday="1990-11-23")
    audience.profile("born_tomorrow", birthday="1990-11-24")
    audience.profile("born_today_with_a_time", birthday="1985-11-23T08:00:00Z")
    audience.profile("no_birthday")
    audience.profile("birthday_not_a_date", birthday="23 November")
    audience.profile("trial_ended_3_days_ago", trial_end="2026-11-20")
    audience.profile("trial_ended_4_days_ago", trial_end="2026-11-19")

    anniversary = {
        "category": "date_property",
        "date": {"source": "profile", "property": "birthday", "when": "anniversary"},
    }
    assert audience.members(anniversary) == {"born_today", "born_today_with_a_time"}
    three_days = {
        "category": "date_property",
        "date": {"source": "profile", "property": "trial_end", "when": "days_ago", "days": 3},
    }
    assert audience.members(three_days) == {"trial_ended_3_days_ago"}
    at_least = {**three_days, "date": {**three_days["date"], "when": "at_least_days_ago"}}
    assert audience.members(at_least) == {"trial_ended_3_days_ago", "trial_ended_4_days_ago"}


def test_date_property_of_an_event_in_the_rules_time_zone(audience):
    # 23:30 UTC on 23 November is already 24 November in Berlin: three days ago is the
    # 21st there, which runs from 23:00 UTC on the 20th to 23:00 UTC on the 21st.
    now = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    audience.event(
        audience.profile("berlin_21st"), "Charged", datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    )
    audience.event(
        audience.profile("berlin_20th"), "Charged", datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    )
    rule = {
        "category": "date_property",
        "timezone": "Europe/Berlin",
        "date": {"source": "event", "event": "Charged", "when": "days_ago", "days": 3},
    }

    assert audience.members(rule, now) == {"berlin_21st"}
    # In UTC it is still the 23rd, and both were on the 20th.
    assert audience.members({**rule, "timezone": "UTC"}, now) == {"berlin_21st", "berlin_20th"}


def test_date_property_held_by_an_event(audience):
    audience.event(
        audience.profile("flies_today"), "Flight Booked", NOW - 9 * DAY, flight_date="2026-11-23"
    )
    audience.event(
        audience.profile("flies_later"), "Flight Booked", NOW - DAY, flight_date="2026-12-01"
    )
    audience.event(audience.profile("booked_today"), "Flight Booked", NOW, flight_date="2027-01-05")
    rule = {
        "category": "date_property",
        "date": {
            "source": "event",
            "event": "Flight Booked",
            "property": "flight_date",
            "when": "today",
        },
    }

    assert audience.members(rule) == {"flies_today"}


def test_actions_with_user_properties(audience):
    canada = audience.profile("canada_charged", country="Canada")
    audience.event(canada, "Charged", NOW - DAY)
    audience.profile("canada_never_charged", country="Canada")
    audience.event(audience.profile("us_charged", country="United States"), "Charged", NOW - DAY)
    audience.event(audience.profile("no_country_charged"), "Charged", NOW - DAY)
    in_canada = [{"property": "country", "op": "eq", "value": "Canada"}]
    charged = {"event": "Charged"}

    rule = {"category": "user_properties", "action": charged, "profile": in_canada}
    assert audience.members(rule) == {"canada_charged"}
    assert audience.members({**rule, "performed": False}) == {"canada_never_charged"}
    assert audience.members({"category": "user_properties", "profile": in_canada}) == {
        "canada_charged",
        "canada_never_charged",
    }
    elsewhere = [{"property": "country", "op": "ne", "value": "Canada"}]
    assert audience.members({**rule, "profile": elsewhere}) == {"us_charged", "no_country_charged"}


def test_profile_conditions_filter_any_category(audience):
    gold = audience.profile("gold", plan="gold")
    audience.event(gold, "App Launched", NOW - DAY)
    audience.event(audience.profile("free", plan="free"), "App Launched", NOW - DAY)
    rule = {
        "category": "single_action",
        "action": {"event": "App Launched"},
        "profile": [{"property": "plan", "op": "in", "value": ["gold", "platinum"]}],
    }

    assert audience.members(rule) == {"gold"}


def test_a_snapshot_counts_and_streams_one_evaluation_and_cleans_up(audience):
    from campaigns.segments import evaluate, rules

    for number in range(5):
        audience.event(audience.profile(f"user-{number}"), "App Launched", NOW - DAY)
    rule = rules.parse({"category": "single_action", "action": {"event": "App Launched"}})

    with evaluate.snapshot(rule, NOW) as members:
        audience.event(audience.profile("late"), "App Launched", NOW - DAY)  # not in it
        chunks = list(members.chunks(2))
        table = members._table

    assert members.count == 5
    assert [len(chunk) for chunk in chunks] == [2, 2, 1]
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table}")  # dropped
