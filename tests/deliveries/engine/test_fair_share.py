"""Each endpoint's fair share: claims spread across endpoints, caps, rate limits, and a
dead endpoint beside a healthy one with real workers."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from deliveries.engine.drain import drain
from deliveries.engine.fair import claim_fair
from deliveries.models import Delivery, DeliveryAttempt
from tests.factories import make_due_deliveries, make_webhook
from webhooks.models import Health


def claimed_per_webhook(claimed) -> dict[int, int]:
    counts: dict[int, int] = {}
    for delivery in claimed.deliveries:
        counts[delivery.webhook_id] = counts.get(delivery.webhook_id, 0) + 1
    return counts


def test_a_claim_spreads_across_endpoints_instead_of_taking_the_oldest(db, settings):
    settings.DELIVERIES_ENDPOINT_CONCURRENCY = 10
    busy, quiet = make_webhook(), make_webhook()
    make_due_deliveries(busy, 50, next_attempt_at=timezone.now() - timedelta(minutes=5))
    make_due_deliveries(quiet, 50)  # due later than all of busy's
    claimed = claim_fair(12)
    assert claimed_per_webhook(claimed) == {busy.pk: 6, quiet.pk: 6}
    assert set(claimed.slots) == {delivery.pk for delivery in claimed.deliveries}


def test_an_endpoint_never_gets_more_than_its_cap_of_sends_in_flight(db, settings):
    settings.DELIVERIES_ENDPOINT_CONCURRENCY = 10
    capped, other = make_webhook(max_in_flight=3), make_webhook()
    make_due_deliveries(capped, 20)
    make_due_deliveries(other, 20)
    first = claim_fair(30)
    assert claimed_per_webhook(first) == {capped.pk: 3, other.pk: 10}
    # Nothing was sent yet, so the slots are still held: a second claimer gets nothing.
    assert claim_fair(30).deliveries == []


def test_a_failing_endpoint_gets_one_probe_and_a_disabled_one_nothing(db):
    failing = make_webhook(health=Health.FAILING, next_probe_at=timezone.now())
    disabled = make_webhook(health=Health.DISABLED)
    make_due_deliveries(failing, 5)
    make_due_deliveries(disabled, 5)
    assert claimed_per_webhook(claim_fair(20)) == {failing.pk: 1}
    assert claim_fair(20).deliveries == []  # the next probe is not due yet
    assert Delivery.objects.filter(webhook=disabled, attempt_count=0).count() == 5


def test_a_rate_limit_spaces_the_requests(transactional_db, receiver):
    webhook = make_webhook(url=receiver.url + "/ok", rate_limit=5)
    make_due_deliveries(webhook, 12)
    drain(time_budget=30)
    arrivals = sorted(request.at for request in receiver.received("/ok"))
    assert len(arrivals) == 12
    assert DeliveryAttempt.objects.filter(webhook=webhook, success=True).count() == 12
    # A bucket of 5 that refills at 5 per second: 5 at once, the other 7 over 1.4 s.
    assert arrivals[-1] - arrivals[0] >= 1.0
    for first in arrivals:
        assert sum(first <= at < first + 1 for at in arrivals) <= 10


@pytest.mark.worker
def test_a_dead_endpoint_does_not_hold_up_a_healthy_one(receiver, start_workers):
    """300 sends to an endpoint that never answers, queued before 150 to a healthy one:
    the healthy ones are all delivered long before the first dead send times out, and the
    dead endpoint never holds more than its cap of connections."""
    dead_timeout = 10
    dead = make_webhook(url=receiver.url + "/hang", timeout_seconds=dead_timeout, max_retries=0)
    healthy = make_webhook(url=receiver.url + "/ok")
    make_due_deliveries(dead, 300, next_attempt_at=timezone.now() - timedelta(minutes=1))
    make_due_deliveries(healthy, 150)
    start_workers({"DELIVERIES_ENDPOINT_CONCURRENCY": "10"})

    deadline = time.monotonic() + 60
    while DeliveryAttempt.objects.filter(webhook=healthy).count() < 150:
        assert time.monotonic() < deadline, "the healthy endpoint's deliveries were not sent"
        time.sleep(0.2)
    assert DeliveryAttempt.objects.filter(webhook=healthy, success=True).count() == 150
    deadline = time.monotonic() + 60  # the first dead sends are recorded at their timeout
    while not DeliveryAttempt.objects.filter(webhook=dead).exists():
        assert time.monotonic() < deadline, "no dead send was recorded"
        time.sleep(0.2)
    first_dead = DeliveryAttempt.objects.filter(webhook=dead).order_by("attempted_at").first()
    last_healthy = DeliveryAttempt.objects.filter(webhook=healthy).order_by("attempted_at").last()
    # attempted_at is when a send started: the healthy ones all went out while the first
    # dead sends were still waiting for their timeout.
    assert first_dead.failure_reason == "timeout"
    assert last_healthy.attempted_at < first_dead.attempted_at + timedelta(seconds=dead_timeout)
    assert 1 <= receiver.max_hanging <= 10
