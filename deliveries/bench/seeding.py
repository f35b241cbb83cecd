"""Realistic delivery history at scale, for the delivery log and stats benchmarks.

``seed()`` adds webhooks marked as seeded (``SEED_MARK`` opens their description) and
writes events, deliveries and attempts over the last ``days``, oldest first, in chunks
(``history.py``, drawn from ``catalogue.py``). On PostgreSQL a second connection COPYs
chunk n while this thread generates chunk n+1 (``writers.py``); other databases get plain
INSERTs (slow, but fine for a few thousand attempts).
"""

import base64
import itertools
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from config.vacuum import vacuum_analyze
from config.web import ADMIN_GROUP
from deliveries.bench.catalogue import (
    COMPANIES,
    EVENT_TYPES,
    PERMANENT,
    PROFILES,
    PURPOSES,
    SPECIAL,
    SUCCESS_STYLES,
    Hook,
    stack_trace,
)
from deliveries.bench.history import History
from deliveries.bench.writers import TABLES, CopyWriter, InsertWriter
from deliveries.engine import partitions
from deliveries.engine.sender import REDACTED
from deliveries.models import Delivery, DeliveryAttempt
from webhooks.models import SECRET_PREFIX, Event, EventType, SystemSettings, Webhook
from webhooks.retry_policy import policy, schedule

SEED_MARK = "Seeded by seed_deliveries"


@dataclass
class SeedSummary:
    webhooks: int = 0
    events: int = 0
    deliveries: int = 0
    attempts: int = 0
    failed_attempts: int = 0


def seed(
    attempts: int,
    webhooks: int = 50,
    days: int = 30,
    random_seed: int | None = None,
    progress: Callable[[int], None] | None = None,
    ago: timedelta = timedelta(0),
) -> SeedSummary:
    """Write ``attempts`` delivery attempts (exactly) to ``webhooks`` new seeded webhooks,
    spread over ``days`` that end ``ago`` (now, by default), with their events and
    deliveries; the same ``random_seed`` gives the same history. ``progress`` is called
    with the number of attempts stored after each chunk. Returns what was written.
    """
    rng = random.Random(random_seed)
    now = timezone.now() - ago
    start = now - timedelta(days=days)
    kinds = _event_types()
    hooks, subscribers = _webhooks(rng, webhooks, kinds, start, now)
    admin = (
        get_user_model()
        .objects.filter(Q(is_superuser=True) | Q(groups__name=ADMIN_GROUP))
        .order_by("id")
        .first()
    )
    history = History(rng, kinds, subscribers, start, now, attempts, admin.pk if admin else None)
    partitions.ensure(start.date(), now.date())  # a partition a day (PostgreSQL)
    writer = CopyWriter(progress) if connection.vendor == "postgresql" else InsertWriter(progress)
    try:
        for chunk in history.chunks():
            writer.put(chunk)
    finally:
        writer.close()
    # The visibility map set, index-only scans work from the first benchmark run; it
    # takes seconds on freshly written tables.
    vacuum_analyze(*(model._meta.db_table for _, model, _ in TABLES))
    return SeedSummary(
        webhooks=len(hooks),
        events=history.events,
        deliveries=history.deliveries,
        attempts=history.done,
        failed_attempts=history.failed,
    )


def clear() -> int:
    """Delete the seeded webhooks with their deliveries, attempts and the events that went
    only to them. Returns how many webhooks were deleted."""
    ids = list(
        Webhook.objects.filter(description__startswith=SEED_MARK).values_list("id", flat=True)
    )
    if not ids:
        return 0
    attempts, deliveries, events = (m._meta.db_table for m in (DeliveryAttempt, Delivery, Event))
    marks = ", ".join(["%s"] * len(ids))
    # Plain DELETEs: the ORM's cascade would load millions of rows into Python.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {attempts} WHERE webhook_id IN ({marks})", ids)
        cursor.execute(
            f"""DELETE FROM {events} WHERE id IN (
                    SELECT event_id FROM {deliveries} WHERE webhook_id IN ({marks}))
                AND NOT EXISTS (
                    SELECT 1 FROM {deliveries} other
                    WHERE other.event_id = {events}.id AND other.webhook_id NOT IN ({marks}))""",
            ids + ids,
        )
        cursor.execute(f"DELETE FROM {deliveries} WHERE webhook_id IN ({marks})", ids)
        Webhook.objects.filter(id__in=ids).delete()
    return len(ids)


