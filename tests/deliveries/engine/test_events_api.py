import json
import logging

import pytest
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from django.utils import timezone

from deliveries.engine.emit import MAX_PAYLOAD_BYTES
from deliveries.models import Delivery, DeliveryStatus
from tests.factories import make_event_type, make_webhook
from webhooks.models import LAST_USED_PRECISION, ApiKey, Event

URL = "/api/v1/events"


@pytest.fixture
def raw_key(db):
    _, raw_key = ApiKey.issue("CRM")
    return raw_key


@pytest.fixture
def event_type(db):
    return make_event_type(name="license.assigned")


def post(client, body, key=None, **headers):
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, data, content_type="application/json", headers=headers)


def event_body(**overrides):
    return {"event_type": "license.assigned", "payload": {"license": 7}, **overrides}


def test_it_records_the_event_and_a_delivery_per_subscribed_webhook(
    client, raw_key, event_type, django_capture_on_commit_callbacks
):
    active = make_webhook(event_types=[event_type])
    disabled = make_webhook(event_types=[event_type], is_active=False)
    make_webhook(event_types=[make_event_type()])  # subscribed to something else
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(client, event_body(payload={"license": 7, "user": "ada"}), raw_key)

    assert response.status_code == 202
    event = Event.objects.get()
    assert response.json() == {
        "id": event.pk,
        "event_type": "license.assigned",
        "occurred_at": response.json()["occurred_at"],
        "idempotency_key": None,
        "deliveries": 2,
        "duplicate": False,
    }
    assert event.payload == {"license": 7, "user": "ada"}
    statuses = dict(Delivery.objects.filter(event=event).values_list("webhook", "status"))
    assert statuses == {
        active.pk: DeliveryStatus.PENDING,
        disabled.pk: DeliveryStatus.NOT_TRIGGERED,
    }
    assert len(callbacks) == 1  # the sender is woken once the transaction commits


def test_it_accepts_an_event_no_webhook_subscribes_to(client, raw_key, event_type):
    response = post(client, event_body(), raw_key)
    assert response.status_code == 202
    assert response.json()["deliveries"] == 0


def test_it_marks_the_key_as_used(client, raw_key, event_type):
    before = timezone.now()
    post(client, event_body(), raw_key)
    assert ApiKey.objects.get().last_used_at >= before


def test_it_writes_the_keys_last_use_at_most_once_a_minute(client, raw_key, event_type):
    post(client, event_body(), raw_key)
    first = ApiKey.objects.get().last_used_at
    with CaptureQueriesContext(connection) as captured:
        post(client, event_body(), raw_key)
    assert ApiKey.objects.get().last_used_at == first
    assert not [q for q in captured if q["sql"].startswith('UPDATE "webhooks_apikey"')]

    ApiKey.objects.update(last_used_at=first - LAST_USED_PRECISION)
    post(client, event_body(), raw_key)
    assert ApiKey.objects.get().last_used_at > first


def test_it_needs_no_csrf_token(raw_key, event_type):
    response = post(Client(enforce_csrf_checks=True), event_body(), raw_key)
    assert response.status_code == 202


def test_it_rejects_get(client, raw_key):
    response = client.get(URL, headers={"Authorization": f"Bearer {raw_key}"})
    assert response.status_code == 405


def test_it_answers_401_without_a_key(client, event_type):
    response = post(client, event_body())
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "Bearer" in response.json()["detail"]
    assert not Event.objects.exists()


def test_it_answers_401_with_a_wrong_key(client, raw_key, event_type):
    response = post(client, event_body(), raw_key + "x")
    assert response.status_code == 401
    assert raw_key not in response.content.decode()
    assert not Event.objects.exists()


def test_it_answers_401_with_a_revoked_key(client, raw_key, event_type):
    ApiKey.objects.update(revoked_at=timezone.now())
    response = post(client, event_body(), raw_key)
    assert response.status_code == 401
    assert not Event.objects.exists()


