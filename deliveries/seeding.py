"""Realistic delivery history at scale, for the delivery log and stats benchmarks.

``seed()`` adds webhooks marked as seeded (``SEED_MARK`` opens their description) and
writes events, deliveries and attempts over the last ``days``, oldest first, in chunks.
On PostgreSQL a second connection COPYs chunk n while this thread generates chunk n+1;
other databases get plain INSERTs (slow, but fine for a few thousand attempts).
"""

import base64
import bisect
import hmac
import itertools
import json
import math
import queue
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from config.web import ADMIN_GROUP
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, FailureReason, Trigger
from deliveries.sender import REDACTED, USER_AGENT
from webhooks.management.commands.load_demo import EVENT_TYPES as DEMO_EVENT_TYPES
from webhooks.models import SECRET_PREFIX, Event, EventType, SystemSettings, Webhook
from webhooks.retry_policy import JITTER, policy, schedule

SEED_MARK = "Seeded by seed_deliveries"
CHUNK_ATTEMPTS = 20_000
ID_BLOCK = 10_000
# Share of failed deliveries an admin retried by hand, and how often that worked.
MANUAL_RETRY_SHARE, MANUAL_RETRY_SUCCESS = 0.25, 0.75
# The share of attempts that fail, whatever the random seed.
FAILED_SHARE = 0.10

