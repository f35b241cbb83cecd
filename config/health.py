"""``/healthz``: can this web process reach the database and the broker?

Load balancers call it without logging in, so it answers JSON, 200 when both parts work
and 503 otherwise, each part ``"ok"`` or ``"failed: <reason>"``. A reason is the
exception's class and first line with the configured passwords masked: the URLs in the
settings carry credentials and the page is public. ``config.urls`` includes this module
at ``healthz``.
"""

import logging
from collections.abc import Callable
from contextlib import suppress
from urllib.parse import urlsplit

import psycopg
import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from kombu import Connection
from kombu.exceptions import KombuError

logger = logging.getLogger(__name__)

# Seconds each check may wait: a health check must answer before the balancer gives up
# (for a connection, the database pool would wait 30 s).
TIMEOUT = 2
REASON_MAX_LENGTH = 200
# What an unreachable or misconfigured part raises; anything else is a bug and a 500.
# ValueError: a broker URL that kombu or redis cannot parse.
FAILURES = (DatabaseError, psycopg.Error, redis.RedisError, KombuError, OSError, ValueError)


@require_safe  # GET and HEAD: balancers use either
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    parts = {"database": check(check_database), "broker": check(check_broker)}
    healthy = all(state == "ok" for state in parts.values())
    return JsonResponse(parts, status=200 if healthy else 503)


def check(probe: Callable[[], None]) -> str:
    """``"ok"`` if ``probe()`` returns, else ``"failed: <reason>"`` (logged in full)."""
    try:
        probe()
    except FAILURES as exc:
        logger.warning("health check %s failed", probe.__name__, exc_info=True)
        return f"failed: {reason(exc)}"
    return "ok"


def check_database() -> None:
    pool = connection.pool if connection.vendor == "postgresql" else None
    if pool is not None:
        # Borrow from psycopg's pool directly: Django's cursor() waits its full timeout.
        pool.open()  # as Django does on first use; a no-op once open
        with pool.connection(timeout=TIMEOUT) as pooled:
            pooled.execute("SELECT 1")
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        client = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
        try:
            client.ping()
        finally:
            client.close()
        return
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    with Connection(url, transport_options=options, connect_timeout=TIMEOUT) as broker:
        broker.ensure_connection(max_retries=1, interval_start=0, timeout=TIMEOUT)


def reason(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    for secret in secrets():
        text = text.replace(secret, "***")
    return text[:REASON_MAX_LENGTH]


def secrets() -> list[str]:
    """The passwords of the database and the broker, if set."""
    found = [settings.DATABASES["default"].get("PASSWORD") or ""]
    with suppress(ValueError):  # an unparsable URL; the broker check reports it
        found.append(urlsplit(settings.CELERY_BROKER_URL).password or "")
    return [secret for secret in found if secret]


urlpatterns = [path("", healthz, name="healthz")]