@pytest.mark.parametrize("scheme", ["Basic", "Token", ""])
def test_it_answers_401_for_a_key_without_the_bearer_scheme(
    client, raw_key, event_type, settings, caplog, scheme
):
    settings.DEBUG = True  # ninja's own HttpBearer logs such a header in DEBUG
    with caplog.at_level(logging.DEBUG):
        response = post(client, event_body(), Authorization=f"{scheme} {raw_key}".strip())
    assert response.status_code == 401
    assert raw_key not in caplog.text
    assert raw_key not in response.content.decode()


def test_it_answers_422_for_missing_fields(client, raw_key):
    response = post(client, {}, raw_key)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": ["body", "payload", "event_type"], "msg": "Field required", "type": "missing"},
            {"loc": ["body", "payload", "payload"], "msg": "Field required", "type": "missing"},
        ]
    }


def test_it_answers_422_for_an_empty_body(client, raw_key):
    response = post(client, "", raw_key)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"loc": ["body", "payload"], "msg": "Field required", "type": "missing"}]
    }


def test_it_answers_422_for_wrong_types(client, raw_key, event_type):
    body = {"event_type": 1, "payload": ["not", "an", "object"], "idempotency_key": "k" * 201}
    response = post(client, body, raw_key)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["body", "payload", "event_type"],
                "msg": "Input should be a valid string",
                "type": "string_type",
            },
            {
                "loc": ["body", "payload", "payload"],
                "msg": "Input should be a valid dictionary",
                "type": "dict_type",
            },
            {
                "loc": ["body", "payload", "idempotency_key"],
                "msg": "String should have at most 200 characters",
                "type": "string_too_long",
            },
        ]
    }
    assert not Event.objects.exists()


@pytest.mark.parametrize("body", [[{"event_type": "license.assigned", "payload": {}}], 5, None])
def test_it_answers_422_for_a_body_that_is_not_an_object(client, raw_key, body):
    response = post(client, body, raw_key)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["body", "payload"],
                "msg": "Input should be a valid dictionary or instance of EventIn",
                "type": "model_type",
            }
        ]
    }


@pytest.mark.parametrize("occurred_at", [0, 1_700_000_000, 1.5, True, [], {}])
def test_it_answers_422_for_a_time_that_is_not_iso_text(client, raw_key, event_type, occurred_at):
    body = event_body(identity="u-1", occurred_at=occurred_at)
    response = post(client, body, raw_key)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "payload", "occurred_at"]
    assert "ISO 8601" in error["msg"]
    assert not Event.objects.exists()


def test_it_answers_422_for_an_unknown_field(client, raw_key, event_type):
    response = post(client, event_body(idempotencyKey="order-1"), raw_key)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["body", "payload", "idempotencyKey"],
                "msg": "Extra inputs are not permitted",
                "type": "extra_forbidden",
            }
        ]
    }


def test_it_answers_422_for_malformed_json(client, raw_key, event_type):
    response = post(client, '{"event_type": "license.assigned",', raw_key)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error == {
        "loc": ["body"],
        "msg": "Malformed JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 35 (char 34)",
        "type": "json_invalid",
    }


@pytest.mark.parametrize(
    "body",
    [
        b'{"event_type": "license.assigned", "payload": {"a": "\xff"}}',
        '{"event_type": "license.assigned", "payload": {"a": NaN}}',
        '{"event_type": "license.assigned", "payload": {"a": 1e400}}',
        '{"event_type": "license.assigned", "payload": {"a": ' + "1" * 5000 + "}}",
        "[" * 100_000,
    ],
    ids=["not-utf8", "nan", "infinite", "huge-integer", "nested-too-deep-to-parse"],
)
def test_it_answers_422_for_json_that_cannot_be_stored(client, raw_key, event_type, body):
    response = post(client, body, raw_key)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert error["type"] == "json_invalid"
    assert error["msg"].startswith("Malformed JSON: ")
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "msg"),
    [
        (event_body(payload={"a": "\x00"}), "payload", "NUL character"),
        (event_body(payload={"a\x00": 1}), "payload", "NUL character"),
        (event_body(event_type="license.assigned\x00"), "event_type", "NUL character"),
        (event_body(idempotency_key="k\x00"), "idempotency_key", "NUL character"),
        ('{"event_type": "license.assigned", "payload": {"a": "\\ud800"}}', "payload", "surrogate"),
        (event_body(payload={"a": json.loads("[" * 100 + "]" * 100)}), "payload", "deeper than"),
    ],
    ids=["nul-value", "nul-key", "nul-event-type", "nul-idempotency-key", "surrogate", "deep"],
)
def test_it_answers_422_for_text_postgresql_cannot_store(
    client, raw_key, event_type, body, field, msg
):
    response = post(client, body, raw_key)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "payload", field]
    assert error["type"] == "value_error"
    assert msg in error["msg"]
    assert not Event.objects.exists()


