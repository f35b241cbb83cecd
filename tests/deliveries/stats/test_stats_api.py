from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from deliveries.models import FailureReason
from tests.deliveries.stats.test_rollups import build_attempt, write_attempts
from tests.factories import make_delivery, make_webhook
from webhooks.models import ApiKey

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

# Seed 001's components, as published (shared/seeds/001_*.txt).
SEED_SCHEMAS = {
    "WebhookStatsResponse": {
        "properties": {
            "total": {"type": "integer", "title": "Total"},
            "success_count": {"type": "integer", "title": "Success Count"},
            "failed_count": {"type": "integer", "title": "Failed Count"},
            "success_rate": {"type": "number", "title": "Success Rate"},
            "avg_duration_ms": {"type": "integer", "title": "Avg Duration Ms"},
            "max_duration_ms": {"type": "integer", "title": "Max Duration Ms"},
            "last_delivery_at": {
                "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
                "title": "Last Delivery At",
            },
        },
        "type": "object",
        "required": [
            "total",
            "success_count",
            "failed_count",
            "success_rate",
            "avg_duration_ms",
            "max_duration_ms",
        ],
        "title": "WebhookStatsResponse",
    },
    "HTTPValidationError": {
        "properties": {
            "detail": {
                "items": {"$ref": "#/components/schemas/ValidationError"},
                "type": "array",
                "title": "Detail",
            }
        },
        "type": "object",
        "title": "HTTPValidationError",
    },
    "ValidationError": {
        "properties": {
            "loc": {
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "type": "array",
                "title": "Location",
            },
            "msg": {"type": "string", "title": "Message"},
            "type": {"type": "string", "title": "Error Type"},
        },
        "type": "object",
        "required": ["loc", "msg", "type"],
        "title": "ValidationError",
    },
}


def check(schema: dict, value, path="$"):
    """A small JSON Schema check covering what the seed's schemas use."""
    if "$ref" in schema:
        return check(SEED_SCHEMAS[schema["$ref"].rsplit("/", 1)[1]], value, path)
    if "anyOf" in schema:
        failures = []
        for option in schema["anyOf"]:
            try:
                return check(option, value, path)
            except AssertionError as exc:
                failures.append(str(exc))
        raise AssertionError(f"{path}: matches no option: {failures}")
    kind = schema["type"]
    if kind == "object":
        assert isinstance(value, dict), f"{path}: not an object"
        for name in schema.get("required", []):
            assert name in value, f"{path}: {name} is required"
        assert set(value) <= set(schema["properties"]), f"{path}: unexpected {set(value)}"
        for name, item in value.items():
            check(schema["properties"][name], item, f"{path}.{name}")
    elif kind == "array":
        assert isinstance(value, list), f"{path}: not an array"
        for index, item in enumerate(value):
            check(schema["items"], item, f"{path}[{index}]")
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: not an integer"
    elif kind == "number":
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{path}: number"
    elif kind == "string":
        assert isinstance(value, str), f"{path}: not a string"
        if schema.get("format") == "date-time":
            datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif kind == "null":
        assert value is None, f"{path}: not null"


@pytest.fixture
def api_key(db):
    return ApiKey.issue("stats tests")[1]


@pytest.fixture
def api(client, api_key):
    def get(webhook_id, key=api_key, **params):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return client.get(f"/api/v1/workspace/webhooks/{webhook_id}/stats", params, headers=headers)

    return get


@pytest.fixture
def traffic(db):
    """One webhook with a delivery that took two automatic tries and a manual retry, and
    another that timed out; plus a second webhook whose figures must not leak in."""
    webhook, other = make_webhook(), make_webhook()
    first, second = make_delivery(webhook), make_delivery(webhook, status="failed")
    write_attempts(
        [
            build_attempt(first, at=T0, success=False, code=503, reason="http_error", duration=40),
            build_attempt(first, at=T0 + timedelta(minutes=5), duration=101, number=2),
            build_attempt(second, at=T0 + timedelta(hours=2, minutes=10), success=False, code=None,
                          reason=FailureReason.TIMEOUT, duration=10_000),
            build_attempt(second, at=T0 + timedelta(hours=3), duration=None, success=False,
                          code=None, reason=FailureReason.INVALID_URL, number=2),
        ]
    )  # fmt: skip
    write_attempts([build_attempt(make_delivery(other), at=T0, duration=5000)])
    return webhook


def test_it_answers_the_seed_shape_with_figures_over_attempts(api, traffic):
    response = api(traffic.pk)
    assert response.status_code == 200
    body = response.json()
    check(SEED_SCHEMAS["WebhookStatsResponse"], body)
    assert body == {
        "total": 4,
        "success_count": 1,
        "failed_count": 3,
        "success_rate": 0.25,
        # Over the three attempts with a duration: (40 + 101 + 10000) / 3 = 3380.33.
        "avg_duration_ms": 3380,
        "max_duration_ms": 10000,
        "last_delivery_at": "2026-03-02T13:00:00Z",
    }


