"""Profile-variables bodies against seed 002's sample payload, key for key."""

import json

import pytest

from campaigns.content.payload import (
    PROFILE_FIELDS,
    Recipient,
    profile_entry,
    profile_variables_body,
)

# Seed 002's "Sample Payload", verbatim.
SEED_SAMPLE = """
{
    "targetId": 1472124953,
    "key_values": {
        "PromoCode": "MT50",
        "PowerUser": "true"
    },
    "profiles": [
        {
            "Email": "jack@gmail.com",
            "Identity": "foo",
            "ObjectId": "-g55b74fb1030740e4a4931910a8abb862",
            "ProfileData": {
                "Last Score": 308,
                "High Score": 308,
                "Replayed": true
            },
            "Event_properties": {
                "Score": 1200,
                "Game Mode": "Practice",
                "Rating": 1
            },
            "Push_token": "19403aa5d3bb376769a8101c9cbf22159cb1836117659cc684a71243589982ea"
        },
        {
            "Email": "jill@gmail.com",
            "Identity": "bar",
            "ObjectId": "__g09c9bf3b0d374a259c86f5b855ec9b19",
            "ProfileData": {
                "Last Score": 309,
                "High Score": 309,
                "Replayed": true
            },
            "Event_properties": {
                "Score": 500,
                "Game Mode": "Tournament",
                "Rating": 2
            },
            "Push_token": "fiCjRO_opjw:APA91bH0yzS_eBj1Xx8TcakMzz4yTc3id29A79GOjnaaMtIQLrjztNfzzRz7slqWmNzndECx_hHh7qiL0LZJOkGwzr9Zp_g1mC9B6BVuEbsjrMFoxXX830zMRuvxtU_AhFTC0JPHejZh"
        }
    ]
}
"""  # noqa: E501

JACK = Recipient(
    identity="foo",
    email="jack@gmail.com",
    object_id="-g55b74fb1030740e4a4931910a8abb862",
    push_token="19403aa5d3bb376769a8101c9cbf22159cb1836117659cc684a71243589982ea",
    properties={"Last Score": 308, "High Score": 308, "Replayed": True, "country": "CA"},
    event_properties={"Score": 1200, "Game Mode": "Practice", "Rating": 1},
)
JILL = Recipient(
    identity="bar",
    email="jill@gmail.com",
    object_id="__g09c9bf3b0d374a259c86f5b855ec9b19",
    push_token=(
        "fiCjRO_opjw:APA91bH0yzS_eBj1Xx8TcakMzz4yTc3id29A79GOjnaaMtIQLrjztNfzzRz7slqWmNzndEC"
        "x_hHh7qiL0LZJOkGwzr9Zp_g1mC9B6BVuEbsjrMFoxXX830zMRuvxtU_AhFTC0JPHejZh"
    ),
    properties={"Last Score": 309, "High Score": 309, "Replayed": True},
    event_properties={"Score": 500, "Game Mode": "Tournament", "Rating": 2},
)
SCORES = ["Last Score", "High Score", "Replayed"]


def test_body_is_the_seed_sample_key_for_key_and_in_order():
    entries = [profile_entry(r, PROFILE_FIELDS, SCORES) for r in (JACK, JILL)]
    body = profile_variables_body(1472124953, {"PromoCode": "MT50", "PowerUser": "true"}, entries)

    sample = json.loads(SEED_SAMPLE)
    assert body == sample
    # Same text once serialized, so key order matches the sample's too.
    assert json.dumps(body) == json.dumps(sample)
    assert list(body["profiles"][0]) == PROFILE_FIELDS


def test_entry_holds_only_the_chosen_fields_in_the_seed_order():
    entry = profile_entry(JACK, ["Push_token", "Email"], None)

    assert entry == {"Email": "jack@gmail.com", "Push_token": JACK.push_token}
    assert list(entry) == ["Email", "Push_token"]


def test_profile_data_holds_every_property_when_none_are_chosen():
    assert profile_entry(JACK, ["ProfileData"], None) == {"ProfileData": JACK.properties}


def test_profile_data_leaves_out_properties_the_profile_lacks():
    entry = profile_entry(JILL, ["ProfileData"], ["country", "High Score"])

    assert entry == {"ProfileData": {"High Score": 309}}


def test_no_chosen_properties_means_empty_profile_data():
    assert profile_entry(JACK, ["ProfileData"], []) == {"ProfileData": {}}


def test_event_properties_are_empty_without_a_triggering_event():
    recipient = Recipient(identity="anon", properties={"a": 1})

    entry = profile_entry(recipient, PROFILE_FIELDS, None)

    assert entry["Event_properties"] == {}
    assert entry["Email"] == ""


def test_unknown_field_is_refused():
    with pytest.raises(ValueError, match="Phone"):
        profile_entry(JACK, ["Email", "Phone"], None)


def test_body_with_no_key_values_and_no_profiles_keeps_its_shape():
    assert profile_variables_body(5, {}, []) == {"targetId": 5, "key_values": {}, "profiles": []}
