"""Fan-out: a campaign occurrence streamed into batched deliveries, sent by the engine."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, CampaignRun, Profile
from campaigns.sending import fanout
from deliveries.models import Delivery
from tests.factories import make_campaign, make_profile_event, make_profiles, make_webhook
from tests.support.sending import send_due_batch


@pytest.fixture
def audience(transactional_db):
    """20 profiles who launched the app, and 3 who did not. Committed: on PostgreSQL
    the members are read by a second connection (fanout._member_chunks)."""
    yesterday = timezone.now() - timedelta(days=1)
    profiles = make_profiles(
        23,
        email=lambda n: f"user{n}@example.com",
        object_id=lambda n: f"obj-{n}",
        push_token=lambda n: f"token-{n}",
        properties=lambda n: {"country": "Canada", "plan": "gold", "age": 30 + n},
    )
    for profile in profiles[:20]:
        make_profile_event(profile, "App Launched", occurred_at=yesterday)


def campaign(webhook, **fields) -> Campaign:
    defaults = {
        "batch_size": 6,
        "key_values": {"coupon": "SPRING"},
        "profile_fields": ["Email", "Identity", "ProfileData"],
        "profile_properties": ["country"],
        "status": "running",
    }
    return make_campaign(webhook, **defaults | fields)


def test_members_go_out_in_batches_of_the_seeds_payload(audience, receiver):
    sale = campaign(make_webhook(url=receiver.url + "/campaign"))

    run = fanout.run_occurrence(sale.pk, "2026-12-07T09:00Z")

    assert (run.status, run.members, run.targets, run.control, run.payloads) == (
        "completed",
        20,
        20,
        0,
        4,
    )
    deliveries = Delivery.objects.filter(campaign=sale).order_by("pk")
    assert [len(d.payload["profiles"]) for d in deliveries] == [6, 6, 6, 2]
    first = deliveries[0].payload
    assert first["targetId"] == sale.pk and first["key_values"] == {"coupon": "SPRING"}
    assert first["profiles"][0] == {
        "Email": "user1@example.com",
        "Identity": "user-01",
        "ProfileData": {"country": "Canada"},
    }
    assert CampaignRecipient.objects.filter(run=run, control=False).count() == 20

    while send_due_batch():
        pass
    bodies = [json.loads(r.body) for r in receiver.received("/campaign")]
    assert sorted(len(b["profiles"]) for b in bodies) == [2, 6, 6, 6]
    identities = sorted(p["Identity"] for b in bodies for p in b["profiles"])
    assert identities == [f"user-{n:02}" for n in range(1, 21)]
    assert all(d.status == "success" for d in Delivery.objects.filter(campaign=sale))


def test_the_same_occurrence_never_sends_twice(audience):
    sale = campaign(make_webhook())
    fanout.run_occurrence(sale.pk, "2026-12-07T09:00Z")

    again = fanout.run_occurrence(sale.pk, "2026-12-07T09:00Z")

    assert again.payloads == 4
    assert Delivery.objects.filter(campaign=sale).count() == 4
    assert CampaignRun.objects.filter(campaign=sale).count() == 1


def test_a_run_that_died_resumes_after_its_last_chunk(audience, monkeypatch):
    sale = campaign(make_webhook(), batch_size=2)
    monkeypatch.setattr(fanout, "CHUNK", 5)
    real = fanout._write
    calls = []

    def dies_on_the_third_write(*args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker lost")
        real(*args)

    monkeypatch.setattr(fanout, "_write", dies_on_the_third_write)
    with pytest.raises(RuntimeError):
        fanout.run_occurrence(sale.pk, "manual-1")
    run = CampaignRun.objects.get()
    assert (run.status, run.streamed, run.targets) == ("running", 10, 10)

    monkeypatch.setattr(fanout, "_write", real)
    run = fanout.run_occurrence(sale.pk, "manual-1")

    assert (run.status, run.streamed, run.targets, run.payloads) == ("completed", 20, 20, 10)
    sent = [p["Identity"] for d in Delivery.objects.all() for p in d.payload["profiles"]]
    assert sorted(sent) == [f"user-{n:02}" for n in range(1, 21)]


def test_the_control_group_is_recorded_and_never_sent(audience):
    sale = campaign(make_webhook(), control_percent=30)

    run = fanout.run_occurrence(sale.pk, "manual-1")

    control = set(
        CampaignRecipient.objects.filter(run=run, control=True).values_list("profile_id", flat=True)
    )
    sent = {p["Identity"] for d in Delivery.objects.all() for p in d.payload["profiles"]}
    assert run.control == len(control) and run.targets == len(sent) == 20 - len(control)
    assert 0 < len(control) < 20
    assert not sent & set(Profile.objects.filter(pk__in=control).values_list("identity", flat=True))
    # The same members are held back in every run of the campaign.
    again = fanout.run_occurrence(sale.pk, "manual-2")
    assert (
        set(again.recipients.filter(control=True).values_list("profile_id", flat=True)) == control
    )


def test_payloads_are_full_across_chunks(audience, monkeypatch):
    monkeypatch.setattr(fanout, "CHUNK", 4)
    sale = campaign(make_webhook(), batch_size=6)

    run = fanout.run_occurrence(sale.pk, "manual-1")

    sizes = [len(d.payload["profiles"]) for d in Delivery.objects.order_by("pk")]
    assert sizes == [6, 6, 6, 2] and run.payloads == 4


def test_the_target_cap_limits_who_is_sent(audience):
    sale = campaign(make_webhook(), target_cap=7)

    run = fanout.run_occurrence(sale.pk, "manual-1")

    assert run.targets == 7 and run.status == "completed"
    assert sum(len(d.payload["profiles"]) for d in Delivery.objects.all()) == 7


def test_a_stopped_campaign_stops_its_run(audience, monkeypatch):
    sale = campaign(make_webhook(), batch_size=1)
    monkeypatch.setattr(fanout, "CHUNK", 5)
    real = fanout._write

    def stop_after_the_first_chunk(campaign, *args):
        real(campaign, *args)
        Campaign.objects.filter(pk=campaign.pk).update(status="stopped")

    monkeypatch.setattr(fanout, "_write", stop_after_the_first_chunk)

    run = fanout.run_occurrence(sale.pk, "manual-1")

    assert (run.status, run.targets) == ("stopped", 5)


@pytest.mark.parametrize("properties", [None, ["plan", "age", "missing"], []])
def test_every_field_is_the_entry_the_content_module_builds(audience, properties):
    from campaigns.content.payload import PROFILE_FIELDS, Recipient, profile_entry

    sale = campaign(make_webhook(), profile_fields=PROFILE_FIELDS, profile_properties=properties)

    fanout.run_occurrence(sale.pk, "manual-1")

    sent = [p for d in Delivery.objects.order_by("pk") for p in d.payload["profiles"]]
    expected = [
        profile_entry(
            Recipient(p.identity, p.email, p.object_id, p.push_token, p.properties),
            PROFILE_FIELDS,
            properties,
        )
        for p in Profile.objects.filter(identity__lte="user-20").order_by("pk")
    ]
    assert sent == expected


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL storage setting")
def test_payloads_are_compressed_with_lz4(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = 'deliveries_delivery'::regclass AND attname = 'payload'"
        )
        assert cursor.fetchone()[0] == "l"