def test_a_webhook_without_attempts_answers_zeros_and_null(api, db):
    body = api(make_webhook().pk).json()
    check(SEED_SCHEMAS["WebhookStatsResponse"], body)
    assert body == {
        "total": 0,
        "success_count": 0,
        "failed_count": 0,
        "success_rate": 0.0,
        "avg_duration_ms": 0,
        "max_duration_ms": 0,
        "last_delivery_at": None,
    }


def test_from_and_to_narrow_the_window_to_whole_hours(api, traffic):
    # 10:30 widens to 10:00, 12:05 to 13:00: the first three attempts.
    body = api(traffic.pk, **{"from": "2026-03-02T10:30:00Z", "to": "2026-03-02T12:05:00Z"}).json()
    assert (body["total"], body["success_count"], body["max_duration_ms"]) == (3, 1, 10000)
    body = api(traffic.pk, **{"from": "2026-03-02T12:00:00Z"}).json()
    assert (body["total"], body["success_count"]) == (2, 0)
    assert body["last_delivery_at"] == "2026-03-02T13:00:00Z"
    body = api(traffic.pk, to="2026-03-02T11:00:00+01:00").json()  # 10:00 UTC
    assert body["total"] == 0


def test_times_without_an_offset_are_utc(api, traffic):
    body = api(traffic.pk, **{"from": "2026-03-02T12:00:00"}).json()
    assert body["total"] == 2


def test_an_invalid_id_answers_422_in_the_seed_shape(api, db):
    for bad in ["abc", "1.5", "0", str(2**63)]:
        response = api(bad)
        assert response.status_code == 422, bad
        body = response.json()
        check(SEED_SCHEMAS["HTTPValidationError"], body)
        assert body["detail"][0]["loc"] == ["path", "webhook_id"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-03-02T12:00:00Z", "to": "2026-03-02T12:00:00Z"}, "to"),
        ({"from": "2026-03-03", "to": "2026-03-02"}, "to"),
        ({"from": "0001-01-01T00:00:00+01:00"}, "from"),  # year 0 in UTC
        ({"to": "9999-12-31T23:00:00-02:00"}, "to"),  # year 10000 in UTC
        ({"to": "0.5"}, "to"),  # a number is not ISO 8601, whatever pydantic makes of it
        ({"from": "1700000000"}, "from"),
    ],
)
def test_an_invalid_window_answers_422(api, traffic, params, field):
    response = api(traffic.pk, **params)
    assert response.status_code == 422
    body = response.json()
    check(SEED_SCHEMAS["HTTPValidationError"], body)
    assert body["detail"][0]["loc"] == ["query", field]


def test_an_unknown_webhook_answers_404(api, db):
    response = api(987654)
    assert response.status_code == 404
    assert response.json() == {"detail": "Webhook 987654 not found."}


def test_it_needs_an_api_key(api, traffic):
    response = api(traffic.pk, key=None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert api(traffic.pk, key="whp_not-a-key").status_code == 401


def test_a_revoked_key_is_refused(api, traffic, api_key):
    ApiKey.objects.update(revoked_at=timezone.now())
    assert api(traffic.pk).status_code == 401


def test_it_only_answers_get(client, api_key, traffic):
    response = client.post(
        f"/api/v1/workspace/webhooks/{traffic.pk}/stats",
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert response.status_code == 405


def test_it_reads_rollups_in_a_few_queries(api, traffic, django_assert_max_num_queries):
    # The key, its last use, the webhook and one aggregate: none over the attempts.
    with django_assert_max_num_queries(4):
        assert api(traffic.pk).status_code == 200


def test_the_openapi_schema_documents_the_seed_shapes(admin_client):
    schema = admin_client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/workspace/webhooks/{webhook_id}/stats"]["get"]
    responses = operation["responses"]
    assert responses["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WebhookStatsResponse"
    }
    assert responses["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPValidationError"
    }
    assert {"401", "404"} <= set(responses)
    assert {p["name"] for p in operation["parameters"]} == {"webhook_id", "from", "to"}
    components = schema["components"]["schemas"]
    for name, seed in SEED_SCHEMAS.items():
        ours = components[name]
        assert ours["title"] == seed["title"]
        assert set(ours.get("required", [])) >= set(seed.get("required", []))
        for field, spec in seed["properties"].items():
            mine = {k: v for k, v in ours["properties"][field].items() if k != "description"}
            assert mine == spec, (name, field)