def _event_types() -> list[EventType]:
    kinds = []
    for name, category, description in EVENT_TYPES:
        kind, _ = EventType.objects.get_or_create(
            name=name, defaults={"category": category, "description": description}
        )
        kinds.append(kind)
    return kinds


def _webhooks(rng, count, kinds, start, now) -> tuple[list[Hook], dict[int, list[Hook]]]:
    """Create ``count`` seeded webhooks; return them and their subscribers by event type."""
    names = [(company, purpose) for company in COMPANIES for purpose in PURPOSES]
    rng.shuffle(names)
    specials = SPECIAL[: round(count * len(SPECIAL) / 50)]
    profiles = specials + ["healthy"] * (count - len(specials))
    rng.shuffle(profiles)
    # The endpoint that answers 410 Gone was switched off in the end, and a couple of others.
    disabled = {n for n, profile in enumerate(profiles) if profile == "gone"}
    healthy = [n for n, profile in enumerate(profiles) if profile == "healthy"]
    disabled |= set(rng.sample(healthy, min(len(healthy), round(count * 2 / 50))))
    system = SystemSettings.load()
    hooks, subscribers = [], {}
    with transaction.atomic():
        for n, profile in enumerate(profiles):
            company, (purpose, host_word, path, categories) = names[n % len(names)]
            slug = company.lower().replace(" ", "-")
            suffix = f" {n // len(names) + 1}" if n >= len(names) else ""
            secret = SECRET_PREFIX + base64.b64encode(rng.randbytes(24)).decode()
            fields = {
                "name": f"{company} {purpose}{suffix}",
                "url": f"https://{host_word}.{slug}.example.com{path}",
                "description": f"{SEED_MARK} ({profile}).",
                "is_active": n not in disabled,
                "secret": secret,
                "timeout_seconds": rng.choice([10, 10, 10, 5, 30]),
                "custom_headers": [],
            }
            recorded = {}
            if rng.random() < 0.3:
                fields["custom_headers"].append(
                    {"name": "X-Tenant", "value": slug, "secret": False}
                )
                recorded["X-Tenant"] = slug
            if rng.random() < 0.25:
                name = rng.choice(["X-Api-Key", "Authorization"])
                value = rng.randbytes(16).hex()
                value = f"Bearer {value}" if name == "Authorization" else value
                fields["custom_headers"].append({"name": name, "value": value, "secret": True})
                recorded[name] = REDACTED
            elif rng.random() < 0.25:
                fields["basic_auth_username"] = "portal"
                fields["basic_auth_password"] = rng.randbytes(12).hex()
                recorded["Authorization"] = f"Basic {REDACTED}"
            webhook = Webhook.objects.create(**fields)
            Webhook.objects.filter(pk=webhook.pk).update(
                created_at=start - timedelta(days=rng.uniform(1, 200))
            )
            subscribed = [k for k in kinds if categories is None or k.category in categories]
            webhook.event_types.set(subscribed)
            first_fail, retry_fail, failures = PROFILES[profile]
            hook = Hook(
                id=webhook.pk,
                url=webhook.url,
                timeout=webhook.timeout_seconds,
                weight=max(0.3, rng.lognormvariate(0, 0.7))
                * (0.3 if profile in ("gone", "auth") else 1),
                disabled_at=None
                if webhook.is_active
                else start + (now - start) * rng.uniform(0.6, 0.95),
                first_fail=first_fail,
                retry_fail=retry_fail,
                failure_kinds=list(failures),
                failure_weights=list(itertools.accumulate(failures.values())),
                permanent_share=sum(failures.get(k, 0) for k in PERMANENT) / sum(failures.values()),
                delays=schedule(*policy(webhook, system)),
                latency_mu=math.log(rng.uniform(40, 400)),
                success=rng.choice(SUCCESS_STYLES),
                server=rng.choice(["nginx", "cloudflare", "envoy", "gunicorn", "Kestrel"]),
                stack_trace=stack_trace(rng, slug),
                headers_tail="".join(
                    f", {json.dumps(k)}: {json.dumps(v)}" for k, v in recorded.items()
                ),
                portal_key=secret.encode(),
                standard_key=base64.b64decode(secret.removeprefix(SECRET_PREFIX)),
            )
            hooks.append(hook)
            for kind in subscribed:
                subscribers.setdefault(kind.pk, []).append(hook)
    return hooks, subscribers
