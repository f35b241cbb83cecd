"""Each endpoint's share of the sending capacity: in-flight slots and a rate limit.

Before a worker claims deliveries it asks for slots: at most the endpoint's cap of sends in
flight across all workers (``DELIVERIES_ENDPOINT_CONCURRENCY``, or the webhook's
``max_in_flight``), and at most its rate limit's tokens (a bucket that refills at
``rate_limit`` per second and holds one second's worth). The free capacity of the worker is
dealt out one slot per endpoint in turn, so endpoints with due work share it evenly and an
endpoint that never answers holds no more than its cap. A slot is released when its send
returns; a slot of a worker that died expires with the lease.

On Redis (the broker) one Lua script does this atomically for every worker and host.
Without Redis (the embedded default runs one worker) the same accounting runs in-process.
"""

import itertools
import logging
import threading
import time
import uuid
from dataclasses import dataclass

import redis

from deliveries.engine.shared_redis import client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Want:
    """What one endpoint may get: its in-flight cap, its rate limit (0: none), and how
    long a slot lives if its worker never releases it (seconds)."""

    webhook_id: int
    cap: int
    rate: int
    lease: float


@dataclass(frozen=True)
class Slot:
    webhook_id: int
    member: str


def _deal(available: list[int], free: int) -> list[int]:
    """Deal ``free`` slots one per endpoint in turn, none past what each may take."""
    granted = [0] * len(available)
    while free > 0:
        dealt = False
        for i, room in enumerate(available):
            if free and granted[i] < room:
                granted[i] += 1
                free -= 1
                dealt = True
        if not dealt:
            break
    return granted


# KEYS: per endpoint, its slots (a sorted set of members scored by expiry) and its bucket.
# ARGV: now, free, a unique prefix, then per endpoint cap, rate, expiry.
ACQUIRE = """
local now, free, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local n = #KEYS / 2
local room, tokens = {}, {}
for i = 1, n do
  local slots, bucket = KEYS[2 * i - 1], KEYS[2 * i]
  local cap, rate = tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
  room[i] = math.max(0, cap - redis.call('ZCARD', slots))
  if rate > 0 then
    local b = redis.call('HMGET', bucket, 't', 'at')
    local t, at = tonumber(b[1]) or rate, tonumber(b[2]) or now
    tokens[i] = math.min(rate, t + math.max(0, now - at) * rate)
    room[i] = math.min(room[i], math.floor(tokens[i]))
  end
end
local granted = {}
for i = 1, n do granted[i] = 0 end
local dealt = true
while free > 0 and dealt do
  dealt = false
  for i = 1, n do
    if free > 0 and granted[i] < room[i] then
      granted[i] = granted[i] + 1
      free = free - 1
      dealt = true
    end
  end
end
for i = 1, n do
  local slots, bucket = KEYS[2 * i - 1], KEYS[2 * i]
  local expiry = tonumber(ARGV[3 * i + 3])
  for j = 1, granted[i] do
    redis.call('ZADD', slots, expiry, prefix .. ':' .. i .. ':' .. j)
  end
  if granted[i] > 0 then
    redis.call('EXPIREAT', slots, math.ceil(expiry) + 60)
  end
  if tokens[i] ~= nil then
    redis.call('HSET', bucket, 't', tokens[i] - granted[i], 'at', now)
    redis.call('EXPIRE', bucket, 60)
  end
end
return granted
"""


def _slots_key(webhook_id: int) -> str:
    return f"deliveries:slots:{webhook_id}"


def _bucket_key(webhook_id: int) -> str:
    return f"deliveries:rate:{webhook_id}"


class LocalLimiter:
    """The same accounting for the workers of this process only."""

    def __init__(self):
        self._lock = threading.Lock()
        self._slots: dict[int, dict[str, float]] = {}
        self._buckets: dict[int, tuple[float, float]] = {}
        self._ids = itertools.count()

    def acquire(self, wants: list[Want], free: int) -> list[Slot]:
        now = time.time()
        with self._lock:
            room = []
            for want in wants:
                slots = self._slots.setdefault(want.webhook_id, {})
                for member, expiry in list(slots.items()):
                    if expiry <= now:
                        del slots[member]
                available = max(0, want.cap - len(slots))
                if want.rate:
                    tokens, at = self._buckets.get(want.webhook_id, (want.rate, now))
                    tokens = min(want.rate, tokens + max(0.0, now - at) * want.rate)
                    self._buckets[want.webhook_id] = (tokens, now)
                    available = min(available, int(tokens))
                room.append(available)
            granted = []
            for want, count in zip(wants, _deal(room, free), strict=True):
                if want.rate and count:
                    tokens, at = self._buckets[want.webhook_id]
                    self._buckets[want.webhook_id] = (tokens - count, at)
                for _ in range(count):
                    member = str(next(self._ids))
                    self._slots[want.webhook_id][member] = now + want.lease
                    granted.append(Slot(want.webhook_id, member))
            return granted

    def release(self, slots: list[Slot]) -> None:
        with self._lock:
            for slot in slots:
                self._slots.get(slot.webhook_id, {}).pop(slot.member, None)


class RedisLimiter:
    """Slots and buckets shared by every worker on every host, in the broker's Redis."""

    def __init__(self, redis_client: redis.Redis):
        self._redis = redis_client
        self._acquire = redis_client.register_script(ACQUIRE)

    def acquire(self, wants: list[Want], free: int) -> list[Slot]:
        now = time.time()
        prefix = uuid.uuid4().hex
        keys, args = [], [now, free, prefix]
        for want in wants:
            keys += [_slots_key(want.webhook_id), _bucket_key(want.webhook_id)]
            args += [want.cap, want.rate, now + want.lease]
        granted = self._acquire(keys=keys, args=args)
        return [
            Slot(want.webhook_id, f"{prefix}:{i}:{j}")
            for i, (want, count) in enumerate(zip(wants, granted, strict=True), start=1)
            for j in range(1, int(count) + 1)
        ]

    def release(self, slots: list[Slot]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for slot in slots:
            pipe.zrem(_slots_key(slot.webhook_id), slot.member)
        pipe.execute()


_local = LocalLimiter()
_shared: RedisLimiter | None = None


def _limiter() -> RedisLimiter | LocalLimiter:
    global _shared
    redis_client = client()
    if redis_client is None:
        return _local
    if _shared is None:
        _shared = RedisLimiter(redis_client)
    return _shared


def acquire(wants: list[Want], free: int) -> list[Slot]:
    """Up to ``free`` slots dealt across ``wants``, never past an endpoint's cap or rate.
    If Redis cannot be reached, the limits hold for this process only meanwhile."""
    if not wants or free <= 0:
        return []
    limiter = _limiter()
    try:
        return limiter.acquire(wants, free)
    except redis.RedisError as error:
        logger.warning("Endpoint limits unavailable on Redis (%s); counting in-process", error)
        return _local.acquire(wants, free)


def release(slots: list[Slot]) -> None:
    """Give slots back; never raises (a slot not given back expires with its lease)."""
    if not slots:
        return
    _local.release(slots)  # first: slots from the in-process fallback (a no-op otherwise)
    limiter = _limiter()
    if limiter is _local:
        return
    try:
        limiter.release(slots)
    except redis.RedisError as error:
        logger.warning("Could not release %s endpoint slots: %s", len(slots), error)
