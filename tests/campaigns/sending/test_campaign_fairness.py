"""A large campaign never floods its receiver: its deliveries keep to the webhook's cap
of sends in flight, and platform events to another webhook go out while it drains."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import sending
from campaigns.models import CampaignRun, ProfileEvent
from deliveries.models import Delivery, DeliveryAttempt
from tests.factories import make_campaign, make_event_type, make_profiles, make_webhook
from tests.support.processes import stop, wait_for
from tests.support.receiver import Receiver
from webhooks.models import ApiKey

PROFILES = 300
CAP = 3
EVENTS = 5
SLOW = "/sleep"  # the receiver answers after 200 ms


class CountingReceiver(Receiver):
    """The test receiver, also counting per path the requests it is answering at once."""

    def __init__(self):
        self.by_path: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        super().__init__()

    def _handler(self):
        receiver = self

        class Handler(super()._handler()):
            def do_POST(self):
                path = self.path
                with receiver._lock:
                    receiver.by_path[path] = receiver.by_path.get(path, 0) + 1
                    receiver.peak[path] = max(receiver.peak.get(path, 0), receiver.by_path[path])
                try:
                    super().do_POST()
                finally:
                    with receiver._lock:
                        receiver.by_path[path] -= 1

        return Handler


@pytest.fixture
def counting_receiver():
    running = CountingReceiver().start()
    yield running
    running.stop()


@pytest.fixture
def audience(transactional_db):  # committed: the worker runs the fan-out
    now = timezone.now()
    profiles = make_profiles(PROFILES, identity="user-{:03}", first=0)
    ProfileEvent.objects.bulk_create(
        ProfileEvent(profile=profile, name="App Launched", occurred_at=now) for profile in profiles
    )


@pytest.mark.worker
def test_a_campaign_keeps_to_its_cap_while_events_to_another_webhook_keep_flowing(
    client, audience, counting_receiver, start_workers
):
    receiver = counting_receiver
    slow = make_webhook(url=receiver.url + SLOW, max_in_flight=CAP)
    signups = make_event_type(name="account.created")
    make_webhook(event_types=[signups], url=receiver.url + "/events")
    campaign = make_campaign(
        slow, name="Big send", batch_size=1, send_at=timezone.now() + timedelta(seconds=1)
    )
    sending.publish(campaign)
    _, key = ApiKey.issue("Platform")
    worker = start_workers({"CAMPAIGNS_DISPATCH_INTERVAL": "0.5"})

    # Beat runs the fan-out in the worker; once its first sends arrive, the rest wait.
    assert wait_for(lambda: len(receiver.received(SLOW)) >= 15, timeout=30), stop(worker)
    assert CampaignRun.objects.get(campaign=campaign).payloads == PROFILES
    posted_at = time.monotonic()
    for number in range(EVENTS):
        response = client.post(
            "/api/v1/events",
            {"event_type": "account.created", "payload": {"account": number}},
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 202, response.content

    assert wait_for(lambda: len(receiver.received("/events")) == EVENTS, timeout=10), stop(worker)
    events_took = max(r.at for r in receiver.received("/events")) - posted_at
    campaign_arrived = len(receiver.received(SLOW))
    still_pending = Delivery.objects.filter(campaign=campaign, attempt_count=0).count()

    def drained():
        return DeliveryAttempt.objects.filter(delivery__campaign=campaign).count() == PROFILES

    # 300 sends of 200 ms, 3 at a time: at least 20 s.
    assert wait_for(drained, timeout=50, interval=0.5), stop(worker)
    arrivals = sorted(r.at for r in receiver.received(SLOW))
    figures = (
        f"events delivered {events_took:.2f} s after posting, {campaign_arrived} campaign "
        f"sends arrived by then and {still_pending} not yet attempted; campaign drained over "
        f"{arrivals[-1] - arrivals[0]:.1f} s, peak in flight {receiver.peak[SLOW]}"
    )
    assert Delivery.objects.filter(campaign=campaign, status="success").count() == PROFILES
    assert len(arrivals) == PROFILES  # each payload sent once
    # The cap held at the receiver, and was reached: the limiter, not a lack of work or
    # threads, kept the sends at three (without max_in_flight this send peaks at 20, the
    # DELIVERIES_ENDPOINT_CONCURRENCY default).
    assert receiver.peak[SLOW] == CAP, figures
    assert arrivals[-1] - arrivals[0] >= (PROFILES - CAP) * 0.2 / CAP, figures
    # The events went out while most of the campaign still waited, not after it.
    assert events_took < 5, figures
    assert still_pending >= PROFILES // 2, figures
    assert Delivery.objects.filter(webhook__event_types=signups, status="success").count() == EVENTS
