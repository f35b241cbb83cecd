"""The segments API: preview a rule, page through a saved segment, list segments."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from campaigns.models import Profile
from tests.factories import make_profile, make_profile_event, make_segment
from webhooks.models import ApiKey

LAUNCHED = {"category": "single_action", "action": {"event": "App Launched"}}


@pytest.fixture
def raw_key(db):
    _, raw_key = ApiKey.issue("CRM")
    return raw_key


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def preview(client, rule, key):
    data = rule if isinstance(rule, str) else json.dumps(rule)
    return client.post(
        "/api/v1/segments/preview", data, content_type="application/json", headers=auth(key)
    )


def members(client, segment, key, **query):
    return client.get(f"/api/v1/segments/{segment.pk}/members", query, headers=auth(key))


def launched(*identities):
    """Profiles that launched the app, created in this order."""
    now = datetime.now(UTC) - timedelta(hours=1)
    for identity in identities:
        make_profile_event(make_profile(identity=identity), "App Launched", occurred_at=now)


def test_a_preview_counts_and_samples_the_members(client, raw_key):
    launched(*[f"user-{n:02}" for n in range(12, 0, -1)])
    make_profile(identity="idle")

    response = preview(client, LAUNCHED, raw_key)

    assert response.status_code == 200
    assert response.json() == {"count": 12, "sample": [f"user-{n:02}" for n in range(1, 11)]}


def test_a_preview_applies_profile_filters(client, raw_key):
    launched("a", "b")
    Profile.objects.filter(identity="a").update(properties={"country": "Canada"})
    rule = {**LAUNCHED, "profile": [{"property": "country", "op": "eq", "value": "Canada"}]}
    assert preview(client, rule, raw_key).json() == {"count": 1, "sample": ["a"]}


def test_user_events_sent_to_the_events_api_count(client, raw_key):
    body = {"event_type": "App Launched", "payload": {}, "identity": "user-1"}
    client.post("/api/v1/events", body, content_type="application/json", headers=auth(raw_key))
    assert preview(client, LAUNCHED, raw_key).json() == {"count": 1, "sample": ["user-1"]}


def test_an_invalid_rule_answers_422(client, raw_key):
    rule = {"category": "single_action", "action": {"event": ""}, "colour": "red"}
    response = preview(client, rule, raw_key)

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["body", "rule", "single_action", "action", "event"],
                "msg": "String should have at least 1 character",
                "type": "string_too_short",
            },
            {
                "loc": ["body", "rule", "single_action", "colour"],
                "msg": "Extra inputs are not permitted",
                "type": "extra_forbidden",
            },
        ]
    }


@pytest.mark.parametrize(
    "rule",
    [
        {"category": "no_such_category"},
        {"action": {"event": "A"}},
        [],
        '{"category": ',
        {**LAUNCHED, "profile": [{"property": "country", "op": "gt", "value": True}]},
    ],
    ids=["unknown-category", "no-category", "not-an-object", "malformed", "bad-filter"],
)
def test_rules_that_are_not_rules_answer_422(client, raw_key, rule):
    response = preview(client, rule, raw_key)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


@pytest.mark.parametrize(
    "rule",
    [
        {"category": "single_action", "action": {"event": "A\x00"}},
        {**LAUNCHED, "profile": [{"property": "c\x00", "op": "eq", "value": "x"}]},
        '{"category": "single_action", "action": {"event": "\\ud800"}}',
    ],
    ids=["nul-event", "nul-property", "surrogate"],
)
def test_text_postgresql_cannot_store_answers_422(client, raw_key, rule):
    response = preview(client, rule, raw_key)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][:2] == ["body", "rule"]  # pydantic itself refuses a surrogate


def test_members_page_through_with_a_cursor(client, raw_key):
    launched("e", "d", "c", "b", "a")
    segment = make_segment(name="Launched")

    first = members(client, segment, raw_key, limit=2, count="true").json()
    second = members(client, segment, raw_key, limit=2, cursor=first["next_cursor"]).json()
    last = members(client, segment, raw_key, limit=2, cursor=second["next_cursor"]).json()

    assert first["identities"] == ["e", "d"] and first["count"] == 5
    assert second["identities"] == ["c", "b"] and second["count"] is None
    assert last == {"identities": ["a"], "next_cursor": None, "count": None}


def test_a_full_last_page_has_no_next_cursor(client, raw_key):
    launched("a", "b")
    segment = make_segment(name="Launched")
    page = members(client, segment, raw_key, limit=2).json()
    assert page == {"identities": ["a", "b"], "next_cursor": None, "count": None}


def test_members_default_to_pages_of_100(client, raw_key):
    launched(*[f"u{n:03}" for n in range(101)])
    segment = make_segment(name="Launched")
    page = members(client, segment, raw_key).json()
    assert len(page["identities"]) == 100 and page["next_cursor"]


def encoded(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "%%%",
        encoded({"id": 3}),
        encoded([1]),
        encoded([1, "3"]),
        encoded([1, 0]),
        encoded([1, 2**63]),
        encoded([1, True]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_bad_cursor_answers_422(client, raw_key, cursor):
    segment = make_segment(name="Launched")
    response = members(client, segment, raw_key, cursor=cursor)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "cursor"]
    assert error["msg"].startswith("Invalid cursor")


def test_a_cursor_of_another_segment_answers_422(client, raw_key):
    launched("a", "b")
    one = make_segment(name="One")
    other = make_segment(name="Other")
    cursor = members(client, one, raw_key, limit=1).json()["next_cursor"]

    response = members(client, other, raw_key, cursor=cursor)
    assert response.status_code == 422
    assert "another segment" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("limit", ["0", "1001", "x"])
def test_a_limit_out_of_range_answers_422(client, raw_key, limit):
    segment = make_segment(name="Launched")
    response = members(client, segment, raw_key, limit=limit)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_an_unknown_segment_answers_404(client, raw_key):
    for segment_id in (12345, 2**63 - 1):
        response = client.get(f"/api/v1/segments/{segment_id}/members", headers=auth(raw_key))
        assert response.status_code == 404
        assert response.json() == {"detail": f"Segment {segment_id} not found."}
    response = client.get(f"/api/v1/segments/{2**63}/members", headers=auth(raw_key))
    assert response.status_code == 422


def test_a_segment_whose_rule_is_no_longer_valid_answers_409(client, raw_key):
    segment = make_segment({"category": "gone"}, name="Old")
    response = members(client, segment, raw_key)
    assert response.status_code == 409
    assert "no longer valid" in response.json()["detail"]


def test_it_lists_the_saved_segments(client, raw_key):
    b = make_segment(name="B", description="Second")
    a = make_segment(name="A")
    response = client.get("/api/v1/segments", headers=auth(raw_key))
    assert response.json() == {
        "segments": [
            {"id": a.pk, "name": "A", "description": ""},
            {"id": b.pk, "name": "B", "description": "Second"},
        ]
    }


def test_every_endpoint_needs_an_api_key(client, db):
    segment = make_segment(name="Launched")
    assert client.get("/api/v1/segments").status_code == 401
    assert client.get(f"/api/v1/segments/{segment.pk}/members").status_code == 401
    response = client.post(
        "/api/v1/segments/preview", json.dumps(LAUNCHED), content_type="application/json"
    )
    assert response.status_code == 401


def test_the_openapi_schema_holds_the_rule_schema(admin_client):
    schema = admin_client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/segments/preview"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "category"
    refs = {ref["$ref"].rsplit("/", 1)[-1] for ref in body["oneOf"]}
    assert refs == {
        "SingleAction",
        "Actions",
        "InactionWithinTime",
        "Inaction",
        "DateProperty",
        "UserProperties",
    }
    components = schema["components"]["schemas"]
    assert refs | {"Action", "PropertyFilter", "Window"} <= set(components)
    members_op = schema["paths"]["/api/v1/segments/{segment_id}/members"]["get"]
    assert set(members_op["responses"]) == {"200", "401", "404", "409", "422"}
    assert set(components["MembersOut"]["properties"]) == {"identities", "next_cursor", "count"}
    assert "/api/v1/segments" in schema["paths"]


@pytest.mark.parametrize(
    "rule",
    [
        {**LAUNCHED, "window": {"kind": "last_days", "days": False}},
        {**LAUNCHED, "window": {"kind": "last_days", "days": "7"}},
        {**LAUNCHED, "window": {"kind": "last_days", "days": 7.0}},
        {
            "category": "user_properties",
            "profile": [{"property": "country", "op": "exists"}],
            "performed": "no",
        },
    ],
)
def test_counts_and_yes_no_fields_take_only_what_the_schema_says(client, raw_key, rule):
    response = preview(client, rule, raw_key)

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] in ("int_type", "bool_type")
