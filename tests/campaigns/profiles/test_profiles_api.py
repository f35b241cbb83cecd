"""POST /api/v1/profiles: create or update profiles by identity, one or a batch."""

import json
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import connection

from campaigns.models import Profile
from campaigns.profiles import records
from campaigns.profiles.api import MAX_BATCH
from webhooks.models import ApiKey

URL = "/api/v1/profiles"


@pytest.fixture
def raw_key(db):
    _, raw_key = ApiKey.issue("CRM")
    return raw_key


def post(client, body, key):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post(URL, data, content_type="application/json", headers=headers)


def test_it_creates_a_profile(client, raw_key):
    body = {
        "identity": "user-1",
        "email": " Ada@Example.COM ",
        "object_id": "obj-1",
        "push_token": "tok",
        "properties": {"country": "Canada", "plan": None},
    }
    response = post(client, body, raw_key)

    assert response.status_code == 200
    assert response.json() == {"created": 1, "updated": 0, "identities": ["user-1"]}
    profile = Profile.objects.get()
    assert (profile.identity, profile.email, profile.object_id, profile.push_token) == (
        "user-1",
        "ada@example.com",
        "obj-1",
        "tok",
    )
    assert profile.properties == {"country": "Canada"}  # null removes, so it is not kept


def test_it_updates_only_what_is_sent_and_merges_properties(client, raw_key):
    Profile.objects.create(
        identity="user-1",
        email="ada@example.com",
        object_id="obj-1",
        push_token="tok",
        properties={"country": "Canada", "plan": "free", "age": 36},
    )
    body = {"identity": "user-1", "push_token": None, "properties": {"plan": "pro", "age": None}}
    response = post(client, body, raw_key)

    assert response.json() == {"created": 0, "updated": 1, "identities": ["user-1"]}
    profile = Profile.objects.get()
    assert profile.email == "ada@example.com" and profile.object_id == "obj-1"
    assert profile.push_token == ""
    assert profile.properties == {"country": "Canada", "plan": "pro"}


def test_a_profile_without_properties_keeps_them(client, raw_key):
    Profile.objects.create(identity="user-1", properties={"country": "Canada"})
    post(client, {"identity": "user-1", "email": "a@b.c"}, raw_key)
    assert Profile.objects.get().properties == {"country": "Canada"}


def test_a_batch_creates_and_updates(client, raw_key):
    Profile.objects.create(identity="old", properties={"a": 1})
    body = {
        "profiles": [
            {"identity": "new-1", "properties": {"x": 1}},
            {"identity": "old", "properties": {"b": 2}},
            {"identity": "new-2"},
            {"identity": "new-1", "properties": {"x": None, "y": 2}, "email": "N@X.io"},
        ]
    }
    response = post(client, body, raw_key)

    assert response.status_code == 200
    assert response.json() == {"created": 2, "updated": 1, "identities": ["new-1", "old", "new-2"]}
    stored = {p.identity: (p.email, p.properties) for p in Profile.objects.all()}
    assert stored == {
        "new-1": ("n@x.io", {"y": 2}),
        "new-2": ("", {}),
        "old": ("", {"a": 1, "b": 2}),
    }


def test_a_batch_of_the_largest_size_is_stored(client, raw_key):
    Profile.objects.create(identity="user-0")
    body = {
        "profiles": [{"identity": f"user-{n}", "properties": {"n": n}} for n in range(MAX_BATCH)]
    }
    response = post(client, body, raw_key)

    assert response.json()["created"] == MAX_BATCH - 1
    assert response.json()["updated"] == 1
    assert Profile.objects.count() == MAX_BATCH
    assert Profile.objects.get(identity="user-999").properties == {"n": 999}


def test_a_batch_too_large_answers_422(client, raw_key):
    body = {"profiles": [{"identity": f"user-{n}"} for n in range(MAX_BATCH + 1)]}
    response = post(client, body, raw_key)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "payload", "profiles"]
    assert error["type"] == "too_long"
    assert not Profile.objects.exists()


