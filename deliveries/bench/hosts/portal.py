"""The portal's side of the several-hosts run, seen from the root namespace: its scratch
database (made and migrated here), its broker, the run's rows, and what the database
says at the end.

The run's rows are named with ``PREFIX`` (webhooks, API key) or typed ``EVENT_TYPE``
(events): a run deletes those of an earlier one before it starts, so a crashed run's
pending deliveries are never sent by the next run's workers.
"""

from urllib.parse import urlsplit

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db.models import Q
from psycopg import sql

from deliveries.engine import wakeups
from deliveries.engine.shared_redis import client as redis_client
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from webhooks.models import ApiKey, Event, EventType, RetryStrategy, Webhook

PREFIX = "hosts-"
EVENT_TYPE = "bench.hosts"
# The webhooks' timeout (the default): a send lasts at most this long.
TIMEOUT = 10


def database_target() -> tuple[str, int]:
    """Where this process's PostgreSQL is (host, port)."""
    db = settings.DATABASES["default"]
    return db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)


def broker_target() -> tuple[str, int]:
    parts = urlsplit(settings.CELERY_BROKER_URL)
    return parts.hostname or "127.0.0.1", parts.port or 6379


def forwarded_urls(gateway: str) -> tuple[str, str]:
    """The database and broker URLs of a host: this process's, reached at ``gateway``
    (the forwarder listens there on the same port numbers)."""
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    database = f"postgres://{db['USER']}{password}@{gateway}:{database_target()[1]}/{db['NAME']}"
    broker = urlsplit(settings.CELERY_BROKER_URL)
    auth = broker.netloc.rpartition("@")[0]
    netloc = f"{auth + '@' if auth else ''}{gateway}:{broker_target()[1]}"
    return database, broker._replace(netloc=netloc).geturl()


def ensure_database() -> bool:
    """Create this process's database if it does not exist (through the server's
    ``postgres`` database); whether it was created. Then migrate it."""
    db = settings.DATABASES["default"]
    host, port = database_target()
    with psycopg.connect(
        host=host, port=port, user=db["USER"], password=db["PASSWORD"] or None,
        dbname="postgres", autocommit=True,
    ) as maintenance:  # fmt: skip
        exists = maintenance.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
        ).fetchone()
        if not exists:
            maintenance.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
    call_command("migrate", verbosity=0, interactive=False)
    return not exists


def clean() -> None:
    """Delete the rows of earlier runs (deliveries, events, webhooks, the API key)."""
    hooks = list(Webhook.objects.filter(name__startswith=PREFIX).values_list("id", flat=True))
    Delivery.objects.filter(webhook_id__in=hooks).delete()
    Event.objects.filter(event_type__name=EVENT_TYPE).delete()
    Webhook.objects.filter(pk__in=hooks).delete()
    EventType.objects.filter(name=EVENT_TYPE).delete()
    ApiKey.objects.filter(name__startswith=PREFIX).delete()


def purge_broker() -> None:
    """Forget the queued tasks, the wake-up flag and the endpoint slots earlier runs left
    in the broker's Redis database."""
    from config.celery import app

    app.control.purge()
    wakeups.clear()
    redis = redis_client()
    if redis is not None:
        keys = [*redis.scan_iter("deliveries:slots:*"), *redis.scan_iter("deliveries:rate:*")]
        if keys:
            redis.delete(*keys)


def create_webhooks(urls: list[str], retry_every: int, max_retries: int) -> list[int]:
    """One webhook per receiver URL, subscribed to ``EVENT_TYPE``, retrying every
    ``retry_every`` seconds (a fixed interval) up to ``max_retries`` times: a delivery
    failed by a cut link is sent again within the run, not in half an hour."""
    kind = EventType.objects.create(name=EVENT_TYPE, category="Benchmark")
    hooks = []
    for n, url in enumerate(urls):
        hook = Webhook.objects.create(
            name=f"{PREFIX}{n}",
            url=url,
            timeout_seconds=TIMEOUT,
            max_retries=max_retries,
            retry_strategy=RetryStrategy.FIXED,
            retry_window_seconds=retry_every * max_retries,
        )
        hook.event_types.set([kind])
        hooks.append(hook.pk)
    return hooks


def issue_key() -> str:
    return ApiKey.issue(f"{PREFIX}key")[1]


def unsettled(hooks: list[int]) -> int:
    """Deliveries to ``hooks`` not yet settled: not tried, in flight, or failed with a
    retry to come."""
    return (
        Delivery.objects.filter(webhook_id__in=hooks)
        .filter(
            Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.IN_PROGRESS])
            | Q(status=DeliveryStatus.FAILED, next_attempt_at__isnull=False)
        )
        .count()
    )


def deliveries(hooks: list[int]) -> list[tuple[int, int, str, bool]]:
    """``(id, event id, status, settled)`` of every delivery to ``hooks``."""
    rows = Delivery.objects.filter(webhook_id__in=hooks).values_list(
        "id", "event_id", "status", "next_attempt_at"
    )
    return [(pk, event, status, _settled(status, retry_at)) for pk, event, status, retry_at in rows]


def _settled(status: str, retry_at) -> bool:
    """Done: succeeded, or failed with no retry left."""
    return status == DeliveryStatus.SUCCESS or (
        status == DeliveryStatus.FAILED and retry_at is None
    )


def written_events() -> set[int]:
    return set(Event.objects.filter(event_type__name=EVENT_TYPE).values_list("id", flat=True))


def attempt_summary(hooks: list[int]) -> dict[str, int]:
    """Counts of attempts to ``hooks`` by outcome (``success`` or the failure reason),
    and ``resent_after_success``: deliveries attempted again after an attempt that
    succeeded (a stale result recorded over a newer one)."""
    summary: dict[str, int] = {}
    succeeded_at: dict[int, int] = {}
    later: set[int] = set()
    rows = (
        DeliveryAttempt.objects.filter(webhook_id__in=hooks)
        .order_by("delivery_id", "attempted_at", "number")
        .values_list("delivery_id", "number", "success", "failure_reason")
    )
    for delivery_id, number, success, reason in rows.iterator(chunk_size=5000):
        outcome = "success" if success else reason or "unknown"
        summary[outcome] = summary.get(outcome, 0) + 1
        if delivery_id in succeeded_at:
            later.add(delivery_id)
        elif success:
            succeeded_at[delivery_id] = number
    summary["resent_after_success"] = len(later)
    return summary
