"""Live campaigns: a user event sends to that user, if still in the audience."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import (
    Campaign,
    CampaignRecipient,
    CampaignRun,
    LiveTrigger,
    Profile,
    ProfileEvent,
)
from campaigns.sending import live
from deliveries.models import Delivery
from tests.factories import make_campaign, make_profile, make_profile_event, make_webhook
from tests.support.processes import stop, wait_for
from webhooks.models import ApiKey

CANADA = {
    "category": "user_properties",
    "profile": [{"property": "country", "op": "eq", "value": "Canada"}],
}


def live_campaign(**fields) -> Campaign:
    defaults = {
        "name": "Cart rescue",
        "rule": CANADA,
        "delivery_type": "live",
        "trigger_event": "Added To Cart",
        "status": "running",
        "profile_fields": ["Identity", "Event_properties"],
        "key_values": {"channel": "call-center"},
    }
    return make_campaign(**defaults | fields)


def event_of(identity: str, country: str, **properties) -> ProfileEvent:
    profile, _ = Profile.objects.get_or_create(identity=identity, properties={"country": country})
    return make_profile_event(profile, "Added To Cart", properties=properties)


def test_a_member_gets_a_payload_with_the_events_properties(db):
    campaign = live_campaign()
    event = event_of("ann", "Canada", sku="TENT-2", price=199)

    run = live.run(campaign.pk, event.pk)

    assert (run.occurrence, run.targets, run.payloads) == (f"event:{event.pk}", 1, 1)
    delivery = Delivery.objects.get(campaign=campaign)
    assert delivery.payload == {
        "targetId": campaign.pk,
        "key_values": {"channel": "call-center"},
        "profiles": [{"Identity": "ann", "Event_properties": {"sku": "TENT-2", "price": 199}}],
    }


def test_someone_outside_the_audience_gets_nothing(db):
    campaign = live_campaign()

    run = live.run(campaign.pk, event_of("bob", "France").pk)

    assert (run.members, run.targets) == (0, 0)
    assert not Delivery.objects.exists()


def test_a_control_member_is_recorded_and_not_sent(db):
    campaign = live_campaign(control_percent=100)

    run = live.run(campaign.pk, event_of("ann", "Canada").pk)

    assert (run.control, run.targets) == (1, 0)
    assert CampaignRecipient.objects.get(run=run).control is True
    assert not Delivery.objects.exists()


def test_the_same_event_never_sends_twice_and_a_paused_campaign_sends_nothing(db):
    campaign = live_campaign()
    event = event_of("ann", "Canada")
    live.run(campaign.pk, event.pk)

    assert live.run(campaign.pk, event.pk) is None
    Campaign.objects.filter(pk=campaign.pk).update(status="paused")
    assert live.run(campaign.pk, event_of("cy", "Canada").pk) is None
    assert Delivery.objects.count() == 1 and CampaignRun.objects.count() == 1


@pytest.mark.worker
def test_an_event_posted_to_the_api_reaches_the_receiver_within_seconds(
    client, receiver, start_workers
):
    make_profile(identity="ann", properties={"country": "Canada"})
    campaign = live_campaign(webhook=make_webhook(url=receiver.url + "/rescue"))
    _, key = ApiKey.issue("Shop")
    worker = start_workers()
    started = timezone.now()

    response = client.post(
        "/api/v1/events",
        {"event_type": "Added To Cart", "identity": "ann", "payload": {"sku": "TENT-2"}},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )

    assert response.status_code == 202, response.content
    assert wait_for(lambda: receiver.received("/rescue"), timeout=30), stop(worker)
    [request] = receiver.received("/rescue")
    body = json.loads(request.body)
    assert body["profiles"] == [{"Identity": "ann", "Event_properties": {"sku": "TENT-2"}}]
    assert timezone.now() - started < timedelta(seconds=30)
    assert CampaignRun.objects.get(campaign=campaign).targets == 1
    # Its trigger row is settled, so beat will not send it again.
    assert LiveTrigger.objects.get(campaign=campaign).status == "ran"
