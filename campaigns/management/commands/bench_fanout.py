"""Fan-out benchmark: one occurrence of a campaign to N profiles, 100 per payload.

Run it on the data of ``seed_audience`` (PostgreSQL, at least N profiles). It creates a
campaign whose segment is every profile with a plan (all of the seeded ones), capped at
N, and times ``fanout.run_occurrence`` from the segment's evaluation to the last
delivery written and queued. The deliveries stay pending for a worker to send; the
previous run's campaign, deliveries and recipients are deleted first (untimed). The last
line is ``seconds=<number> peak_rss_mb=<number>``: the peak resident memory of this
process, which ran the fan-out as a worker would.
"""

import resource
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from campaigns.models import Campaign, Profile
from campaigns.sending import fanout
from deliveries.models import Delivery
from webhooks.models import Webhook

NAME = "bench_fanout"
_OURS = "SELECT id FROM campaigns_campaign WHERE name = %s"
CLEAN_UP = [
    "DELETE FROM campaigns_campaignrecipient WHERE run_id IN "
    f"(SELECT id FROM campaigns_campaignrun WHERE campaign_id IN ({_OURS}))",
    "DELETE FROM deliveries_deliveryattempt WHERE delivery_id IN "
    f"(SELECT id FROM deliveries_delivery WHERE campaign_id IN ({_OURS}))",
    f"DELETE FROM deliveries_delivery WHERE campaign_id IN ({_OURS})",
]
EVERYONE = {
    "category": "user_properties",
    "profile": [{"property": "plan", "op": "exists"}],
}


class Command(BaseCommand):
    help = "Time the fan-out of a campaign to --profiles profiles (100 per payload)."

    def add_arguments(self, parser):
        parser.add_argument("--profiles", type=int, default=1_000_000)
        parser.add_argument("--batch-size", type=int, default=100, help="profiles per payload")

    def handle(self, profiles, batch_size, **options):
        if profiles < 1 or batch_size < 1:
            raise CommandError("--profiles and --batch-size must be >= 1.")
        available = Profile.objects.count()
        if available < profiles:
            raise CommandError(
                f"Only {available:,} profiles: run `manage.py seed_audience --profiles "
                f"{profiles}` first."
            )
        campaign = self._fresh_campaign(profiles, batch_size)
        started = time.perf_counter()
        run = fanout.run_occurrence(campaign.pk, "bench")
        seconds = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        queued = Delivery.objects.filter(campaign=campaign, status="pending").count()
        self.stdout.write(
            f"members={run.members} targets={run.targets} payloads={run.payloads} "
            f"queued={queued} rate={run.targets / seconds:,.0f} profiles/s"
        )
        if run.targets != profiles or queued != run.payloads:
            raise CommandError(f"expected {profiles} targets in {run.payloads} queued payloads")
        self.stdout.write(f"seconds={seconds:.2f} peak_rss_mb={peak_mb:.0f}")

    def _fresh_campaign(self, profiles: int, batch_size: int) -> Campaign:
        with transaction.atomic():
            # The last run's rows go in plain statements: the ORM's cascade would load
            # a million recipients and 10,000 payloads into this process, whose peak
            # memory is measured.
            with connection.cursor() as cursor:
                for sql in CLEAN_UP:
                    cursor.execute(sql, [NAME])
            Campaign.objects.filter(name=NAME).delete()
            webhook, _ = Webhook.objects.get_or_create(
                name=NAME, defaults={"url": "http://127.0.0.1:9/bench-fanout"}
            )
            return Campaign.objects.create(
                name=NAME,
                webhook=webhook,
                status="running",
                rule=EVERYONE,
                target_cap=profiles,
                batch_size=batch_size,
                profile_fields=fanout.ALL_FIELDS,
                key_values={"campaign": "bench"},
            )
