"""The rows of a benchmark history, generated oldest first in chunks."""

import base64
import bisect
import hmac
import itertools
import json
import math
import random
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Max

from deliveries.bench.catalogue import (
    EVENT_WEIGHTS,
    FAILURES,
    MONTHS,
    PERMANENT,
    WEEKDAYS,
    Hook,
    event_data,
    failure_of,
)
from deliveries.bench.writers import ATTEMPT_COLUMNS, Chunk
from deliveries.engine.sender import USER_AGENT
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, Trigger
from webhooks.models import Event, EventType
from webhooks.retry_policy import JITTER

CHUNK_ATTEMPTS = 20_000
ID_BLOCK = 10_000
# Share of failed deliveries an admin retried by hand, and how often that worked.
MANUAL_RETRY_SHARE, MANUAL_RETRY_SUCCESS = 0.25, 0.75
# The share of attempts that fail, whatever the random seed.
FAILED_SHARE = 0.10
HEADERS_HEAD = json.dumps({"Content-Type": "application/json", "User-Agent": USER_AGENT})[:-1]
_encoder = DjangoJSONEncoder()


class Clock:
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


class Ids:
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


class History:
    """Generates the rows, oldest first, stopping at exactly ``total`` attempts."""

    def __init__(self, rng, kinds, subscribers, start, now, total, user_id):
        self.rng, self.now, self.total, self.user_id = rng, now, total, user_id
        self.clock = Clock(start, now)
        self.event_id = Ids(Event)
        self.delivery_id = Ids(Delivery)
        self.attempt_id = Ids(DeliveryAttempt)
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

    def _fan_out(self, rng) -> tuple[EventType, list[Hook]]:
        """An event type, weighted by how common it is, and one to three of its
        subscribers, weighted by their volume."""
        kind, hooks, weights = rng.choices(self.kinds, cum_weights=self.kind_weights)[0]
        fanout = min(len(hooks), rng.choices((1, 2, 3), (5, 3, 2))[0])
        chosen: list[Hook] = []
        while len(chosen) < fanout:
            hook = rng.choices(hooks, cum_weights=weights)[0]
            if hook not in chosen:
                chosen.append(hook)
        return kind, chosen

    def chunks(self):
        chunk = Chunk()
        while self.done < self.total:
            created = self.clock.at(self.done / self.total, self.rng.random())
            self._event(chunk, min(created, self.now))
            if len(chunk.attempts) >= CHUNK_ATTEMPTS:
                yield chunk
                chunk = Chunk()
        # A few deliveries still queued or being sent, as a live system always has.
        count = max(4, min(100, self.total // 20_000))
        ages = sorted((self.rng.uniform(1, 300) for _ in range(count)), reverse=True)
        for n, age in enumerate(ages):
            waiting = DeliveryStatus.PENDING if n % 2 else DeliveryStatus.IN_PROGRESS
            self._event(chunk, self.now - timedelta(seconds=age), waiting)
        yield chunk

    def _event(self, chunk: Chunk, created: datetime, waiting: str | None = None) -> None:
        """One event and its deliveries; ``waiting`` makes them wait in that status."""
        rng = self.rng
        kind, chosen = self._fan_out(rng)
        event_id = self.event_id()
        occurred = max(created - timedelta(milliseconds=rng.randint(0, 1500)), self.clock.start)
        data = json.dumps(event_data(rng, kind.category, occurred), separators=(",", ":"))
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
                # The next try is still to come: a retry after a failure, or the first.
                return (DeliveryStatus.FAILED if out else DeliveryStatus.PENDING), at
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
            content_type, response, duration, detail, url = failure_of(rng, hook, failure)
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
