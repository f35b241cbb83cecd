"""Publishing and beat: each scheduled occurrence starts once, never for a past date."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from campaigns import sending
from campaigns.models import Campaign, CampaignRun
from deliveries.models import Delivery
from tests.factories import make_campaign, make_profile_event, make_profiles, make_webhook

NOW = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)  # 09:30 in Berlin


@pytest.fixture
def members(transactional_db):  # committed: the fan-out reads them on a second connection
    for profile in make_profiles(3, identity="user-{}", first=0):
        make_profile_event(profile, "App Launched", occurred_at=NOW)


def draft(**fields) -> Campaign:
    return make_campaign(**{"name": "Monthly digest", "send_at": NOW + timedelta(hours=1)} | fields)


def test_publishing_a_one_time_campaign_schedules_its_send(db):
    campaign = draft()

    sending.publish(campaign, NOW)

    campaign.refresh_from_db()
    assert (campaign.status, campaign.next_run_at) == ("scheduled", NOW + timedelta(hours=1))
    assert campaign.published_at == NOW


def test_publishing_says_what_is_missing(db):
    with pytest.raises(sending.PublishRefused) as refused:
        sending.publish(draft(webhook=None, rule=None), NOW)
    assert refused.value.problems == [
        "Choose the webhook to send to.",
        "Choose who receives it: a segment, or build one.",
    ]
    with pytest.raises(sending.PublishRefused, match="has already passed"):
        sending.publish(draft(send_at=NOW - timedelta(minutes=1)), NOW)
    with pytest.raises(sending.PublishRefused, match="is paused"):
        sending.publish(draft(webhook=make_webhook(is_active=False)), NOW)


def test_a_recurring_campaign_starts_on_its_day_in_its_time_zone(db):
    campaign = draft(
        delivery_type="recurring",
        timezone="Europe/Berlin",
        recurrence={"every": "monthly", "day": 7, "at": "10:00"},
    )

    sending.publish(campaign, NOW)

    campaign.refresh_from_db()
    assert campaign.next_run_at == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_a_due_one_time_send_starts_once_and_completes(members):
    campaign = draft()
    sending.publish(campaign, NOW)
    at = NOW + timedelta(hours=1, seconds=20)

    starts = sending.due_runs(at)

    assert starts == [(campaign.pk, "2026-12-07T09:30Z")]
    assert sending.due_runs(at + timedelta(seconds=15)) == []
    campaign.refresh_from_db()
    assert (campaign.status, campaign.next_run_at) == ("running", None)
    run = sending.run(*starts[0])
    assert (run.status, run.targets) == ("completed", 3)
    campaign.refresh_from_db()
    assert campaign.status == "completed"
    # The same occurrence again (a duplicated message) sends nothing more.
    sending.run(*starts[0])
    assert Delivery.objects.filter(campaign=campaign).count() == 1


def test_a_recurring_campaign_moves_to_its_next_occurrence(members):
    campaign = draft(
        delivery_type="recurring",
        timezone="Europe/Berlin",
        recurrence={"every": "monthly", "day": 7, "at": "10:00"},
    )
    sending.publish(campaign, NOW)

    starts = sending.due_runs(datetime(2026, 12, 7, 9, 0, 5, tzinfo=UTC))

    assert starts == [(campaign.pk, "2026-12-07T09:00Z")]
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
    assert campaign.next_run_at == datetime(2027, 1, 7, 9, 0, tzinfo=UTC)
    sending.run(*starts[0])
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"  # more occurrences to come


def test_an_occurrence_missed_by_more_than_the_grace_is_never_sent(members):
    campaign = draft()
    sending.publish(campaign, NOW)

    starts = sending.due_runs(NOW + timedelta(days=2))

    assert starts == []
    campaign.refresh_from_db()
    assert campaign.status == "completed"
    missed = CampaignRun.objects.get(campaign=campaign)
    assert missed.status == "failed" and missed.error.startswith("Missed: nothing was running")
    assert not Delivery.objects.filter(campaign=campaign).exists()


def test_beat_runs_the_dispatcher_and_workers_know_the_tasks():
    from django.conf import settings

    from config.celery import app

    app.loader.import_default_modules()
    assert {"campaigns.dispatch_due", "campaigns.run_occurrence"} <= set(app.tasks)
    assert settings.CELERY_BEAT_SCHEDULE["campaigns-due"]["task"] == "campaigns.dispatch_due"


@pytest.mark.worker
def test_beat_and_a_real_worker_send_a_published_campaign(receiver, start_workers):
    from django.utils import timezone

    from tests.support.processes import stop, wait_for

    now = timezone.now()
    for profile in make_profiles(3, identity="user-{}", first=0):
        make_profile_event(profile, "App Launched", occurred_at=now)
    campaign = draft(
        webhook=make_webhook(url=receiver.url + "/digest"), send_at=now + timedelta(seconds=2)
    )
    sending.publish(campaign, now)

    worker = start_workers({"CAMPAIGNS_DISPATCH_INTERVAL": "0.5"})

    def sent():
        return Delivery.objects.filter(campaign=campaign, status="success").exists()

    assert wait_for(sent, timeout=40), stop(worker)
    [request] = receiver.received("/digest")
    body = json.loads(request.body)
    assert body["targetId"] == campaign.pk
    assert sorted(p["Identity"] for p in body["profiles"]) == ["user-0", "user-1", "user-2"]
    campaign.refresh_from_db()
    assert campaign.status == "completed"
    assert CampaignRun.objects.get(campaign=campaign).status == "completed"


def test_pause_resume_and_stop(members, monkeypatch):
    from campaigns.sending import fanout

    campaign = draft(batch_size=1)
    sending.publish(campaign, NOW)
    [start] = sending.due_runs(NOW + timedelta(hours=1))
    monkeypatch.setattr(fanout, "CHUNK", 1)
    real = fanout._write

    def pause_after_the_first(campaign, *args):
        real(campaign, *args)
        sending.pause(campaign)

    monkeypatch.setattr(fanout, "_write", pause_after_the_first)
    run = sending.run(*start)
    assert (run.status, run.targets) == ("running", 1)
    campaign.refresh_from_db()
    assert campaign.status == "paused"

    monkeypatch.setattr(fanout, "_write", real)
    assert sending.resume(campaign) == [start]
    run = sending.run(*start)
    assert (run.status, run.targets) == ("completed", 3)
    campaign.refresh_from_db()
    assert campaign.status == "completed"

    later = draft(send_at=NOW + timedelta(days=3))
    sending.publish(later, NOW)
    sending.stop(later)
    later.refresh_from_db()
    assert (later.status, later.next_run_at) == ("stopped", None)
    assert sending.due_runs(NOW + timedelta(days=3)) == []
