"""Throughput benchmark: emit events, let real workers deliver them, report the rate.

Needs PostgreSQL and Redis (DATABASE_URL, CELERY_BROKER_URL). It creates its own event
type and webhooks (named ``bench-*``) pointing at a fast local receiver, and deletes its
rows afterwards. Use a scratch database: the workers send whatever else is due too.
"""

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections
from django.db.models import Count, Max, Min

from deliveries.bench.processes import receiver_and_workers
from deliveries.engine import emit
from deliveries.models import Delivery, DeliveryAttempt
from webhooks.models import Event, EventType, Webhook

EVENT_TYPE = "bench.ping"


def _emit_one(n: int) -> None:
    try:
        emit(EVENT_TYPE, {"n": n, "text": "benchmark payload " * 8})
    finally:
        connections.close_all()  # each emitter thread holds its own connection


class Command(BaseCommand):
    help = "Measure end-to-end deliveries per second (emit -> attempt recorded)."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=2000)
        parser.add_argument("--webhooks", type=int, default=5, help="subscribers per event")
        parser.add_argument("--workers", type=int, default=1, help="worker processes")
        parser.add_argument("--concurrency", type=int, default=2, help="prefork children each")
        parser.add_argument(
            "--emitters", type=int, default=4, help="threads emitting, like API servers"
        )
        parser.add_argument("--timeout", type=float, default=600)

    def handle(self, events, webhooks, workers, concurrency, emitters, timeout, **options):
        if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"):
            raise CommandError(
                "bench_deliveries runs on PostgreSQL and Redis: set DATABASE_URL and "
                "CELERY_BROKER_URL (e.g. postgres://postgres@127.0.0.1/bench and "
                "redis://127.0.0.1:6379/14)."
            )
        from config.celery import app

        app.control.purge()
        self._cleanup()
        with receiver_and_workers(workers, concurrency, log=self.stderr.write) as port:
            try:
                kind = EventType.objects.create(name=EVENT_TYPE, category="Benchmark")
                for n in range(webhooks):
                    hook = Webhook.objects.create(
                        name=f"bench-{n}", url=f"http://127.0.0.1:{port}/hook/{n}"
                    )
                    hook.event_types.set([kind])
                time.sleep(3)  # let the workers start before the clock does
                self._run(events, webhooks, emitters, timeout)
            finally:
                self._cleanup()

    def _run(self, events, webhooks, emitters, timeout):
        expected = events * webhooks
        self.stdout.write(
            f"emitting {events} events to {webhooks} webhooks ({expected} deliveries)"
        )
        started = time.time()
        with ThreadPoolExecutor(emitters) as pool:
            list(pool.map(_emit_one, range(events)))
        emitted = time.time()
        self.stdout.write(
            f"emitted in {emitted - started:.1f} s ({events / (emitted - started):.0f} events/s)"
        )
        deliveries = Delivery.objects.filter(webhook__name__startswith="bench-")
        deadline = started + timeout
        while time.time() < deadline:
            done = deliveries.filter(status__in=["success", "failed"]).count()
            if done >= expected:
                break
            time.sleep(0.5)
        else:
            raise CommandError(f"only {done} of {expected} deliveries finished in {timeout} s")
        attempts = DeliveryAttempt.objects.filter(webhook__name__startswith="bench-")
        summary = attempts.aggregate(
            n=Count("id"), first=Min("attempted_at"), last=Max("attempted_at")
        )
        missing = deliveries.filter(attempts__isnull=True).count()
        failed = deliveries.filter(status="failed").count()
        elapsed = summary["last"].timestamp() - started
        rate = expected / elapsed
        latencies = sorted(
            (attempt.attempted_at - attempt.delivery.created_at).total_seconds() * 1000
            for attempt in attempts.filter(number=1)
            .select_related("delivery")
            .only("attempted_at", "delivery__created_at")
        )
        p50 = statistics.median(latencies)
        p95 = latencies[int(len(latencies) * 0.95) - 1]
        self.stdout.write(
            f"deliveries={expected} attempts={summary['n']} failed={failed} "
            f"without_attempt={missing} elapsed_s={elapsed:.2f}"
        )
        self.stdout.write(f"latency_ms p50={p50:.0f} p95={p95:.0f}")
        self.stdout.write(f"deliveries_per_s={rate:.1f}")

    def _cleanup(self):
        Delivery.objects.filter(webhook__name__startswith="bench-").delete()
        Event.objects.filter(event_type__name=EVENT_TYPE).delete()
        Webhook.objects.filter(name__startswith="bench-").delete()
        EventType.objects.filter(name=EVENT_TYPE).delete()