def test_an_invalid_profile_in_a_batch_names_its_index_and_stores_nothing(client, raw_key):
    body = {
        "profiles": [
            {"identity": "ok"},
            {"identity": "bad", "email": "not an address", "extra": 1},
            {"email": "a@b.c"},
        ]
    }
    response = post(client, body, raw_key)

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["body", "payload", "profiles", 1, "email"],
                "msg": "Value error, not an email address",
                "type": "value_error",
            },
            {
                "loc": ["body", "payload", "profiles", 1, "extra"],
                "msg": "Extra inputs are not permitted",
                "type": "extra_forbidden",
            },
            {
                "loc": ["body", "payload", "profiles", 2, "identity"],
                "msg": "Field required",
                "type": "missing",
            },
        ]
    }
    assert not Profile.objects.exists()


def test_an_invalid_single_profile_answers_422(client, raw_key):
    response = post(client, {"identity": "", "properties": None}, raw_key)

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["body", "payload", "identity"],
                "msg": "String should have at least 1 character",
                "type": "string_too_short",
            },
            {
                "loc": ["body", "payload", "properties"],
                "msg": "Input should be a valid dictionary",
                "type": "dict_type",
            },
        ]
    }


@pytest.mark.parametrize("body", [[], 5, None, {"profiles": []}, {"profiles": {}}])
def test_a_body_of_the_wrong_shape_answers_422(client, raw_key, body):
    response = post(client, body, raw_key)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:3] in (
        ["body", "payload"],
        ["body", "payload", "profiles"],
    )


@pytest.mark.parametrize(
    ("profile", "field", "msg"),
    [
        ({"identity": "a\x00"}, "identity", "NUL character"),
        ({"identity": "a", "properties": {"k": "v\x00"}}, "properties", "NUL character"),
        ({"identity": "a", "properties": {"k\x00": 1}}, "properties", "NUL character"),
        ({"identity": "a", "email": "a\x00@b.c"}, "email", "NUL character"),
        ({"identity": "a", "properties": json.loads("[" * 100 + "]" * 100)}, "properties", ""),
    ],
    ids=["identity", "value", "key", "email", "deep"],
)
def test_text_postgresql_cannot_store_answers_422(client, raw_key, profile, field, msg):
    response = post(client, {"profiles": [profile]}, raw_key)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "payload", "profiles", 0, field]
    assert msg in error["msg"]
    assert not Profile.objects.exists()


def test_a_lone_surrogate_answers_422(client, raw_key):
    response = post(client, '{"identity": "a", "properties": {"k": "\\ud800"}}', raw_key)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "payload", "properties"]
    assert "surrogate" in error["msg"]


def test_malformed_json_answers_422(client, raw_key):
    response = post(client, '{"identity": ', raw_key)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_it_answers_401_without_a_valid_key(client, raw_key):
    assert post(client, {"identity": "a"}, None).status_code == 401
    assert post(client, {"identity": "a"}, raw_key + "x").status_code == 401
    assert not Profile.objects.exists()


def test_it_answers_413_for_a_body_over_2_mib(client, raw_key):
    body = {"identity": "a", "properties": {"pad": "x" * (2 * 1024 * 1024)}}
    response = post(client, body, raw_key)
    assert response.status_code == 413


def test_the_openapi_schema_documents_both_forms(admin_client):
    schema = admin_client.get("/api/v1/openapi.json").json()
    operation = schema["paths"][URL]["post"]
    assert set(operation["responses"]) == {"200", "401", "413", "422"}
    assert operation["parameters"] == []
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"] == [
        {"$ref": "#/components/schemas/ProfileIn"},
        {"$ref": "#/components/schemas/ProfileBatch"},
    ]
    profile = schema["components"]["schemas"]["ProfileIn"]
    assert set(profile["properties"]) == {
        "identity",
        "email",
        "object_id",
        "push_token",
        "properties",
    }
    assert "merged" in profile["properties"]["properties"]["description"].lower()
    assert operation["security"] == [{"ApiKeyAuth": []}]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serialises writers")
def test_concurrent_batches_of_the_same_new_identities_all_succeed(transactional_db):
    # The losers of the race to create an identity retry and update it instead.
    identities = [f"user-{n}" for n in range(200)]
    start = Barrier(4)

    def upsert(_):
        try:
            start.wait()
            return records.upsert_profiles({"identity": i} for i in identities)
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(upsert, range(4)))

    assert sum(len(r.created) for r in results) == 200
    assert sum(len(r.updated) for r in results) == 600
    assert Profile.objects.count() == 200
