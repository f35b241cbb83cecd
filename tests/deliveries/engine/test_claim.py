import threading

from django.db import connections

from deliveries.engine.emit import emit
from deliveries.models import Delivery
from tests.factories import make_event_type, make_webhook
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
    from datetime import timedelta

    from django.utils import timezone

    event_type = make_event_type(name="license.assigned")
    make_webhook(event_types=[event_type])
    emit("license.assigned", {})
    [first] = claim(10)
    assert claim(10) == []  # leased
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    [again] = claim(10)
    assert again.pk == first.pk and again.attempt_count == 2
