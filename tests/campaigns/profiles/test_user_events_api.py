"""POST /api/v1/events with an identity: a user event, kept with the profile."""

import json
from datetime import UTC, datetime

import pytest

from campaigns.models import Profile, ProfileEvent
from campaigns.profiles import records
from deliveries.models import Delivery
from tests.factories import make_event_type, make_webhook
from webhooks.models import ApiKey, Event

URL = "/api/v1/events"


@pytest.fixture
def raw_key(db):
    _, raw_key = ApiKey.issue("App")
    return raw_key


def post(client, body, key):
    data = body if isinstance(body, str) else json.dumps(body)
    headers = {"Authorization": f"Bearer {key}"}
    return client.post(URL, data, content_type="application/json", headers=headers)


def test_an_uncatalogued_event_is_kept_with_a_new_profile(client, raw_key):
    body = {
        "event_type": "Charged",
        "payload": {"amount": 12.5},
        "identity": "user-1",
        "occurred_at": "2026-11-20T10:00:00+02:00",
    }
    response = post(client, body, raw_key)

    assert response.status_code == 202
    assert response.json() == {
        "id": None,
        "event_type": "Charged",
        "occurred_at": "2026-11-20T08:00:00Z",
        "idempotency_key": None,
        "deliveries": 0,
        "duplicate": False,
        "identity": "user-1",
        "recorded_for_profile": True,
    }
    event = ProfileEvent.objects.select_related("profile").get()
    assert event.profile.identity == "user-1"
    assert (event.name, event.properties) == ("Charged", {"amount": 12.5})
    assert event.occurred_at == datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert not Event.objects.exists()  # nothing to deliver


def test_an_event_of_a_known_profile_is_added_to_its_events(client, raw_key):
    profile = Profile.objects.create(identity="user-1", properties={"country": "Canada"})
    post(client, {"event_type": "App Launched", "payload": {}, "identity": "user-1"}, raw_key)
    post(client, {"event_type": "App Launched", "payload": {}, "identity": "user-1"}, raw_key)

    assert Profile.objects.get() == profile
    assert profile.events.count() == 2
    assert Profile.objects.get().properties == {"country": "Canada"}


def test_a_time_without_an_offset_is_utc(client, raw_key):
    body = {"event_type": "A", "payload": {}, "identity": "u", "occurred_at": "2026-01-02T03:04"}
    post(client, body, raw_key)
    assert ProfileEvent.objects.get().occurred_at == datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


def test_without_a_time_the_event_happened_now(client, raw_key):
    before = datetime.now(UTC)
    response = post(client, {"event_type": "A", "payload": {}, "identity": "u"}, raw_key)
    event = ProfileEvent.objects.get()
    assert before <= event.occurred_at <= datetime.now(UTC)
    answered = datetime.fromisoformat(response.json()["occurred_at"])
    assert abs((answered - event.occurred_at).total_seconds()) < 0.001  # shown to the ms


def test_a_catalogued_user_event_is_also_delivered_with_its_time(client, raw_key):
    kind = make_event_type(name="license.assigned")
    make_webhook(event_types=[kind])
    body = {
        "event_type": "license.assigned",
        "payload": {"license": 7},
        "identity": "user-1",
        "occurred_at": "2026-11-20T08:00:00Z",
    }
    response = post(client, body, raw_key)

    event = Event.objects.get()
    assert response.json() == {
        "id": event.pk,
        "event_type": "license.assigned",
        "occurred_at": "2026-11-20T08:00:00Z",
        "idempotency_key": None,
        "deliveries": 1,
        "duplicate": False,
        "identity": "user-1",
        "recorded_for_profile": True,
    }
    assert event.occurred_at == datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert Delivery.objects.filter(event=event).count() == 1
    profile_event = ProfileEvent.objects.get()
    assert profile_event.occurred_at == event.occurred_at
    assert profile_event.properties == {"license": 7}


def test_a_repeated_idempotency_key_records_the_user_event_once(client, raw_key):
    make_event_type(name="order.paid")
    body = {"event_type": "order.paid", "payload": {}, "identity": "u", "idempotency_key": "o-1"}
    first = post(client, body, raw_key)
    again = post(client, body, raw_key)

    assert first.json()["recorded_for_profile"] is True
    assert again.json() == {**first.json(), "duplicate": True, "recorded_for_profile": False}
    assert ProfileEvent.objects.count() == 1


def test_an_uncatalogued_user_event_takes_no_idempotency_key(client, raw_key):
    body = {"event_type": "Charged", "payload": {}, "identity": "u", "idempotency_key": "k"}
    response = post(client, body, raw_key)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "payload", "idempotency_key"]
    assert error["type"] == "unknown_event_type"
    assert not Profile.objects.exists()


def test_a_time_without_an_identity_answers_422(client, raw_key):
    make_event_type(name="license.assigned")
    body = {"event_type": "license.assigned", "payload": {}, "occurred_at": "2026-11-20T08:00Z"}
    response = post(client, body, raw_key)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "payload", "occurred_at"]
    assert not Event.objects.exists()


def test_an_event_without_an_identity_answers_as_before(client, raw_key):
    make_event_type(name="license.assigned")
    response = post(client, {"event_type": "license.assigned", "payload": {}}, raw_key)
    assert set(response.json()) == {
        "id",
        "event_type",
        "occurred_at",
        "idempotency_key",
        "deliveries",
        "duplicate",
    }
    assert not ProfileEvent.objects.exists()
    response = post(client, {"event_type": "Charged", "payload": {}}, raw_key)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "unknown_event_type"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"identity": "u\x00"}, "identity"),
        ({"identity": "u" * 201}, "identity"),
        ({"identity": ""}, "identity"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "0001-01-01T00:00:00+01:00"}, "occurred_at"),
    ],
    ids=["nul", "too-long", "empty", "not-a-time", "before-year-1"],
)
def test_invalid_user_event_fields_answer_422(client, raw_key, overrides, field):
    body = {"event_type": "Charged", "payload": {}, "identity": "u", **overrides}
    response = post(client, body, raw_key)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "payload", field]
    assert not Profile.objects.exists()


def test_a_failing_receiver_rolls_the_whole_event_back(client, raw_key, monkeypatch):
    make_event_type(name="license.assigned")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(records, "record_event", broken)
    body = {"event_type": "license.assigned", "payload": {}, "identity": "u"}
    with pytest.raises(RuntimeError):
        post(client, body, raw_key)
    assert not Event.objects.exists()
    assert not Delivery.objects.exists()


def test_record_event_creates_a_bare_profile_once(db):
    first = records.record_event("u", "A", {"k": 1})
    second = records.record_event("u", "B", {}, datetime(2026, 1, 1, tzinfo=UTC))
    assert first.profile_id == second.profile_id
    assert Profile.objects.get().properties == {}


def test_the_openapi_schema_documents_user_events(admin_client):
    schema = admin_client.get("/api/v1/openapi.json").json()
    operation = schema["paths"][URL]["post"]
    assert "identity" in operation["description"]
    components = schema["components"]["schemas"]
    assert {"identity", "occurred_at"} <= set(components["EventIn"]["properties"])
    assert {"identity", "recorded_for_profile"} <= set(components["EventOut"]["properties"])
