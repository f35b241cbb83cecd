"""Live triggers: a row per (live campaign, event), written with the event, settled when
due by a dispatcher that claims with SKIP LOCKED and a lease."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from campaigns import sending, user_events
from campaigns.models import Campaign, CampaignRun, LiveTrigger, Profile, ProfileEvent
from campaigns.sending import live_triggers
from deliveries.models import Delivery
from tests.campaigns.sending.test_live import live_campaign
from tests.factories import make_profile_event
from webhooks.models import ApiKey


def event_at(when, identity="ann", country="Canada") -> ProfileEvent:
    profile, _ = Profile.objects.get_or_create(identity=identity, properties={"country": country})
    return make_profile_event(profile, "Added To Cart", occurred_at=when)


def trigger_for(event: ProfileEvent, when=None) -> list[LiveTrigger]:
    """What the events API does for ``event``: write its triggers."""
    return live_triggers.record(event, when or timezone.now())


def test_an_event_posted_to_the_api_writes_its_trigger_due_after_the_delay(client, db):
    campaign = live_campaign(trigger_delay_minutes=2)
    _, key = ApiKey.issue("Shop")
    body = {
        "event_type": "Added To Cart",
        "identity": "ann",
        "payload": {},
        "occurred_at": (timezone.now() - timedelta(seconds=30)).isoformat(),
    }

    response = client.post(
        "/api/v1/events", body, content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )  # fmt: skip

    assert response.status_code == 202, response.content
    event = ProfileEvent.objects.get()
    trigger = LiveTrigger.objects.get()
    assert (trigger.campaign, trigger.event, trigger.status) == (campaign, event, "pending")
    assert trigger.due_at == event.occurred_at + timedelta(minutes=2)


def test_the_trigger_is_rolled_back_with_its_event(db):
    live_campaign()

    with pytest.raises(RuntimeError), transaction.atomic():
        user_events.record("ann", "Added To Cart", {}, timezone.now())
        assert LiveTrigger.objects.count() == 1
        raise RuntimeError("something later in the request failed")

    assert not ProfileEvent.objects.exists()
    assert not LiveTrigger.objects.exists()


def test_an_event_dated_in_the_future_is_due_a_delay_after_now(db):
    live_campaign(trigger_delay_minutes=5)
    now = timezone.now()

    [trigger] = trigger_for(event_at(now + timedelta(hours=1)), now)

    assert trigger.due_at == now + timedelta(minutes=5)


def test_only_live_campaigns_listening_for_that_event_take_a_trigger(db):
    running, paused = live_campaign(), live_campaign(status="paused")
    live_campaign(status="stopped")
    live_campaign(status="draft")
    live_campaign(trigger_event="Charged")
    live_campaign(delivery_type="one_time")

    trigger_for(event_at(timezone.now()))

    assert {t.campaign for t in LiveTrigger.objects.all()} == {running, paused}


def test_recording_the_same_event_twice_writes_one_trigger(db):
    live_campaign()
    event = event_at(timezone.now())

    trigger_for(event)
    trigger_for(event)

    assert LiveTrigger.objects.count() == 1


def test_a_trigger_due_at_once_wakes_a_worker_after_the_commit_and_a_delayed_one_does_not(
    db, django_capture_on_commit_callbacks
):
    live_campaign(trigger_event="Added To Cart")
    live_campaign(trigger_event="Charged", trigger_delay_minutes=2)

    with django_capture_on_commit_callbacks() as now_due:
        user_events.record("ann", "Added To Cart", {}, timezone.now())
    with django_capture_on_commit_callbacks() as later:
        user_events.record("ann", "Charged", {}, timezone.now())

    assert len(now_due) == 1
    assert later == []


def test_a_due_trigger_sends_and_dispatching_again_sends_nothing_more(db):
    campaign = live_campaign()
    trigger_for(event_at(timezone.now()))

    assert live_triggers.dispatch_due() == 1
    assert live_triggers.dispatch_due() == 0

    assert Delivery.objects.filter(campaign=campaign).count() == 1
    trigger = LiveTrigger.objects.get()
    assert (trigger.status, trigger.attempts) == ("ran", 1)
    assert trigger.finished_at is not None


def test_a_trigger_is_not_sent_before_its_time(db):
    live_campaign(trigger_delay_minutes=2)
    now = timezone.now()
    trigger_for(event_at(now), now)

    assert live_triggers.dispatch_due(now + timedelta(seconds=119)) == 0
    assert not Delivery.objects.exists()
    assert live_triggers.dispatch_due(now + timedelta(seconds=120)) == 1
    assert Delivery.objects.count() == 1


def test_a_trigger_settled_again_after_its_lease_ran_out_sends_once(db):
    live_campaign()
    now = timezone.now()
    trigger_for(event_at(now), now)
    live_triggers.dispatch_due(now)
    # As if the worker had died after sending, before it marked the row.
    LiveTrigger.objects.update(status="pending", finished_at=None)

    later = now + live_triggers.LEASE + timedelta(seconds=1)
    assert live_triggers.dispatch_due(later) == 1

    assert Delivery.objects.count() == 1 and CampaignRun.objects.count() == 1
    assert LiveTrigger.objects.get().attempts == 2


def test_a_claimed_trigger_is_left_alone_until_its_lease_runs_out(db):
    live_campaign()
    now = timezone.now()
    trigger_for(event_at(now), now)
    LiveTrigger.objects.update(claimed_at=now)  # another worker is running it

    assert live_triggers.dispatch_due(now + live_triggers.LEASE - timedelta(seconds=1)) == 0
    assert not Delivery.objects.exists()
    assert live_triggers.dispatch_due(now + live_triggers.LEASE) == 1
    assert Delivery.objects.count() == 1


def test_a_row_another_worker_has_locked_is_skipped_not_waited_for(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks: the embedded setup runs one worker")
    live_campaign()
    now = timezone.now()
    first = trigger_for(event_at(now - timedelta(seconds=2), "ann"), now)[0]
    trigger_for(event_at(now - timedelta(seconds=1), "bo"), now)
    locked, release = threading.Event(), threading.Event()

    def other_worker():
        with transaction.atomic():
            LiveTrigger.objects.select_for_update().get(event=first.event)
            locked.set()
            release.wait(timeout=30)
        connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(timeout=10)
        claimed = live_triggers._claim(now)
    finally:
        release.set()
        thread.join()

    assert [trigger.event.profile.identity for trigger in claimed] == ["bo"]


def test_a_trigger_due_while_paused_is_skipped_and_counted(db):
    campaign = live_campaign(status="paused")
    trigger_for(event_at(timezone.now()))

    assert live_triggers.dispatch_due() == 1

    assert LiveTrigger.objects.get().status == "skipped"
    assert not Delivery.objects.exists()
    assert live_triggers.skipped_while_paused(campaign) == 1
    sending.resume(campaign)
    assert live_triggers.dispatch_due() == 0  # its moment passed while paused: never sent
    assert not Delivery.objects.exists()


def test_a_trigger_whose_delay_is_still_open_at_resume_is_sent(db):
    campaign = live_campaign(trigger_delay_minutes=10)
    now = timezone.now()
    trigger_for(event_at(now), now)
    sending.pause(campaign)

    assert live_triggers.dispatch_due(now + timedelta(minutes=5)) == 0  # not due yet
    sending.resume(campaign)
    assert live_triggers.dispatch_due(now + timedelta(minutes=10)) == 1

    assert LiveTrigger.objects.get().status == "ran"
    assert Delivery.objects.filter(campaign=campaign).count() == 1
    assert live_triggers.skipped_while_paused(campaign) == 0


def test_a_stopped_campaign_closes_its_triggers_without_counting_them(db):
    campaign = live_campaign(trigger_delay_minutes=1)
    now = timezone.now()
    trigger_for(event_at(now), now)
    sending.stop(campaign)

    assert live_triggers.dispatch_due(now + timedelta(minutes=1)) == 1

    assert LiveTrigger.objects.get().status == "closed"
    assert not Delivery.objects.exists()
    assert live_triggers.skipped_while_paused(campaign) == 0


def test_a_trigger_whose_event_is_purged_goes_with_it(db):
    live_campaign()
    trigger_for(event_at(timezone.now()))

    ProfileEvent.objects.all().delete()

    assert not LiveTrigger.objects.exists()


def test_the_live_campaign_page_says_how_many_events_were_skipped_while_paused(admin_client):
    campaign = live_campaign(status="paused")
    for identity in ["ann", "bo", "cy"]:
        trigger_for(event_at(timezone.now(), identity))
    live_triggers.dispatch_due()

    html = admin_client.get(f"/admin/campaigns/{campaign.pk}").content.decode()

    assert "3 triggering events skipped while paused" in html
    other = Campaign.objects.create(name="Quiet", delivery_type="live", status="running")
    html = admin_client.get(f"/admin/campaigns/{other.pk}").content.decode()
    assert "skipped while paused" not in html


def test_settled_triggers_past_retention_are_purged_and_pending_and_skipped_ones_kept(db):
    live_campaign()
    paused = live_campaign(name="Paused", status="paused")
    now = timezone.now()
    trigger_for(event_at(now, identity="old"))
    live_triggers.dispatch_due()
    assert set(LiveTrigger.objects.values_list("status", flat=True)) == {"ran", "skipped"}
    trigger_for(event_at(now + timedelta(days=1), identity="later"))  # pending
    later = now + timedelta(days=31)

    assert live_triggers.purge_finished(later) == 1

    assert sorted(LiveTrigger.objects.values_list("status", flat=True)) == [
        "pending",
        "pending",
        "skipped",
    ]
    assert live_triggers.skipped_while_paused(paused) == 1
    assert live_triggers.purge_finished(now) == 0
