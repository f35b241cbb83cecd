"""The broker's Redis, for what workers share besides tasks: the wake-up flag and the
endpoints' slots. ``None`` when the broker is not Redis (the embedded default)."""

from functools import cache

import redis
from django.conf import settings


@cache
def client() -> redis.Redis | None:
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return None
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)
