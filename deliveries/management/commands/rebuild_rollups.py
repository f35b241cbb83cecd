"""Recompute the stats rollups from the attempts and deliveries tables (a repair tool;
``seed_deliveries`` calls the same function)."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from deliveries.stats import recount


class Command(BaseCommand):
    help = (
        "Recompute AttemptRollup and DeliveryStatusCount from the attempts and deliveries, "
        "for everything or from --since on; or only merge the status count rows (--compact)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", help="an ISO datetime: rebuild from the hour it falls in (UTC) on"
        )
        parser.add_argument(
            "--compact", action="store_true", help="only merge the status count rows"
        )

    def handle(self, since, compact, **options):
        started = time.monotonic()
        if compact:
            merged = recount.compact()
            self.stdout.write(f"compacted {merged:,} status count rows")
            return
        start = None
        if since:
            start = parse_datetime(since)
            if start is None:
                raise CommandError(f"--since {since!r} is not an ISO datetime.")
            if start.tzinfo is None:
                raise CommandError("--since needs an offset, e.g. 2025-03-01T00:00:00+00:00.")
        attempt_rows, status_rows = recount.rebuild(since=start)
        self.stdout.write(
            f"rebuilt {attempt_rows:,} attempt rollup rows and {status_rows:,} status count "
            f"rows{f' from {start.isoformat()}' if start else ''} "
            f"in {time.monotonic() - started:.1f} s"
        )
