"""Fairness benchmark: does a dead endpoint slow down a healthy one?

Two stages against the local bench receiver, with real workers (PostgreSQL and Redis):

- alone: 1,000 deliveries to a healthy endpoint;
- beside a dead one: 300 deliveries to an endpoint that never answers (timeout 10 s),
  queued just before 1,000 to the healthy endpoint.

Each stage's time runs from queueing to the last healthy attempt recorded. It prints both
and last ``slowdown=<beside / alone>``. Use a scratch database.
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from deliveries.bench.processes import receiver_and_workers
from deliveries.engine import wake
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, Source
from webhooks.models import Webhook

PREFIX = "fairness-"


class Command(BaseCommand):
    help = "Time 1,000 deliveries to a healthy endpoint alone, then beside a dead one."

    def add_arguments(self, parser):
        parser.add_argument("--healthy", type=int, default=1000)
        parser.add_argument("--dead", type=int, default=300)
        parser.add_argument("--dead-timeout", type=int, default=10)
        parser.add_argument("--concurrency", type=int, default=2, help="prefork children")
        parser.add_argument("--timeout", type=float, default=600)

    def handle(self, healthy, dead, dead_timeout, concurrency, timeout, **options):
        if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"):
            raise CommandError(
                "bench_fairness runs on PostgreSQL and Redis: set DATABASE_URL and "
                "CELERY_BROKER_URL to scratch ones."
            )
        from config.celery import app

        app.control.purge()
        self._cleanup()
        with receiver_and_workers(1, concurrency, log=self.stderr.write) as port:
            try:
                fine = Webhook.objects.create(
                    name=f"{PREFIX}healthy", url=f"http://127.0.0.1:{port}/ok"
                )
                hung = Webhook.objects.create(
                    name=f"{PREFIX}dead",
                    url=f"http://127.0.0.1:{port}/dead",
                    timeout_seconds=dead_timeout,
                    max_retries=0,
                )
                time.sleep(3)  # let the workers start before the clock does
                alone = self._stage([(fine, healthy)], fine, timeout)
                self.stdout.write(f"alone: {healthy} deliveries in {alone:.2f} s")
                beside = self._stage([(hung, dead), (fine, healthy)], fine, timeout)
                self.stdout.write(
                    f"beside a dead one: {healthy} deliveries in {beside:.2f} s "
                    f"(after {dead} to an endpoint that never answers)"
                )
                self.stdout.write(f"slowdown={beside / alone:.2f}")
            finally:
                self._cleanup()

    def _stage(self, batches, measured: Webhook, timeout: float) -> float:
        """Queue the batches (in order, one transaction), wake the workers, and return the
        seconds until every delivery to ``measured`` has its attempt recorded."""
        started = timezone.now()
        with transaction.atomic():
            for webhook, count in batches:
                Delivery.objects.bulk_create(
                    Delivery(
                        webhook=webhook,
                        source=Source.EVENT,
                        payload={"n": n, "text": "fairness payload " * 8},
                        status=DeliveryStatus.PENDING,
                        next_attempt_at=timezone.now(),
                        created_at=timezone.now(),
                    )
                    for n in range(count)
                )
            transaction.on_commit(wake)
        count = dict(batches)[measured]
        waiting = Delivery.objects.filter(webhook=measured, created_at__gte=started)
        deadline = time.monotonic() + timeout
        while waiting.exclude(status__in=[DeliveryStatus.SUCCESS, DeliveryStatus.FAILED]).exists():
            if time.monotonic() > deadline:
                raise CommandError(f"the {count} deliveries did not finish in {timeout} s")
            time.sleep(0.1)
        last = DeliveryAttempt.objects.filter(delivery__in=waiting).aggregate(
            last=Max("attempted_at")
        )
        return (last["last"] - started).total_seconds()

    def _cleanup(self):
        Delivery.objects.filter(webhook__name__startswith=PREFIX).delete()
        Webhook.objects.filter(name__startswith=PREFIX).delete()
