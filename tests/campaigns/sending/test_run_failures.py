"""A bad value fails alone, and a run that fails says why and holds nothing up.

One profile's unreadable amount among 10,000 leaves the segment's pages and APIs
answering and the campaign sending to the other 9,999; a run that raises ends
``failed`` with its reason on the campaign page and in the activity log, and the
campaign is not left ``running``.
"""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns import sending
from campaigns.models import Campaign, CampaignRun, Segment
from deliveries.models import Delivery
from tests.factories import make_campaign, make_profiles, make_segment
from webhooks.models import ActivityEntry, ApiKey

SIZE = 10_000
UNDER_1000 = {
    "category": "user_properties",
    "profile": [{"property": "amount", "op": "lt", "value": 1000}],
}


def publish(segment: Segment, **fields) -> Campaign:
    now = timezone.now()
    defaults = {"name": "Spend reminder", "segment": segment, "send_at": now + timedelta(minutes=1)}
    campaign = make_campaign(**defaults | fields)
    sending.publish(campaign, now)
    return campaign


def run_due(campaign: Campaign) -> CampaignRun:
    """What beat and the worker do once the occurrence is due."""
    campaign.refresh_from_db()
    (start,) = sending.due_runs(campaign.next_run_at + timedelta(seconds=5))
    return sending.run(*start)


@pytest.fixture
def api_key(transactional_db) -> str:
    return ApiKey.issue("CRM")[1]


@pytest.fixture
def ten_thousand(transactional_db):
    # Committed: on PostgreSQL the fan-out reads the members on a second connection.
    make_profiles(SIZE, identity="user-{:05}", first=0, properties=lambda n: {"amount": n % 999})
    return make_segment(UNDER_1000, name="Under 1000")


def test_one_unreadable_amount_among_10000_leaves_the_segment_answering_and_the_rest_sent(
    client, admin_client, api_key, ten_thousand
):
    bearer = {"Authorization": f"Bearer {api_key}"}
    huge = '{"identity": "user-04242", "properties": {"amount": "1' + "0" * 400 + '"}}'
    posted = client.post("/api/v1/profiles", huge, content_type="application/json", headers=bearer)
    assert posted.status_code == 200, posted.content

    preview = client.post(
        "/api/v1/segments/preview",
        json.dumps(UNDER_1000),
        content_type="application/json",
        headers=bearer,
    )
    assert preview.status_code == 200
    assert preview.json()["count"] == SIZE - 1
    members = client.get(
        f"/api/v1/segments/{ten_thousand.pk}/members",
        {"limit": 1000, "count": "true"},
        headers=bearer,
    )
    assert members.status_code == 200 and members.json()["count"] == SIZE - 1
    builder = admin_client.get(reverse("campaigns:segment", args=[ten_thousand.pk]))
    count = admin_client.get(reverse("campaigns:segment_count", args=[ten_thousand.pk]))
    assert (builder.status_code, count.status_code) == (200, 200)
    assert "9,999" in count.content.decode()

    campaign = publish(ten_thousand)
    run = run_due(campaign)

    assert (run.status, run.members, run.targets, run.payloads) == (
        "completed",
        SIZE - 1,
        SIZE - 1,
        (SIZE - 1 + 99) // 100,
    )
    sent = [
        entry["Identity"]
        for payload in Delivery.objects.filter(campaign=campaign).values_list("payload", flat=True)
        for entry in payload["profiles"]
    ]
    assert len(sent) == SIZE - 1
    assert set(sent) == {f"user-{n:05}" for n in range(SIZE)} - {"user-04242"}
    campaign.refresh_from_db()
    assert campaign.status == "completed"


@pytest.fixture
def members(transactional_db):
    make_profiles(3, identity="user-{}", first=0, properties=lambda n: {"amount": n})
    return make_segment(UNDER_1000, name="Under 1000")


def break_rule(segment: Segment) -> None:
    # A rule saved by an older version, or edited in the database: no longer valid.
    Segment.objects.filter(pk=segment.pk).update(rule={"category": "user_properties"})


def test_a_run_that_raises_ends_failed_with_its_reason_on_the_page_and_in_the_log(
    admin_client, members
):
    campaign = publish(members)
    break_rule(members)

    run = run_due(campaign)

    assert run.status == "failed" and run.finished_at is not None
    assert "audience rule is no longer valid" in run.error
    campaign.refresh_from_db()
    assert (campaign.status, campaign.next_run_at) == ("completed", None)
    entry = ActivityEntry.objects.get(action="campaign.run_failed")
    assert entry.summary.startswith(f"Campaign “Spend reminder”: run {run.occurrence} failed.")
    assert "audience rule is no longer valid" in entry.summary
    page = admin_client.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert f'id="run-{run.pk}"' in page
    assert "audience rule is no longer valid" in page
    log = admin_client.get(reverse("portal:activity_log"))
    assert "audience rule is no longer valid" in log.content.decode()


def test_a_failed_run_stays_failed_when_its_message_comes_again(members):
    campaign = publish(members)
    break_rule(members)
    run = run_due(campaign)
    Segment.objects.filter(pk=members.pk).update(rule=UNDER_1000)

    again = sending.run(campaign.pk, run.occurrence)  # a redelivered message

    assert (again.pk, again.status, again.targets) == (run.pk, "failed", 0)
    assert not Delivery.objects.exists()
    assert ActivityEntry.objects.filter(action="campaign.run_failed").count() == 1


def test_a_recurring_campaign_keeps_its_next_occurrence_after_a_failed_run(members):
    campaign = publish(
        members,
        delivery_type="recurring",
        send_at=None,
        recurrence={"every": "daily", "at": "09:00"},
    )
    campaign.refresh_from_db()
    first_due = campaign.next_run_at
    break_rule(members)

    failed = run_due(campaign)

    campaign.refresh_from_db()
    assert failed.status == "failed"
    assert campaign.status == "scheduled"
    assert campaign.next_run_at == first_due + timedelta(days=1)

    Segment.objects.filter(pk=members.pk).update(rule=UNDER_1000)
    succeeded = run_due(campaign)

    assert (succeeded.status, succeeded.targets, succeeded.error) == ("completed", 3, "")
    assert CampaignRun.objects.filter(campaign=campaign).count() == 2