def test_it_accepts_a_payload_nested_100_levels_deep(client, raw_key, event_type):
    nested = json.loads("[" * 99 + "]" * 99)
    response = post(client, event_body(payload={"a": nested}), raw_key)
    assert response.status_code == 202


def test_it_answers_422_for_an_unknown_event_type(client, raw_key):
    response = post(client, event_body(event_type="x.y"), raw_key)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["body", "payload", "event_type"],
                "msg": "Unknown event type 'x.y'; add it to the event-type catalog first",
                "type": "unknown_event_type",
            }
        ]
    }
    assert not Event.objects.exists()


def padded_body(size):
    """An event body of exactly ``size`` bytes."""
    body = json.dumps(event_body(payload={"pad": ""}))
    return body.replace('"pad": ""', '"pad": "' + "x" * (size - len(body)) + '"')


def test_it_accepts_a_body_of_exactly_256_kib(client, raw_key, event_type):
    body = padded_body(MAX_PAYLOAD_BYTES)
    assert len(body.encode()) == MAX_PAYLOAD_BYTES
    assert post(client, body, raw_key).status_code == 202


def test_it_answers_413_for_a_body_over_256_kib(client, raw_key, event_type):
    response = post(client, padded_body(MAX_PAYLOAD_BYTES + 1), raw_key)
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than 256 KiB (262144 bytes)."}
    assert not Event.objects.exists()


def test_it_answers_413_for_a_body_over_djangos_upload_limit(client, raw_key, settings):
    body = padded_body(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 500_000)
    response = post(client, body, raw_key)
    assert response.status_code == 413
    assert "256 KiB" in response.json()["detail"]


def test_it_answers_413_when_the_body_is_longer_than_its_content_length(raw_key, event_type):
    request = RequestFactory().post(
        URL,
        padded_body(MAX_PAYLOAD_BYTES + 1),
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw_key}"},
    )
    request.META["CONTENT_LENGTH"] = "100"  # the stream still holds the whole body
    response = resolve(URL).func(request)
    assert response.status_code == 413
    assert not Event.objects.exists()


def test_a_repeated_idempotency_key_returns_the_first_event(client, raw_key, event_type):
    make_webhook(event_types=[event_type])
    first = post(client, event_body(idempotency_key="order-1"), raw_key)
    again = post(client, event_body(idempotency_key="order-1", payload={"other": 1}), raw_key)

    assert first.status_code == again.status_code == 202
    assert first.json()["duplicate"] is False
    assert again.json() == {**first.json(), "duplicate": True}
    assert again.json()["idempotency_key"] == "order-1"
    assert Event.objects.get().payload == {"license": 7}
    assert Delivery.objects.count() == 1


def test_different_idempotency_keys_record_different_events(client, raw_key, event_type):
    first = post(client, event_body(idempotency_key="order-1"), raw_key)
    second = post(client, event_body(idempotency_key="order-2"), raw_key)
    assert first.json()["id"] != second.json()["id"]
    assert Event.objects.count() == 2


