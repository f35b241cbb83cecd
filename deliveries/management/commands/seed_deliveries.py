"""Seed realistic webhooks, events, deliveries and attempts for the log and stats benchmarks.

    python manage.py seed_deliveries --attempts 2000000 --clear
    python manage.py seed_deliveries --attempts 5000000 --days 1 --ago 40  # bench_retention

Use a scratch database: the seeded webhooks point at *.example.com, and a running worker
would try the few deliveries left pending.
"""

import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from deliveries.bench import seeding
from deliveries.stats import recount

PROGRESS_EVERY = 200_000


class Command(BaseCommand):
    help = "Seed realistic delivery history (exactly --attempts attempts) for benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("--attempts", type=int, default=100_000)
        parser.add_argument("--webhooks", type=int, default=50)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument(
            "--ago", type=int, default=0, help="end the history this many days ago (retention)"
        )
        parser.add_argument("--seed", type=int, default=None, help="random seed, to repeat a run")
        parser.add_argument(
            "--clear",
            action="store_true",
            help="first delete the webhooks an earlier run seeded, and everything sent to them",
        )

    def handle(self, attempts, webhooks, days, ago, seed, clear, **options):
        if attempts < 0 or webhooks < 1 or days < 1 or ago < 0:
            raise CommandError("--attempts and --ago must be >= 0, --webhooks and --days >= 1.")
        started = time.monotonic()
        if clear:
            cleared = seeding.clear()
            self.stdout.write(
                f"cleared {cleared} seeded webhooks in {time.monotonic() - started:.1f} s"
            )
        if attempts:
            self._next_report = PROGRESS_EVERY
            self._seed_started = time.monotonic()
            summary = seeding.seed(
                attempts, webhooks, days, seed, progress=self._progress, ago=timedelta(days=ago)
            )
            seconds = time.monotonic() - self._seed_started
            self.stdout.write(
                f"seeded {summary.attempts:,} attempts ({summary.failed_attempts:,} failed), "
                f"{summary.deliveries:,} deliveries, {summary.events:,} events and "
                f"{summary.webhooks} webhooks on {connection.vendor} in {seconds:.1f} s "
                f"({summary.attempts / max(seconds, 1e-9):,.0f} attempts/s)"
            )
        self._rebuild_rollups()
        self.stdout.write(f"total {time.monotonic() - started:.1f} s")

    def _progress(self, stored: int) -> None:
        if stored >= self._next_report:
            seconds = time.monotonic() - self._seed_started
            self.stdout.write(f"  {stored:>10,} attempts stored in {seconds:.1f} s")
            self._next_report = (stored // PROGRESS_EVERY + 1) * PROGRESS_EVERY

    def _rebuild_rollups(self) -> None:
        started = time.monotonic()
        recount.rebuild()
        self.stdout.write(f"rebuilt the stats rollups in {time.monotonic() - started:.1f} s")
