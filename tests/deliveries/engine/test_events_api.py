import json
import logging

import pytest
from django.test import Client, RequestFactory
from django.urls import resolve
from django.utils import timezone

from deliveries.engine.emit import MAX_PAYLOAD_BYTES
from deliveries.models import Delivery, DeliveryStatus
from tests.factories import make_event_type, make_webhook
from webhooks.models import ApiKey, Event

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
