"""Event_properties on scheduled campaigns: each member's latest qualifying event's
properties when the segment is built on an action, {} when it is not (seed 002's sample
payload fills them: Score, Game Mode, Rating)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.sending import fanout
from deliveries.models import Delivery
from tests.factories import make_campaign, make_profile, make_profile_event

PRACTICE = {"property": "Game Mode", "op": "eq", "value": "Practice"}
CUSTOM_BODY = '{"id": {{ profile.Identity | json }}, "ev": {{ profile.Event_properties | json }}}'


def played(profile, days_ago: float, mode: str, score: int, name: str = "Game Played"):
    make_profile_event(
        profile,
        name,
        properties={"Score": score, "Game Mode": mode, "Rating": 1},
        occurred_at=timezone.now() - timedelta(days=days_ago),
    )


@pytest.fixture
def players(transactional_db):
    """Committed: on PostgreSQL the members are read by a second connection."""
    ann, bob, cid = (
        make_profile(identity=name, properties={"plan": "gold"}) for name in ("ann", "bob", "cid")
    )
    played(ann, 5, "Practice", 900)  # qualifies, but an earlier one
    played(ann, 4, "Practice", 1200)  # ann's latest qualifying event
    played(ann, 4 - 1 / 24, "Tournament", 1500)  # later, but not where Game Mode is Practice
    played(ann, 1, "Practice", 2000)  # later, but after the window's end
    played(ann, 0.5, "Practice", 3000, name="App Launched")  # another event
    played(bob, 5, "Practice", 500)
    played(cid, 4, "Tournament", 700)  # not a member
    return ann, bob, cid


def between(days_from: int, days_to: int) -> dict:
    today = timezone.now().date()
    return {
        "kind": "between",
        "start": (today - timedelta(days=days_from)).isoformat(),
        "end": (today - timedelta(days=days_to)).isoformat(),
    }


def sent_event_properties(campaign: Campaign) -> dict[str, dict]:
    """Each identity's Event_properties, as the deliveries' bodies hold them."""
    found = {}
    for delivery in Delivery.objects.filter(campaign=campaign):
        if isinstance(delivery.payload, str):  # a custom body, one profile each
            body = json.loads(delivery.payload)
            found[body["id"]] = body["ev"]
        else:
            for entry in delivery.payload["profiles"]:
                found[entry["Identity"]] = entry["Event_properties"]
    return found


def sale(rule: dict, body_mode: str) -> Campaign:
    return make_campaign(
        name="Practice makes perfect",
        rule=rule,
        status="running",
        batch_size=1 if body_mode == "custom" else 10,
        body_mode=body_mode,
        custom_body=CUSTOM_BODY,
        profile_fields=["Identity", "Event_properties"],
    )


@pytest.mark.parametrize("body_mode", ["profile_variables", "custom"])
def test_a_single_action_campaign_sends_each_members_latest_qualifying_event(players, body_mode):
    rule = {
        "category": "single_action",
        "action": {"event": "Game Played", "where": [PRACTICE]},
        "window": between(6, 3),
    }
    campaign = sale(rule, body_mode)

    fanout.run_occurrence(campaign.pk, "manual-1")

    assert sent_event_properties(campaign) == {
        "ann": {"Score": 1200, "Game Mode": "Practice", "Rating": 1},
        "bob": {"Score": 500, "Game Mode": "Practice", "Rating": 1},
    }


@pytest.mark.parametrize("body_mode", ["profile_variables", "custom"])
def test_with_several_actions_the_latest_of_any_of_them_is_sent(players, body_mode):
    rule = {
        "category": "actions",
        "actions": [
            {"event": "Game Played", "where": [PRACTICE]},
            {"event": "App Launched"},
        ],
        "window": {"kind": "last_days", "days": 30},
    }
    campaign = sale(rule, body_mode)

    fanout.run_occurrence(campaign.pk, "manual-1")

    assert sent_event_properties(campaign) == {
        "ann": {"Score": 3000, "Game Mode": "Practice", "Rating": 1}  # App Launched
    }


@pytest.mark.parametrize("body_mode", ["profile_variables", "custom"])
def test_an_inaction_campaign_sends_the_action_the_missing_event_did_not_follow(players, body_mode):
    ann, bob, _ = players
    played(bob, 4.5, "Practice", 600, name="Shared")  # after bob's game: his does not qualify
    rule = {
        "category": "inaction",
        "action": {"event": "Game Played", "where": [PRACTICE]},
        "missing": {"event": "Shared"},
    }
    played(ann, 3, "Practice", 1300, name="Shared")  # after ann's 900 and 1200, not her 2000
    campaign = sale(rule, body_mode)

    fanout.run_occurrence(campaign.pk, "manual-1")

    assert sent_event_properties(campaign) == {
        "ann": {"Score": 2000, "Game Mode": "Practice", "Rating": 1}
    }


@pytest.mark.parametrize("body_mode", ["profile_variables", "custom"])
def test_a_segment_not_built_on_an_action_sends_no_event_properties(players, body_mode):
    rule = {"category": "user_properties", "profile": [{"property": "plan", "op": "exists"}]}
    campaign = sale(rule, body_mode)

    fanout.run_occurrence(campaign.pk, "manual-1")

    assert sent_event_properties(campaign) == {"ann": {}, "bob": {}, "cid": {}}
