"""Time the retention purge of days past retention: each day's partition dropped (and how
long the attempts table was locked for it), then the rest of the purge (deliveries and
events, row by row, then vacuumed), and what it leaves: dead rows and the tables' sizes.

    python manage.py seed_deliveries --attempts 5000000 --days 1 --ago 40
    python manage.py bench_retention
    python manage.py seed_deliveries --attempts 5000000 --days 1 --ago 40
    python manage.py bench_retention

No bloat shows as the second seed fitting in the space the first purge freed: the
tables' sizes before the second purge are those before the first.

Use a scratch database: it deletes what is past the retention setting, as beat would.
"""

from datetime import timedelta
from time import monotonic, sleep

from django.core.management.base import BaseCommand
from django.db import connection
from django.utils import timezone

from deliveries.engine import partitions
from deliveries.engine.retention import purge_expired
from deliveries.models import Delivery, DeliveryAttempt
from deliveries.stats.windows import day_floor
from webhooks.models import Event, SystemSettings


class Command(BaseCommand):
    help = "Time the retention purge: partitions dropped, table lock held, rows deleted."

    def handle(self, **options):
        cutoff = day_floor(timezone.now() - timedelta(days=SystemSettings.load().retention_days))
        old_attempts = DeliveryAttempt.objects.filter(attempted_at__lt=cutoff).count()
        deliveries = Delivery.objects.count()
        self.stdout.write(f"before: {self._sizes()}")
        self.stdout.write(f"{old_attempts:,} attempts and the deliveries before {cutoff:%Y-%m-%d}")

        started = monotonic()
        dropped = partitions.drop_before(cutoff.date())
        dropping = monotonic() - started
        for day in dropped:
            self.stdout.write(f"  {day}")
        started = monotonic()
        purge_expired()
        rest = monotonic() - started
        deleted = deliveries - Delivery.objects.count()
        left = DeliveryAttempt.objects.filter(attempted_at__lt=cutoff).count()
        self.stdout.write(
            f"partitions dropped in {dropping:.2f} s; the rest of the purge "
            f"({deleted:,} deliveries deleted, {left:,} old attempts kept) in {rest:.1f} s"
        )
        locked = max((day.locked for day in dropped), default=0.0)
        self.stdout.write(
            f"attempts_dropped={sum(day.attempts for day in dropped)} "
            f"drop_seconds={dropping:.2f} max_lock_ms={locked * 1000:.0f} "
            f"deliveries_deleted={deleted} rest_seconds={rest:.1f} "
            f"dead_delivery_rows={self._dead_rows(Delivery)} "
            f"dead_event_rows={self._dead_rows(Event)}"
        )
        self.stdout.write(f"after: {self._sizes()}")

    def _sizes(self) -> str:
        if connection.vendor != "postgresql":
            return "sizes n/a"
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_total_relation_size(%s), pg_total_relation_size(%s)",
                [Delivery._meta.db_table, Event._meta.db_table],
            )
            deliveries, events = cursor.fetchone()
        return f"deliveries_mb={deliveries / 2**20:.0f} events_mb={events / 2**20:.0f}"

    def _dead_rows(self, model) -> int | str:
        if connection.vendor != "postgresql":
            return "n/a"
        sleep(1)  # the statistics collector reports a moment later
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = %s",
                [model._meta.db_table],
            )
            return cursor.fetchone()[0]
