from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.factories import make_event_type
from webhooks.models import ActivityEntry, ApiKey, hash_api_key


def create_api_key(*args):
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue().splitlines()


def test_it_prints_a_key_on_its_last_line_that_authenticates_against_the_api(client, db):
    make_event_type(name="license.assigned")
    raw_key = create_api_key("CRM")[-1]

    response = client.post(
        "/api/v1/events",
        {"event_type": "license.assigned", "payload": {}},
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw_key}"},
    )
    assert response.status_code == 202


def test_it_stores_only_a_hash_of_the_key(db):
    raw_key = create_api_key("CRM")[-1]
    key = ApiKey.objects.get()
    assert key.name == "CRM"
    assert key.key_hash == hash_api_key(raw_key)
    assert raw_key.startswith(key.prefix)
    assert raw_key not in str(key)


def test_it_records_the_key_in_the_activity_log_without_the_key(db):
    raw_key = create_api_key("CRM")[-1]
    entry = ActivityEntry.objects.get()
    assert entry.action == "api_key.created"
    assert "CRM" in entry.summary
    assert raw_key not in entry.summary


def test_it_refuses_a_blank_name(db):
    with pytest.raises(CommandError, match="blank"):
        create_api_key("  ")
    assert not ApiKey.objects.exists()


def test_it_refuses_a_name_longer_than_the_field(db):
    with pytest.raises(CommandError, match="at most 100"):
        create_api_key("x" * 101)
    assert not ApiKey.objects.exists()