def test_the_openapi_schema_documents_the_events_endpoint(admin_client):
    response = admin_client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    operation = schema["paths"]["/api/v1/events"]["post"]
    assert set(operation["responses"]) == {"202", "401", "413", "422"}
    body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref == "#/components/schemas/EventIn"
    components = schema["components"]["schemas"]
    assert set(components["EventIn"]["properties"]) == {
        "event_type",
        "payload",
        "idempotency_key",
        "ordering_key",
        "identity",
        "occurred_at",
    }
    assert set(components["EventOut"]["properties"]) == {
        "id",
        "event_type",
        "occurred_at",
        "idempotency_key",
        "deliveries",
        "duplicate",
        "identity",
        "recorded_for_profile",
    }
    assert set(components["ValidationError"]["properties"]) == {"loc", "msg", "type"}
    [security] = operation["security"]
    scheme = schema["components"]["securitySchemes"][next(iter(security))]
    assert scheme == {"type": "http", "scheme": "bearer"}


# POST /api/v1/events/batch

BATCH_URL = "/api/v1/events/batch"


def post_batch(client, events, key, **headers):
    headers["Authorization"] = f"Bearer {key}"
    data = events if isinstance(events, str | bytes) else json.dumps({"events": events})
    return client.post(BATCH_URL, data, content_type="application/json", headers=headers)


def test_a_batch_answers_a_result_per_event_in_order(client, raw_key, event_type):
    active = make_webhook(event_types=[event_type])
    paused = make_webhook(event_types=[event_type], is_active=False)
    events = [event_body(payload={"n": n}) for n in range(3)]

    response = post_batch(client, events, raw_key)

    assert response.status_code == 202
    answer = response.json()
    assert (answer["created"], answer["duplicates"], answer["errors"]) == (3, 0, 0)
    results = answer["results"]
    assert [r["status"] for r in results] == ["created"] * 3
    stored = {e.pk: e.payload for e in Event.objects.all()}
    assert [stored[r["event"]["id"]] for r in results] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert results[0]["event"] == {
        "id": results[0]["event"]["id"],
        "event_type": "license.assigned",
        "occurred_at": results[0]["event"]["occurred_at"],
        "idempotency_key": None,
        "deliveries": 2,
        "duplicate": False,
    }
    statuses = set(Delivery.objects.values_list("webhook", "status"))
    assert statuses == {(active.pk, "pending"), (paused.pk, "not_triggered")}
    assert Delivery.objects.count() == 6


def test_a_bad_event_fails_alone_in_its_place(client, raw_key, event_type):
    events = [
        event_body(payload={"n": 0}),
        event_body(event_type="x.y"),
        event_body(payload=["not", "an", "object"]),
        event_body(occurred_at="2026-11-20T08:00:00Z"),
        "not an object",
        event_body(payload={"n": 5}, extra=1),
        event_body(payload={"n": 6}),
    ]

    response = post_batch(client, events, raw_key)

    assert response.status_code == 202
    answer = response.json()
    assert [r["status"] for r in answer["results"]] == [
        "created", "error", "error", "error", "error", "error", "created",
    ]  # fmt: skip
    assert (answer["created"], answer["errors"]) == (2, 5)
    errors = [r.get("errors") for r in answer["results"]]
    prefix = ["body", "payload", "events"]
    assert errors[1] == [
        {
            "loc": [*prefix, 1, "event_type"],
            "msg": "Unknown event type 'x.y'; add it to the event-type catalog first",
            "type": "unknown_event_type",
        }
    ]
    assert errors[2] == [
        {
            "loc": [*prefix, 2, "payload"],
            "msg": "Input should be a valid dictionary",
            "type": "dict_type",
        }
    ]
    assert errors[3][0]["loc"] == [*prefix, 3, "occurred_at"]
    assert errors[3][0]["type"] == "identity_required"
    assert errors[4][0]["loc"] == [*prefix, 4]
    assert errors[5][0]["loc"] == [*prefix, 5, "extra"]
    assert sorted(e.payload["n"] for e in Event.objects.all()) == [0, 6]


