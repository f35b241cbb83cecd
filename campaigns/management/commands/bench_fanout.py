"""Fan-out benchmark: one occurrence of a campaign to N profiles, 100 per payload.

Run it on the data of ``seed_audience`` (PostgreSQL, at least N profiles). It creates a
campaign whose segment is every profile with a plan (all of the seeded ones), capped at
N, and times ``fanout.run_occurrence`` from the segment's evaluation to the last
delivery written and queued. The deliveries stay pending for a worker to send; the
previous run's campaign, deliveries and recipients are deleted first (untimed). The last
line is ``seconds=<number> peak_rss_mb=<number>``: the peak resident memory of this
process, which ran the fan-out as a worker would.

With ``--liquid`` the same audience is then sent again by a campaign with a custom body
(``LIQUID_BODY``: what a marketer writes, a loop over the batch with filters and
conditionals), and the last line adds ``liquid_seconds=`` and ends with
``liquid_ratio=<Liquid seconds / profile-variables seconds>``. ``--rounds N`` runs the
two N times, alternately, and the last line takes the best time of each: on a shared
machine one slow run says more about the neighbours than about the code.
"""

import resource
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from campaigns.models import BodyMode, Campaign, Profile
from campaigns.sending import fanout
from deliveries.models import Delivery
from webhooks.models import Webhook

NAME = "bench_fanout"
LIQUID_NAME = "bench_fanout_liquid"
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
# A push provider's batch request, as a marketer writes one: every member of the batch
# with a greeting, an offer by plan, and only the fields the provider takes.
LIQUID_BODY = """\
{"campaign": {{ targetId }}, "source": {{ key_values.campaign | json }},
 "count": {{ profiles | size }},
 "messages": [
{%- for p in profiles %}
  {%- assign data = p.ProfileData -%}
  {%- assign first_name = data.name | split: " " | first | default: "there" -%}
  {"to": {{ p.Email | downcase | json }}, "id": {{ p.Identity | json }},
   "title": {{ "Hi " | append: first_name | append: "!" | json }},
   "city": {{ data.city | default: "your city" | json }},
   {%- if data.vip %} "offer": "VIP: 30% off everything",
   {%- elsif data.plan == "free" %} "offer": "Your first month of Premium is free",
   {%- else %} "offer": {{ data.plan | capitalize | append: " members: 10% off" | json }},
   {%- endif %}
   "push": {% if p.Push_token != blank %}{{ p.Push_token | json }}{% else %}null{% endif %}}
  {%- unless forloop.last %},{% endunless %}
{%- endfor %}
]}"""


class Command(BaseCommand):
    help = "Time the fan-out of a campaign to --profiles profiles (100 per payload)."

    def add_arguments(self, parser):
        parser.add_argument("--profiles", type=int, default=1_000_000)
        parser.add_argument("--batch-size", type=int, default=100, help="profiles per payload")
        parser.add_argument(
            "--liquid",
            action="store_true",
            help="then send the same audience with a custom Liquid body, and compare",
        )
        parser.add_argument(
            "--rounds", type=int, default=1, help="with --liquid: runs of each, alternately"
        )

    def handle(self, profiles, batch_size, liquid, rounds, **options):
        if profiles < 1 or batch_size < 1 or rounds < 1:
            raise CommandError("--profiles, --batch-size and --rounds must be >= 1.")
        available = Profile.objects.count()
        if available < profiles:
            raise CommandError(
                f"Only {available:,} profiles: run `manage.py seed_audience --profiles "
                f"{profiles}` first."
            )
        if not liquid:
            seconds = self._time(NAME, profiles, batch_size, "profile variables")
            self.stdout.write(f"seconds={seconds:.2f} peak_rss_mb={_peak_mb():.0f}")
            return
        seconds = liquid_seconds = float("inf")
        for _ in range(rounds):
            seconds = min(seconds, self._time(NAME, profiles, batch_size, "profile variables"))
            liquid_seconds = min(
                liquid_seconds, self._time(LIQUID_NAME, profiles, batch_size, "Liquid")
            )
        self.stdout.write(
            f"seconds={seconds:.2f} liquid_seconds={liquid_seconds:.2f} "
            f"peak_rss_mb={_peak_mb():.0f} liquid_ratio={liquid_seconds / seconds:.2f}"
        )

    def _time(self, name: str, profiles: int, batch_size: int, label: str) -> float:
        """Run one fan-out of a fresh campaign ``name``, print its figures, return its
        seconds."""
        campaign = self._fresh_campaign(name, profiles, batch_size)
        started = time.perf_counter()
        run = fanout.run_occurrence(campaign.pk, "bench")
        seconds = time.perf_counter() - started
        queued = Delivery.objects.filter(campaign=campaign, status="pending").count()
        self.stdout.write(
            f"{label}: members={run.members} targets={run.targets} payloads={run.payloads} "
            f"queued={queued} rate={run.targets / seconds:,.0f} profiles/s "
            f"seconds={seconds:.2f}"
        )
        if run.targets != profiles or queued != run.payloads:
            raise CommandError(f"expected {profiles} targets in {run.payloads} queued payloads")
        return seconds

    def _fresh_campaign(self, name: str, profiles: int, batch_size: int) -> Campaign:
        with transaction.atomic():
            # The last run's rows go in plain statements: the ORM's cascade would load
            # a million recipients and 10,000 payloads into this process, whose peak
            # memory is measured.
            with connection.cursor() as cursor:
                for sql in CLEAN_UP:
                    cursor.execute(sql, [name])
            Campaign.objects.filter(name=name).delete()
            webhook, _ = Webhook.objects.get_or_create(
                name=NAME, defaults={"url": "http://127.0.0.1:9/bench-fanout"}
            )
            fields = {"profile_fields": fanout.ALL_FIELDS}
            if name == LIQUID_NAME:
                fields = {"body_mode": BodyMode.CUSTOM, "custom_body": LIQUID_BODY}
            return Campaign.objects.create(
                name=name,
                webhook=webhook,
                status="running",
                rule=EVERYONE,
                target_cap=profiles,
                batch_size=batch_size,
                key_values={"campaign": "bench"},
                **fields,
            )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