EVENT_TYPES = [
    *DEMO_EVENT_TYPES,
    ("license.renewed", "License", "A license was renewed for another term."),
    ("activation.limit_reached", "Activation", "An activation was refused: no seats left."),
    ("product.deleted", "Product", "A product was removed from the catalog."),
    ("user.updated", "User", "A user's profile changed."),
    ("user.deleted", "User", "A user account was deleted."),
    ("invoice.paid", "Invoice", "An invoice was paid."),
    ("invoice.payment_failed", "Invoice", "A payment for an invoice was declined."),
    ("subscription.created", "Subscription", "A subscription started."),
    ("subscription.cancelled", "Subscription", "A subscription was cancelled."),
]
# How often each event type happens; the others weigh 1.
EVENT_WEIGHTS = {
    "license.assigned": 6,
    "activation.created": 5,
    "user.created": 5,
    "user.updated": 4,
    "invoice.paid": 3,
    "license.renewed": 2,
    "subscription.created": 2,
}
COMPANIES = [
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises",
    "Soylent", "Cyberdyne", "Tyrell", "Wonka", "Aperture", "Vandelay", "Pied Piper",
    "Dunder Mifflin", "Oscorp", "Nakatomi", "Massive Dynamic", "Gringotts", "Bluth Company",
    "Sterling Cooper", "Monarch", "Virtucon", "Contoso", "Prestige Worldwide",
]  # fmt: skip
# Name, host word, path, categories subscribed (None: all of them).
PURPOSES = [
    ("Billing", "billing", "/webhooks/billing", ["License", "Invoice", "Subscription"]),
    ("CRM Sync", "crm", "/hooks/contacts", ["User"]),
    ("License Server", "licensing", "/api/v1/license-events", ["License", "Activation"]),
    ("Analytics", "events", "/ingest/webhooks", None),
    ("Provisioning", "provision", "/callbacks/provision", ["Activation", "License"]),
    ("Catalog Sync", "catalog", "/sync/products", ["Product"]),
    ("Support Desk", "support", "/integrations/portal", ["User", "Subscription"]),
    ("Data Warehouse", "etl", "/v2/webhooks/inbound", None),
]
# A failure kind: (reason, response code).
FAILURES = {
    "500": (FailureReason.HTTP_ERROR, 500),
    "502": (FailureReason.HTTP_ERROR, 502),
    "503": (FailureReason.HTTP_ERROR, 503),
    "504": (FailureReason.HTTP_ERROR, 504),
    "404": (FailureReason.HTTP_ERROR, 404),
    "401": (FailureReason.HTTP_ERROR, 401),
    "410": (FailureReason.HTTP_ERROR, 410),
    "timeout": (FailureReason.TIMEOUT, None),
    "refused": (FailureReason.CONNECTION_REFUSED, None),
    "dns": (FailureReason.DNS_ERROR, None),
    "tls": (FailureReason.TLS_ERROR, None),
    "invalid_url": (FailureReason.INVALID_URL, None),
    "blocked": (FailureReason.BLOCKED_DESTINATION, None),
}
# Never retried (STYLE.md: the sender's permanent failures).
PERMANENT = {"invalid_url", "blocked"}
# Profile: chance a first attempt fails, chance a retry fails again, failure kinds by weight.
PROFILES = {
    "healthy": (
        0.035,
        0.3,
        {
            "500": 4,
            "502": 2,
            "503": 3,
            "504": 1,
            "404": 0.5,
            "timeout": 3,
            "refused": 1,
            "dns": 0.5,
        },
    ),
    "flaky": (0.18, 0.5, {"502": 3, "503": 4, "504": 2, "timeout": 3, "refused": 1}),
    "erroring": (0.25, 0.6, {"500": 8, "404": 1}),
    "auth": (0.2, 0.9, {"401": 1}),
    "gone": (0.5, 0.97, {"410": 3, "404": 1}),
    "network": (0.2, 0.6, {"dns": 2, "tls": 2, "refused": 1, "timeout": 1}),
    "misconfigured": (0.1, 0.5, {"invalid_url": 1, "500": 1}),
    "blocked": (0.1, 0.5, {"blocked": 1, "timeout": 1}),
}
# The unhealthy profiles in 50 webhooks; fewer webhooks get a proportional share.
SPECIAL = [*["flaky"] * 5, "erroring", "auth", "gone", "network", "misconfigured", "blocked"]
SUCCESS_STYLES = [
    (200, "application/json", '{"received":true}'),
    (200, "application/json", '{"ok":true}'),
    (202, "application/json", '{"status":"accepted","id":"%s"}'),
    (204, "", ""),
    (200, "text/plain; charset=utf-8", "OK"),
]
ERROR_BODIES = {
    404: '{"error":"not_found","message":"No route matches POST %s"}',
    401: '{"error":"invalid_signature","message":"Signature verification failed"}',
    410: '{"error":"gone","message":"This endpoint was retired. Update your webhook URL."}',
    503: '{"error":"service_unavailable","message":"Down for maintenance, retry later"}',
}
GATEWAY_PAGE = (
    "<html>\r\n<head><title>{0}</title></head>\r\n<body>\r\n<center><h1>{0}</h1></center>"
    "\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
FIRST = ["Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Ken", "Radia", "Edsger"]
LAST = ["Lovelace", "Hopper", "Torvalds", "Hamilton", "Turing", "Liskov", "Thompson", "Perlman"]
MAIL_DOMAINS = ["example.com", "example.org", "example.net"]
PRODUCTS = [
    ("STU-PRO", "Studio Pro"), ("ANL-PLS", "Analytics Plus"), ("TEAM-VLT", "Team Vault"),
    ("EDGE-GW", "Edge Gateway"), ("DSGN-SUI", "Design Suite"), ("CLD-SYNC", "Cloud Sync"),
]  # fmt: skip
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
# The start of every recorded request-headers object (deliveries.sender.build_request).
HEADERS_HEAD = json.dumps({"Content-Type": "application/json", "User-Agent": USER_AGENT})[:-1]
_encoder = DjangoJSONEncoder()


@dataclass
class SeedSummary:
    webhooks: int = 0
    events: int = 0
    deliveries: int = 0
    attempts: int = 0
    failed_attempts: int = 0


@dataclass(eq=False, slots=True)
class _Hook:
    """A seeded webhook, how it behaves, and what its requests look like."""

    id: int
    url: str
    timeout: int
    weight: float
    disabled_at: datetime | None
    first_fail: float
    retry_fail: float
    failure_kinds: list[str]
    failure_weights: list[float]
    permanent_share: float
    delays: list[float]
    latency_mu: float
    success: tuple[int, str, str]
    server: str
    stack_trace: str
    # The recorded custom and Authorization headers, as the end of a JSON object.
    headers_tail: str
    portal_key: bytes
    standard_key: bytes

    def fails(self, rng: random.Random, retry: bool) -> str | None:
        """The failure kind of an attempt, or None when it succeeds."""
        if rng.random() >= (self.retry_fail if retry else self.first_fail):
            return None
        return rng.choices(self.failure_kinds, cum_weights=self.failure_weights)[0]

    def expected_attempts(self) -> tuple[float, float]:
        """Attempts, and failed attempts, of an average automatic delivery."""
        going, attempts, failed = self.first_fail, 1.0, self.first_fail
        for _ in self.delays:
            going *= 1 - self.permanent_share
            attempts += going
            going *= self.retry_fail
            failed += going
        return attempts, failed


@dataclass
class _Chunk:
    events: list[tuple] = field(default_factory=list)
    deliveries: list[tuple] = field(default_factory=list)
    attempts: list[tuple] = field(default_factory=list)


EVENT_COLUMNS = ["id", "event_type_id", "payload", "occurred_at", "idempotency_key", "created_at"]
DELIVERY_COLUMNS = [
    "id", "webhook_id", "source", "event_id", "event_type_id", "category", "status",
    "attempt_count", "next_attempt_at", "last_attempt_at", "last_response_code",
    "last_failure_reason", "created_at", "updated_at",
]  # fmt: skip
ATTEMPT_COLUMNS = [
    "id", "delivery_id", "webhook_id", "number", "attempted_at", "trigger", "triggered_by_id",
    "request_url", "request_method", "request_headers", "request_body", "success",
    "response_code", "response_headers", "response_body", "response_body_truncated",
    "response_body_encoding", "duration_ms", "failure_reason", "failure_detail",
]  # fmt: skip
TABLES = [
    ("events", Event, EVENT_COLUMNS),
    ("deliveries", Delivery, DELIVERY_COLUMNS),
    ("attempts", DeliveryAttempt, ATTEMPT_COLUMNS),
]


def seed(
    attempts: int,
    webhooks: int = 50,
    days: int = 30,
    random_seed: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> SeedSummary:
    """Write ``attempts`` delivery attempts (exactly) to ``webhooks`` new seeded webhooks,
    spread over the last ``days``, with their events and deliveries; the same
    ``random_seed`` gives the same history. ``progress`` is called with the number of
    attempts stored after each chunk. Returns what was written.
    """
    rng = random.Random(random_seed)
    now = timezone.now()
    start = now - timedelta(days=days)
    kinds = _event_types()
    hooks, subscribers = _webhooks(rng, webhooks, kinds, start, now)
    admin = (
        get_user_model()
        .objects.filter(Q(is_superuser=True) | Q(groups__name=ADMIN_GROUP))
        .order_by("id")
        .first()
    )
    history = _History(rng, kinds, subscribers, start, now, attempts, admin.pk if admin else None)
    writer = _CopyWriter(progress) if connection.vendor == "postgresql" else _InsertWriter(progress)
    try:
        for chunk in history.chunks():
            writer.put(chunk)
    finally:
        writer.close()
    if connection.vendor == "postgresql":
        # VACUUM also sets the visibility map, so index-only scans work from the first
        # benchmark run; it takes seconds on freshly written tables, and cannot run in a
        # transaction.
        verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        tables = ", ".join(model._meta.db_table for _, model, _ in TABLES)
        with connection.cursor() as cursor:
            cursor.execute(f"{verb} {tables}")
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


def _webhooks(rng, count, kinds, start, now) -> tuple[list[_Hook], dict[int, list[_Hook]]]:
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
            hook = _Hook(
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
                stack_trace=_stack_trace(rng, slug),
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


class _Clock:
    """Turns the share of the history generated so far into a time: busier in working
    hours (UTC), quieter at weekends, growing slowly over the window."""

    def __init__(self, start: datetime, end: datetime):
        self.start = start
        minutes = max(1, int((end - start).total_seconds() // 60))
        self.step = (end - start).total_seconds() / minutes
        cumulative, total = [], 0.0
        for m in range(minutes):
            t = start + timedelta(seconds=m * self.step)
            hour = t.hour + t.minute / 60
            weight = 1 + 0.6 * math.sin((hour - 8) / 24 * 2 * math.pi)
            weight *= (0.6 if t.weekday() >= 5 else 1) * (0.8 + 0.4 * m / minutes)
            total += weight
            cumulative.append(total)
        self.cumulative = [c / total for c in cumulative]

    def at(self, share: float, jitter: float) -> datetime:
        minute = min(bisect.bisect_left(self.cumulative, share), len(self.cumulative) - 1)
        return self.start + timedelta(seconds=(minute + jitter) * self.step)


class _Ids:
    """Hands out primary keys, taken from the table's sequence in blocks."""

    def __init__(self, model):
        self.block: Iterator[int] = iter(())
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [model._meta.db_table])
                self.sequence = cursor.fetchone()[0]
        else:
            # Single writer (SQLite): carry on from the highest id.
            top = model.objects.aggregate(top=Max("id"))["top"] or 0
            self.block = itertools.count(top + 1)

    def __call__(self) -> int:
        try:
            return next(self.block)
        except StopIteration:
            # One nextval() per id: a concurrent insert takes its own id, never one of ours.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT nextval(%s::regclass) FROM generate_series(1, %s)",
                    [self.sequence, ID_BLOCK],
                )
                self.block = iter([row[0] for row in cursor.fetchall()])
            return next(self.block)


class _History:
    """Generates the rows, oldest first, stopping at exactly ``total`` attempts."""

    def __init__(self, rng, kinds, subscribers, start, now, total, user_id):
        self.rng, self.now, self.total, self.user_id = rng, now, total, user_id
        self.clock = _Clock(start, now)
        self.event_id = _Ids(Event)
        self.delivery_id = _Ids(Delivery)
        self.attempt_id = _Ids(DeliveryAttempt)
        self.done = self.failed = self.events = self.deliveries = 0
        self.lease = timedelta(seconds=settings.DELIVERIES_LEASE_MARGIN)
        # (event type, its subscribers, their cumulative weights), for types with any.
        self.kinds = [
            (
                kind,
                subscribers[kind.pk],
                list(itertools.accumulate(h.weight for h in subscribers[kind.pk])),
            )
            for kind in kinds
            if kind.pk in subscribers
        ]
        self.kind_weights = list(
            itertools.accumulate(EVENT_WEIGHTS.get(kind.name, 1) for kind, _, _ in self.kinds)
        )
        self._calibrate()

    def _calibrate(self) -> None:
        """Scale the first-attempt failure chances so that about FAILED_SHARE of the
        attempts fail, whichever webhooks drew the unhealthy profiles and the most traffic
        (a sample of fan-outs with a separate generator, so the history stays the same)."""
        sample = random.Random(0)
        sent = Counter(hook for _ in range(20_000) for hook in self._fan_out(sample)[1])
        for _ in range(3):
            expected = [(n, *hook.expected_attempts()) for hook, n in sent.items()]
            share = sum(n * f for n, _, f in expected) / sum(n * a for n, a, _ in expected)
            for hook in sent:
                hook.first_fail = min(0.95, hook.first_fail * FAILED_SHARE / share)

    def _fan_out(self, rng) -> tuple[EventType, list[_Hook]]:
        """An event type, weighted by how common it is, and one to three of its
        subscribers, weighted by their volume."""
        kind, hooks, weights = rng.choices(self.kinds, cum_weights=self.kind_weights)[0]
        fanout = min(len(hooks), rng.choices((1, 2, 3), (5, 3, 2))[0])
        chosen: list[_Hook] = []
        while len(chosen) < fanout:
            hook = rng.choices(hooks, cum_weights=weights)[0]
            if hook not in chosen:
                chosen.append(hook)
        return kind, chosen

    def chunks(self):
        chunk = _Chunk()
        while self.done < self.total:
            created = self.clock.at(self.done / self.total, self.rng.random())
            self._event(chunk, min(created, self.now))
            if len(chunk.attempts) >= CHUNK_ATTEMPTS:
                yield chunk
                chunk = _Chunk()
        # A few deliveries still queued or being sent, as a live system always has.
        count = max(4, min(100, self.total // 20_000))
        ages = sorted((self.rng.uniform(1, 300) for _ in range(count)), reverse=True)
        for n, age in enumerate(ages):
            waiting = DeliveryStatus.PENDING if n % 2 else DeliveryStatus.IN_PROGRESS
            self._event(chunk, self.now - timedelta(seconds=age), waiting)
        yield chunk

    def _event(self, chunk: _Chunk, created: datetime, waiting: str | None = None) -> None:
        """One event and its deliveries; ``waiting`` makes them wait in that status."""
        rng = self.rng
        kind, chosen = self._fan_out(rng)
        event_id = self.event_id()
        occurred = max(created - timedelta(milliseconds=rng.randint(0, 1500)), self.clock.start)
        data = json.dumps(_payload(rng, kind.category, occurred), separators=(",", ":"))
        # What deliveries.sender.delivery_body() sends, without encoding `data` twice.
        body = (
            f'{{"id":"evt_{event_id}","type":"{kind.name}",'
            f'"occurred_at":"{_encoder.default(occurred)}","data":{data}}}'
        )
        chunk.events.append((event_id, kind.pk, data, occurred, "", created))
        self.events += 1
        for hook in chosen:
            self._delivery(chunk, hook, kind, event_id, created, body, waiting)

    def _delivery(self, chunk, hook, kind, event_id, created, body, waiting) -> None:
        delivery_id = self.delivery_id()
        attempts: list[tuple] = []
        next_at, count = None, 0
        if hook.disabled_at and created >= hook.disabled_at:
            status = DeliveryStatus.NOT_TRIGGERED
        elif waiting == DeliveryStatus.PENDING:
            status, next_at = DeliveryStatus.PENDING, created
        elif waiting == DeliveryStatus.IN_PROGRESS:
            # Claimed and being sent: the claim counted the attempt it has not recorded yet.
            status, count = DeliveryStatus.IN_PROGRESS, 1
            next_at = self.now + timedelta(seconds=hook.timeout) + self.lease
        else:
            status, next_at = self._attempts(attempts, hook, kind, delivery_id, created, body)
            count = len(attempts)
        last = attempts[-1] if attempts else (None,) * len(ATTEMPT_COLUMNS)
        # Columns 4, 12 and 18 of an attempt: attempted_at, response_code, failure_reason.
        chunk.deliveries.append(
            (
                delivery_id, hook.id, "event", event_id, kind.pk, kind.category, status, count,
                next_at, last[4], last[12], last[18] or "", created, last[4] or created,
            )
        )  # fmt: skip
        chunk.attempts.extend(attempts)
        self.deliveries += 1
        self.done += len(attempts)

    def _attempts(self, out, hook, kind, delivery_id, created, body):
        """Automatic attempts and retries, then maybe a manual retry; returns the
        delivery's (status, next_attempt_at)."""
        rng = self.rng
        signed_body = body.encode()
        at = created + timedelta(milliseconds=rng.randint(20, 1500))
        limit = self.total - self.done
        while True:
            if at > self.now or len(out) >= limit:
                return DeliveryStatus.PENDING, at  # the next retry is still to come
            failure = hook.fails(rng, retry=bool(out))
            duration = self._attempt(out, hook, kind, delivery_id, at, body, signed_body, failure)
            if failure is None:
                return DeliveryStatus.SUCCESS, None
            if failure in PERMANENT or len(out) > len(hook.delays):
                break
            wait = hook.delays[len(out) - 1] * rng.uniform(1 - JITTER, 1)
            at += timedelta(seconds=wait, milliseconds=duration)
        at += timedelta(seconds=rng.uniform(300, 8 * 3600))
        manual = len(out) < limit and rng.random() < MANUAL_RETRY_SHARE and at <= self.now
        if manual and not (hook.disabled_at and at >= hook.disabled_at):
            failure = hook.fails(rng, retry=True) if rng.random() > MANUAL_RETRY_SUCCESS else None
            self._attempt(
                out, hook, kind, delivery_id, at, body, signed_body, failure, Trigger.MANUAL
            )
            if failure is None:
                return DeliveryStatus.SUCCESS, None
        return DeliveryStatus.FAILED, None

    def _attempt(
        self, out, hook, kind, delivery_id, at, body, signed_body, failure, trigger="automatic"
    ) -> int:
        """Append one attempt row; returns its duration in ms."""
        rng = self.rng
        timestamp = int(at.timestamp())
        # webhooks.signing.signature_headers(), unrolled: hmac.digest is several times
        # faster than hmac.new, and that adds up over millions of rows.
        signed = b"%d.%b" % (timestamp, signed_body)
        portal = hmac.digest(hook.portal_key, signed, "sha256").hex()
        standard = hmac.digest(hook.standard_key, b"msg_%d.%b" % (delivery_id, signed), "sha256")
        headers = (
            f'{HEADERS_HEAD}, "X-Webhook-Event": "{kind.name}", '
            f'"X-Webhook-Signature": "t={timestamp},v1={portal}", '
            f'"webhook-id": "msg_{delivery_id}", "webhook-timestamp": "{timestamp}", '
            f'"webhook-signature": "v1,{base64.b64encode(standard).decode()}"'
            f"{hook.headers_tail}}}"
        )
        url = hook.url
        if failure is None:
            code, content_type, response = hook.success
            if "%s" in response:
                response = response % f"{rng.getrandbits(48):012x}"
            duration = rng.lognormvariate(hook.latency_mu, 0.6)
            reason = detail = ""
        else:
            reason, code = FAILURES[failure]
            content_type, response, duration, detail, url = _failure(rng, hook, failure)
            self.failed += 1
        response_headers = "{}"
        if code is not None:
            typed = f'"Content-Type": "{content_type}", ' if content_type else ""
            response_headers = (
                f'{{"Date": "{WEEKDAYS[at.weekday()]}, {at.day:02d} {MONTHS[at.month - 1]} '
                f'{at.year} {at.hour:02d}:{at.minute:02d}:{at.second:02d} GMT", {typed}'
                f'"Content-Length": "{len(response)}", "Connection": "keep-alive", '
                f'"Server": "{hook.server}"}}'
            )
        duration = int(duration)
        out.append(
            (
                self.attempt_id(), delivery_id, hook.id, len(out) + 1, at, trigger,
                self.user_id if trigger == Trigger.MANUAL else None, url, "POST", headers, body,
                failure is None, code, response_headers, response, False, "text", duration,
                reason, detail,
            )
        )  # fmt: skip
        return duration


def _failure(rng, hook: _Hook, failure: str) -> tuple[str, str, float, str, str]:
    """(content type, response body, duration in ms, failure detail, request URL)."""
    url = hook.url
    latency = rng.lognormvariate(hook.latency_mu, 0.6)
    code = FAILURES[failure][1]
    if failure == "500":
        if rng.random() < 0.15:
            return "text/plain", hook.stack_trace, latency * 3, "HTTP 500", url
        body = f'{{"error":"internal_server_error","request_id":"req_{rng.getrandbits(48):012x}"}}'
        return "application/json", body, latency * 1.5, "HTTP 500", url
    if failure in ("502", "504"):
        title = "502 Bad Gateway" if code == 502 else "504 Gateway Time-out"
        duration = rng.uniform(5, 60) if code == 502 else rng.uniform(2000, 9000)
        return "text/html", GATEWAY_PAGE.format(title), duration, f"HTTP {code}", url
    _, _, host, path = url.split("/", 3)
    path = "/" + path
    if code is not None:
        body = ERROR_BODIES[code].replace("%s", path)
        return "application/json", body, latency, f"HTTP {code}", url
    if failure == "timeout":
        detail = "the receiver did not answer in time"
        if rng.random() < 0.3:
            detail = f"no complete response within {hook.timeout} s"
        return "", "", hook.timeout * 1000 + rng.uniform(0, 40), detail, url
    if failure == "refused":
        return "", "", rng.lognormvariate(3.4, 0.5), "the receiver refused the connection", url
    if failure == "dns":
        return "", "", rng.lognormvariate(3.7, 0.6), "the host name could not be resolved", url
    if failure == "tls":
        detail = (
            f"HTTPSConnectionPool(host='{host}', port=443): Max retries exceeded with url: "
            f"{path} (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_"
            "VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1006)')))"
        )
        return "", "", rng.lognormvariate(4.4, 0.4), detail, url
    if failure == "invalid_url":
        # The URL had a typo in its port back then; it was fixed later.
        url = f"https://{host}:443443{path}"
        return "", "", 0, "the port is not a number between 0 and 65535.", url
    address = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    detail = f"{host} resolves to {address}, a private or reserved address"
    return "", "", rng.lognormvariate(3.0, 0.5), detail, url


def _stack_trace(rng, slug: str) -> str:
    """A long 500 body (2-3 KB), as a crashing receiver in one of three languages prints it."""
    package = slug.replace("-", "")
    language = rng.choice(["python", "java", "node"])
    if language == "python":
        frames = [
            ("django/core/handlers/exception.py", 55, "response = get_response(request)"),
            ("django/core/handlers/base.py", 197, "response = wrapped_callback(request)"),
            (f"{package}/webhooks/views.py", 41, "handler(payload)"),
            (f"{package}/webhooks/handlers.py", 88, "Account.objects.get(external_id=ref)"),
            ("django/db/models/query.py", 649, "raise self.model.DoesNotExist("),
        ]
        lines = ["Traceback (most recent call last):"]
        for file, line, code in frames * 3:
            lines += [f'  File "/srv/app/.venv/lib/python3.12/{file}", line {line}', f"    {code}"]
        lines.append(
            f"{package}.models.Account.DoesNotExist: Account matching query does not exist."
        )
        return "\n".join(lines)
    if language == "java":
        lines = [f'java.lang.NullPointerException: Cannot invoke "com.{package}.Customer.getId()"']
        lines += [
            f"\tat com.{package}.webhooks.EventDispatcher$Handler{n % 7}.handle"
            f"(EventDispatcher.java:{57 + n * 13})"
            for n in range(30)
        ]
        return "\n".join(lines)
    lines = ["TypeError: Cannot read properties of undefined (reading 'email')"]
    lines += [
        f"    at handle{n % 5} (/srv/{package}/dist/handlers/events.js:{41 + n}:7)"
        for n in range(36)
    ]
    return "\n".join(lines)


def _person(rng) -> dict:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "id": f"usr_{rng.getrandbits(40):010x}",
        "email": f"{first.lower()}.{last.lower()}@{rng.choice(MAIL_DOMAINS)}",
        "name": f"{first} {last}",
    }


def _payload(rng, category: str, occurred: datetime) -> dict:
    """An event's data: a few hundred bytes, shaped by its category."""
    sku, product = rng.choice(PRODUCTS)
    license_key = "-".join(f"{rng.getrandbits(16):04X}" for _ in range(4))
    later = (occurred + timedelta(days=rng.choice([30, 365]))).date().isoformat()
    data = {
        "id": f"{category[:3].lower()}_{rng.getrandbits(64):016x}",
        "account": {"id": f"acct_{rng.randint(10000, 99999)}", "name": rng.choice(COMPANIES)},
    }
    if category == "License":
        data |= {
            "license_key": license_key,
            "product": {"sku": sku, "name": product},
            "user": _person(rng),
            "seats": rng.randint(1, 250),
            "expires_at": later,
        }
    elif category == "Activation":
        data |= {
            "license_key": license_key,
            "device": {
                "id": f"dev_{rng.getrandbits(32):08x}",
                "hostname": f"{rng.choice(FIRST).lower()}-{rng.choice(['mbp', 'xps', 'ws'])}",
                "os": rng.choice(["macOS 14.5", "Windows 11", "Ubuntu 24.04"]),
                "app_version": f"4.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
            },
            "user": _person(rng),
        }
    elif category == "Product":
        price = rng.choice([4900, 9900, 19900, 49900])
        data |= {
            "product": {"sku": sku, "name": product, "status": "active"},
            "price": {"amount": price, "currency": rng.choice(["USD", "EUR", "GBP"])},
            "tags": rng.sample(["design", "team", "cloud", "security", "analytics"], 2),
        }
    elif category == "Invoice":
        quantity, price = rng.randint(1, 50), rng.choice([900, 1900, 4900])
        data |= {
            "customer": _person(rng),
            "amount_due": quantity * price,
            "currency": rng.choice(["USD", "EUR", "GBP"]),
            "lines": [{"sku": sku, "quantity": quantity, "unit_amount": price}],
            "due_date": later,
        }
    elif category == "Subscription":
        data |= {
            "customer": _person(rng),
            "plan": rng.choice(["team", "business", "enterprise"]),
            "interval": rng.choice(["month", "year"]),
            "current_period_end": later,
        }
    else:
        data |= {
            "user": _person(rng)
            | {"locale": rng.choice(["en-US", "de-DE", "fr-FR", "ja-JP", "pt-BR"])},
            "source": rng.choice(["signup_form", "sso", "invite", "api"]),
        }
    return data


class _CopyWriter:
    """COPYs chunks on its own connection in a thread, so PostgreSQL stores one chunk
    while the caller generates the next. Each chunk is one transaction."""

    def __init__(self, progress):
        self.progress, self.stored, self.error = progress, 0, None
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        # Inside a transaction the seeded webhooks are invisible to another connection.
        self.thread = None
        if not connection.in_atomic_block:
            self.thread = threading.Thread(target=self._run, name="seed-copy", daemon=True)
            self.thread.start()

    def put(self, chunk: _Chunk) -> None:
        if self.error is not None:
            raise self.error
        if self.thread is None:
            self._copy(chunk)
        else:
            self.queue.put(chunk)

    def close(self) -> None:
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        # `connection` is per thread: this is the writer's own.
        try:
            while (chunk := self.queue.get()) is not None:
                if self.error is None:
                    try:
                        self._copy(chunk)
                    except Exception as error:  # handed to the generating thread
                        self.error = error
        finally:
            connection.close()

    def _copy(self, chunk: _Chunk) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            for attr, model, columns in TABLES:
                names = ", ".join(model._meta.get_field(c).column for c in columns)
                sql = f"COPY {model._meta.db_table} ({names}) FROM STDIN"
                with cursor.cursor.copy(sql) as copy:
                    for row in getattr(chunk, attr):
                        copy.write_row(row)
        self.stored += len(chunk.attempts)
        if self.progress:
            self.progress(self.stored)


class _InsertWriter:
    """INSERTs for databases without COPY (SQLite)."""

    def __init__(self, progress):
        self.progress, self.stored = progress, 0

    def put(self, chunk: _Chunk) -> None:
        adapt = connection.ops.adapt_datetimefield_value
        with transaction.atomic(), connection.cursor() as cursor:
            for attr, model, columns in TABLES:
                names = ", ".join(model._meta.get_field(c).column for c in columns)
                marks = ", ".join(["%s"] * len(columns))
                rows = [
                    [adapt(v) if isinstance(v, datetime) else v for v in row]
                    for row in getattr(chunk, attr)
                ]
                cursor.executemany(
                    f"INSERT INTO {model._meta.db_table} ({names}) VALUES ({marks})", rows
                )
        self.stored += len(chunk.attempts)
        if self.progress:
            self.progress(self.stored)

    def close(self) -> None:
        pass