@pytest.mark.parametrize(
    ("event", "field", "msg"),
    [
        (event_body(payload={"a": "\x00"}), "payload", "NUL character"),
        (event_body(idempotency_key="k\x00"), "idempotency_key", "NUL character"),
        (event_body(payload={"a": json.loads("[" * 100 + "]" * 100)}), "payload", "deeper than"),
        (event_body(identity="u", occurred_at="10000-01-01T00:00:00Z"), "occurred_at", ""),
        (event_body(identity="u", occurred_at="0001-01-01T00:00+01:00"), "occurred_at", "9999"),
        (event_body(idempotency_key="k" * 201), "idempotency_key", "at most 200"),
    ],
    ids=["nul", "nul-key", "deep", "year-10000", "year-0", "long-key"],
)
def test_an_event_the_single_endpoint_refuses_is_an_error_in_a_batch(
    client, raw_key, event_type, event, field, msg
):
    response = post_batch(client, [event, event_body()], raw_key)

    assert response.status_code == 202
    bad, good = response.json()["results"]
    assert good["status"] == "created"
    assert bad["status"] == "error"
    [error] = bad["errors"]
    assert error["loc"] == ["body", "payload", "events", 0, field]
    assert msg in error["msg"]
    assert Event.objects.count() == 1


def test_a_lone_surrogate_in_a_batch_is_an_error_of_its_event(client, raw_key, event_type):
    body = '{"events": [{"event_type": "license.assigned", "payload": {"a": "\\ud800"}}]}'
    [result] = post_batch(client, body, raw_key).json()["results"]
    assert result["errors"][0]["loc"] == ["body", "payload", "events", 0, "payload"]
    assert "surrogate" in result["errors"][0]["msg"]


@pytest.mark.parametrize(
    "body",
    [
        '{"events": [{"event_type": "license.assigned", "payload": {"a": NaN}}]}',
        '{"events": [{"event_type": "license.assigned", "payload": {"a": ' + "1" * 5000 + "}}]}",
        '{"events": [',
    ],
    ids=["nan", "huge-integer", "truncated"],
)
def test_a_batch_that_is_not_storable_json_answers_422(client, raw_key, event_type, body):
    response = post_batch(client, body, raw_key)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["type"] == "json_invalid"
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"events": []}, "too_short"),
        ({"events": [event_body()] * 1001}, "too_long"),
        ({}, "missing"),
        ([event_body()], "model_type"),
        ({"events": [event_body()], "other": 1}, "extra_forbidden"),
    ],
    ids=["empty", "over-1000", "no-events", "a-list", "unknown-field"],
)
def test_a_batch_of_the_wrong_shape_answers_422(client, raw_key, event_type, body, kind):
    response = post_batch(client, json.dumps(body), raw_key)
    assert response.status_code == 422
    assert kind in {error["type"] for error in response.json()["detail"]}
    assert not Event.objects.exists()


def test_a_batch_of_1000_events_is_accepted(client, raw_key, event_type):
    make_webhook(event_types=[event_type])
    response = post_batch(client, [event_body(payload={"n": n}) for n in range(1000)], raw_key)
    assert response.status_code == 202
    assert response.json()["created"] == 1000
    assert Delivery.objects.count() == 1000


def test_a_batch_over_2_mib_answers_413(client, raw_key, event_type):
    pad = "x" * (200 * 1024)
    body = json.dumps({"events": [event_body(payload={"pad": pad}) for _ in range(11)]})
    assert len(body) > 2 * 1024 * 1024
    response = post_batch(client, body, raw_key)
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is larger than 2048 KiB (2097152 bytes)."
    }
    assert not Event.objects.exists()


def test_an_event_over_256_kib_is_an_error_in_a_batch(client, raw_key, event_type):
    big = json.loads(padded_body(MAX_PAYLOAD_BYTES + 1))
    fits = json.loads(padded_body(MAX_PAYLOAD_BYTES - 100))
    response = post_batch(client, [big, fits], raw_key)

    assert response.status_code == 202
    too_big, fine = response.json()["results"]
    assert too_big["errors"] == [
        {
            "loc": ["body", "payload", "events", 0],
            "msg": "The event is larger than 256 KiB.",
            "type": "too_large",
        }
    ]
    assert fine["status"] == "created"


