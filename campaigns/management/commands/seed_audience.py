"""Seed a realistic audience (profiles and their events) for the segment benchmark.

    python manage.py seed_audience --profiles 1000000 --events 10000000 --clear

PostgreSQL only (COPY). Use a scratch database: --clear empties the profile tables.
"""

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns.bench import seeding

PROGRESS_EVERY = 1_000_000


class Command(BaseCommand):
    help = (
        "Seed N profiles and exactly M events over the last 90 days by COPY (PostgreSQL "
        "only). Defaults: --profiles 1000000 --events 10000000 (about 2.5 minutes on 2 cores)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--profiles", type=int, default=1_000_000)
        parser.add_argument("--events", type=int, default=10_000_000)
        parser.add_argument(
            "--seed", type=int, default=1, help="random seed: the same seed, the same audience"
        )
        parser.add_argument(
            "--clear", action="store_true", help="first delete all profiles and their events"
        )

    def handle(self, profiles, events, seed, clear, **options):
        if profiles < 1 or events < 0:
            raise CommandError("--profiles must be >= 1 and --events >= 0.")
        self._started = time.monotonic()
        self._next = {}
        try:
            seeding.seed(profiles, events, seed, timezone.now(), clear, self._progress)
        except seeding.SeedError as error:
            raise CommandError(f"{error}.") from None
        self.stdout.write(
            f"seeded {profiles:,} profiles and {events:,} events in {self._seconds()} s"
        )

    def _progress(self, report: seeding.Progress) -> None:
        if report.step:
            self.stdout.write(f"  {self._seconds():>6} s  {report.step}")
        elif report.rows >= self._next.get(report.table, 0):
            self.stdout.write(f"  {self._seconds():>6} s  {report.table}: {report.rows:,} rows")
            self._next[report.table] = (report.rows // PROGRESS_EVERY + 1) * PROGRESS_EVERY

    def _seconds(self) -> str:
        return f"{time.monotonic() - self._started:.1f}"
