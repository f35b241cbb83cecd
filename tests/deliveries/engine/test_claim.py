import threading
from datetime import timedelta

from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deliveries.engine.claim import claim_per_endpoint
from deliveries.engine.emit import emit
from deliveries.engine.fair import claim_fair
from deliveries.models import Delivery
from tests.factories import make_due_deliveries, make_event_type, make_webhook
from tests.support.sending import claim_due as claim


def test_concurrent_claims_never_take_the_same_delivery(transactional_db):
    event_type = make_event_type(name="license.assigned")
    for n in range(4):
        make_webhook(url=f"https://example.com/{n}", event_types=[event_type])
    for n in range(50):
        emit("license.assigned", {"n": n})
    claimed: list[list[int]] = []
    barrier = threading.Barrier(4)

    def worker():
        barrier.wait()
        mine = []
        while batch := claim(7):
            mine += [d.pk for d in batch]
        claimed.append(mine)
        connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [pk for mine in claimed for pk in mine]
    assert len(everything) == len(set(everything)) == 200
    assert sum(1 for mine in claimed if mine) > 1  # the work really was shared
    assert set(Delivery.objects.values_list("status", flat=True)) == {"in_progress"}
    assert set(Delivery.objects.values_list("attempt_count", flat=True)) == {1}


def test_an_expired_lease_is_claimed_again(db):
    event_type = make_event_type(name="license.assigned")
    make_webhook(event_types=[event_type])
    emit("license.assigned", {})
    [first] = claim(10)
    assert claim(10) == []  # leased
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    [again] = claim(10)
    assert again.pk == first.pk and again.attempt_count == 2


def test_a_claim_per_endpoint_is_one_statement_that_brings_everything_a_send_reads(
    db, django_assert_num_queries
):
    event_type = make_event_type(name="license.assigned", category="License")
    first, second = (make_webhook(event_types=[event_type]) for _ in range(2))
    for n in range(3):
        emit("license.assigned", {"n": n})
    campaign = make_webhook(custom_headers=[{"name": "X-Team", "value": "a", "secret": False}])
    make_due_deliveries(campaign, 2)

    with CaptureQueriesContext(connection) as queries:
        claimed = claim_per_endpoint({first.pk: 2, second.pk: 3, campaign.pk: 5}, timezone.now())
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 1
    assert [d.pk for d in claimed] == sorted(d.pk for d in claimed)
    by_webhook = {w.pk: [d for d in claimed if d.webhook_id == w.pk] for w in (first, second)}
    assert [len(by_webhook[first.pk]), len(by_webhook[second.pk])] == [2, 3]
    with django_assert_num_queries(0):
        for delivery in claimed:
            assert delivery.status == "in_progress" and delivery.attempt_count == 1
            assert delivery.next_attempt_at > timezone.now()
            if delivery.webhook_id == campaign.pk:
                assert delivery.event is None and delivery.event_type is None
                assert delivery.payload in ({"n": 0}, {"n": 1})
                assert delivery.webhook.custom_headers[0]["name"] == "X-Team"
            else:
                assert delivery.event.payload["n"] in (0, 1, 2)
                assert delivery.event_type.name == "license.assigned"
                assert delivery.webhook.secret
    stored = Delivery.objects.filter(status="in_progress")
    assert set(stored.values_list("id", flat=True)) == {d.pk for d in claimed}


def test_a_fair_claim_fails_a_spent_lease_instead_of_claiming_it(db):
    event_type = make_event_type(name="license.assigned")
    make_webhook(event_types=[event_type], max_retries=1)
    emit("license.assigned", {})
    emit("license.assigned", {})
    spent, fresh = Delivery.objects.order_by("id")
    gone = timezone.now() - timedelta(seconds=1)
    # A worker died mid-send of the last allowed attempt (the first try and 1 retry).
    Delivery.objects.filter(pk=spent.pk).update(
        status="in_progress", attempt_count=2, next_attempt_at=gone
    )

    assert [d.pk for d in claim_fair(10).deliveries] == [fresh.pk]
    spent.refresh_from_db()
    assert spent.status == "failed" and spent.last_failure_reason == "lease_expired"
    assert spent.attempts.get().failure_reason == "lease_expired"