def test_repeated_keys_in_a_batch_and_before_it_are_duplicates(client, raw_key, event_type):
    make_webhook(event_types=[event_type])
    earlier = post(client, event_body(idempotency_key="order-1"), raw_key).json()
    events = [
        event_body(idempotency_key="order-1", payload={"again": 1}),
        event_body(idempotency_key="order-2", payload={"first": 2}),
        event_body(idempotency_key="order-2", payload={"again": 2}),
    ]

    answer = post_batch(client, events, raw_key).json()

    assert [r["status"] for r in answer["results"]] == ["duplicate", "created", "duplicate"]
    again, first, second = (r["event"] for r in answer["results"])
    assert again == {**earlier, "duplicate": True}
    assert second == {**first, "duplicate": True}
    assert Event.objects.get(idempotency_key="order-2").payload == {"first": 2}
    assert (answer["created"], answer["duplicates"]) == (1, 2)
    assert Delivery.objects.count() == 2


def test_user_events_in_a_batch_behave_as_on_the_single_endpoint(client, raw_key, event_type):
    from campaigns.models import ProfileEvent

    make_webhook(event_types=[event_type])
    events = [
        {"event_type": "Charged", "payload": {"amount": 1}, "identity": "u-1"},
        event_body(identity="u-2", idempotency_key="o-1", occurred_at="2026-11-20T08:00:00Z"),
        event_body(identity="u-2", idempotency_key="o-1"),
        {"event_type": "Charged", "payload": {}, "identity": "u-1", "idempotency_key": "k"},
        event_body(),
    ]

    results = post_batch(client, events, raw_key).json()["results"]

    assert [r["status"] for r in results] == ["created", "created", "duplicate", "error", "created"]
    charged, delivered, duplicate, _, plain = (r.get("event") for r in results)
    assert (charged["id"], charged["deliveries"], charged["recorded_for_profile"]) == (
        None,
        0,
        True,
    )
    assert delivered["occurred_at"] == "2026-11-20T08:00:00Z"
    assert (delivered["deliveries"], delivered["identity"]) == (1, "u-2")
    assert duplicate == {**delivered, "duplicate": True, "recorded_for_profile": False}
    assert results[3]["errors"][0]["loc"] == ["body", "payload", "events", 3, "idempotency_key"]
    assert "identity" not in plain
    recorded = ProfileEvent.objects.order_by("pk").values_list("profile__identity", "name")
    assert list(recorded) == [("u-1", "Charged"), ("u-2", "license.assigned")]


def test_a_batch_needs_a_key(client, event_type):
    response = client.post(
        BATCH_URL, json.dumps({"events": [event_body()]}), content_type="application/json"
    )
    assert response.status_code == 401
    assert not Event.objects.exists()


def test_a_batch_rejects_get(client, raw_key):
    response = client.get(BATCH_URL, headers={"Authorization": f"Bearer {raw_key}"})
    assert response.status_code == 405


def test_the_openapi_schema_documents_the_batch_endpoint(admin_client):
    schema = admin_client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/events/batch"]["post"]
    assert set(operation["responses"]) == {"202", "401", "413", "422"}
    components = schema["components"]["schemas"]
    assert set(components["BatchIn"]["properties"]) == {"events"}
    assert set(components["BatchOut"]["properties"]) == {
        "created",
        "duplicates",
        "errors",
        "results",
    }
    assert set(components["BatchResultOut"]["properties"]) == {"status", "event", "errors"}


def test_a_lone_surrogate_in_a_large_batch_is_an_error_of_its_event(client, raw_key, event_type):
    pad = "x" * (200 * 1024)
    events = [event_body(payload={"pad": pad}) for _ in range(2)]
    body = json.dumps({"events": events})[:-2] + ', {"event_type": "license.assigned", '
    body += '"payload": {"a": "\\ud800"}}]}'
    results = post_batch(client, body, raw_key).json()["results"]
    assert [r["status"] for r in results] == ["created", "created", "error"]
