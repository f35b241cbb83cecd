"""Endpoint slots and rate buckets, on the broker's Redis and in-process."""

import time

import pytest
import redis
from django.conf import settings

from deliveries.engine.limits import LocalLimiter, RedisLimiter, Want, _deal


@pytest.fixture(params=["redis", "local"])
def limiter(request):
    if request.param == "local":
        return LocalLimiter()
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(*[f"deliveries:{kind}:{n}" for kind in ("slots", "rate") for n in (1, 2, 3)])
    return RedisLimiter(client)


def granted(slots, webhook_id):
    return sum(slot.webhook_id == webhook_id for slot in slots)


def test_free_slots_are_dealt_one_per_endpoint_in_turn():
    assert _deal([10, 10, 10], 7) == [3, 2, 2]
    assert _deal([10, 1, 0], 5) == [4, 1, 0]
    assert _deal([2, 3], 10) == [2, 3]
    assert _deal([], 5) == []


def test_an_endpoint_never_has_more_than_its_cap_in_flight_across_claimers(limiter):
    first = limiter.acquire([Want(1, cap=3, rate=0, lease=30)], free=10)
    second = limiter.acquire([Want(1, cap=3, rate=0, lease=30)], free=10)  # another worker
    assert len(first) == 3 and second == []
    limiter.release(first[:1])
    assert len(limiter.acquire([Want(1, cap=3, rate=0, lease=30)], free=10)) == 1


def test_a_capped_endpoint_leaves_the_rest_to_the_others(limiter):
    wants = [Want(1, cap=2, rate=0, lease=30), Want(2, cap=10, rate=0, lease=30)]
    slots = limiter.acquire(wants, free=8)
    assert granted(slots, 1) == 2 and granted(slots, 2) == 6


def test_slots_of_a_worker_that_died_expire_with_their_lease(limiter):
    assert len(limiter.acquire([Want(1, cap=2, rate=0, lease=0.2)], free=5)) == 2
    assert limiter.acquire([Want(1, cap=2, rate=0, lease=0.2)], free=5) == []
    time.sleep(0.3)
    assert len(limiter.acquire([Want(1, cap=2, rate=0, lease=0.2)], free=5)) == 2


def test_a_rate_limit_allows_one_seconds_worth_then_refills(limiter):
    want = Want(3, cap=100, rate=5, lease=30)
    assert len(limiter.acquire([want], free=50)) == 5
    assert limiter.acquire([want], free=50) == []
    time.sleep(0.45)
    refilled = len(limiter.acquire([want], free=50))
    assert 1 <= refilled <= 3  # about 0.45 s × 5 per second
