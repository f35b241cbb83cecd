"""Benchmark the stats API and the stats pages on PostgreSQL.

Seed first (a scratch database): ``python manage.py seed_deliveries --attempts 2000000``.
Each case is requested ``--repeat`` times in-process through Django's test client, so the
times are server time: middleware, authentication, queries and rendering, no network.
Prints one line per case, then ``api_median_ms=<n> dashboard_median_ms=<n>`` last, where
the API figure is the median over every API request and the dashboard figure the median
over every request of the dashboard page (all its windows).

``--campaign [ID]`` times a campaign's stats page instead (the campaign with the most
attempts if no ID is given), over its windows, its trend swap, the campaign list, and
apart from the page, the figures read from its recipients (profiles reached and goal
conversions, a request of their own). A sent campaign at scale to time:
``python manage.py shell -c "from campaigns.stats import bench; bench.seed()"`` (1M
recipients, on the data of ``seed_audience``). The last line is then
``campaign_page_median_ms=<n> campaign_audience_median_ms=<n> campaign_list_median_ms=<n>``.
"""

import statistics
import time
import uuid
import warnings
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from deliveries.models import AttemptRollup, DailyAttemptRollup, Delivery, DeliveryStatusCount
from webhooks.models import ApiKey, Webhook


class Command(BaseCommand):
    help = "Time the stats API and the dashboard on the seeded data (PostgreSQL only)."

    def add_arguments(self, parser):
        parser.add_argument("--repeat", type=int, default=40, help="requests per case")
        parser.add_argument(
            "--campaign",
            type=int,
            nargs="?",
            const=0,
            default=None,
            help="time a campaign's stats page (this id, or the busiest campaign)",
        )

    def handle(self, repeat, campaign, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                f"bench_stats measures PostgreSQL, and this database is {connection.vendor}. "
                "Set DATABASE_URL to a scratch PostgreSQL database and seed it first with "
                "`python manage.py seed_deliveries --attempts 2000000`."
            )
        if repeat < 1:
            raise CommandError("--repeat must be at least 1.")
        webhook_ids = list(Webhook.objects.order_by("id").values_list("id", flat=True))
        if not webhook_ids or not AttemptRollup.objects.exists():
            raise CommandError(
                "No attempts to measure: run `python manage.py seed_deliveries "
                "--attempts 2000000` first."
            )
        self._describe()
        # WhiteNoise warns once that STATIC_ROOT was never collected; no static file is served here.
        warnings.filterwarnings("ignore", message="No directory at")
        # Not DEBUG: a production-like request, except that the test client's host and
        # plain HTTP are let in, and static URLs need no collectstatic manifest.
        storages = {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        with override_settings(
            ALLOWED_HOSTS=["testserver"], SECURE_SSL_REDIRECT=False, STORAGES=storages
        ):
            user, key, raw_key = self._credentials()
            try:
                if campaign is None:
                    self._run(user, raw_key, webhook_ids, repeat)
                else:
                    self._run_campaign(user, campaign or self._busiest_campaign(), repeat)
            finally:
                key.delete()
                user.delete()

    def _describe(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE relname = %s",
                ["deliveries_deliveryattempt"],
            )
            (attempts,) = cursor.fetchone() or (0,)
        self.stdout.write(
            f"data: ~{max(attempts, 0):,} attempts (planner estimate), "
            f"{AttemptRollup.objects.count():,} hourly and "
            f"{DailyAttemptRollup.objects.count():,} daily attempt rollup rows, "
            f"{DeliveryStatusCount.objects.count():,} status count rows, "
            f"{Webhook.objects.count():,} webhooks"
        )

    def _credentials(self):
        user = get_user_model().objects.create_superuser(
            f"bench-stats-{uuid.uuid4().hex[:8]}", password=uuid.uuid4().hex
        )
        key, raw_key = ApiKey.issue("bench_stats (temporary)")
        return user, key, raw_key

    def _run(self, user, raw_key: str, webhook_ids: list[int], repeat: int) -> None:
        api = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        page = Client()
        page.force_login(user)
        now = timezone.now()
        week_ago = (now - timedelta(days=7)).isoformat()

        def api_url(n: int) -> str:
            return reverse("api:webhook_stats", args=[webhook_ids[n % len(webhook_ids)]])

        api_cases = [
            ("api all time", lambda n: (api, api_url(n), {})),
            ("api last 7 days", lambda n: (api, api_url(n), {"from": week_ago})),
        ]
        dashboard = reverse("stats:dashboard")
        dashboard_cases = [
            (f"dashboard {name}", lambda n, name=name: (page, dashboard, {"range": name}))
            for name in ("24h", "7d", "30d")
        ]
        webhook_cases = [
            (
                f"webhook page {name}",
                lambda n, name=name: (
                    page,
                    reverse("stats:webhook", args=[webhook_ids[n % len(webhook_ids)]]),
                    {"range": name},
                ),
            )
            for name in ("7d", "30d")
        ]
        trend_cases = [
            (
                "trend swap 30d weekly",
                lambda n: (page, dashboard, {"range": "30d", "granularity": "weekly"}),
            )
        ]
        results: dict[str, list[float]] = {}
        for name, make in [*api_cases, *dashboard_cases, *webhook_cases, *trend_cases]:
            htmx = name.startswith("trend")
            for n in range(3):  # warm up: connections, templates, caches
                self._get(*make(n), htmx=htmx)
            times = []
            for n in range(repeat):
                started = time.perf_counter()
                self._get(*make(n), htmx=htmx)
                times.append((time.perf_counter() - started) * 1000)
            results[name] = times
            self.stdout.write(
                f"{name:<24} median {statistics.median(times):7.1f} ms   "
                f"p90 {statistics.quantiles(times, n=10)[-1] if len(times) > 1 else times[0]:7.1f}"
                f" ms   ({repeat} requests)"
            )
        api_times = [t for name, _ in api_cases for t in results[name]]
        dashboard_times = [t for name, _ in dashboard_cases for t in results[name]]
        self.stdout.write(
            f"api_median_ms={statistics.median(api_times):.1f} "
            f"dashboard_median_ms={statistics.median(dashboard_times):.1f}"
        )

    def _busiest_campaign(self) -> int:
        busiest = (
            DailyAttemptRollup.objects.filter(campaign_id__isnull=False)
            .values("campaign_id")
            .annotate(attempts=Sum("count"))
            .order_by("-attempts")
            .first()
        )
        if busiest is None:
            raise CommandError(
                "No campaign has attempts: seed one with `python manage.py shell -c "
                '"from campaigns.stats import bench; bench.seed()"` first.'
            )
        return busiest["campaign_id"]

    def _run_campaign(self, user, campaign_id: int, repeat: int) -> None:
        page = Client()
        page.force_login(user)
        attempts = DailyAttemptRollup.objects.filter(campaign_id=campaign_id).aggregate(
            n=Sum("count")
        )["n"]
        deliveries = Delivery.objects.filter(campaign_id=campaign_id).count()
        self.stdout.write(
            f"campaign {campaign_id}: {deliveries:,} deliveries, {attempts or 0:,} attempts"
        )
        stats = reverse("campaigns:stats", args=[campaign_id])
        audience = reverse("campaigns:stats_audience", args=[campaign_id])
        page_cases = [
            (f"campaign page {name or 'whole'}", stats, {"range": name} if name else {}, False)
            for name in ("", "7d", "30d")
        ]
        cases = [
            *page_cases,
            ("campaign trend weekly", stats, {"granularity": "weekly"}, True),
            ("campaign audience", audience, {}, True),
            ("campaign list", reverse("campaigns:list"), {}, False),
        ]
        results: dict[str, list[float]] = {}
        for name, url, params, htmx in cases:
            results[name] = self._time(name, page, url, params, htmx, repeat)
        page_times = [t for name, *_ in page_cases for t in results[name]]
        self.stdout.write(
            f"campaign_page_median_ms={statistics.median(page_times):.1f} "
            f"campaign_audience_median_ms={statistics.median(results['campaign audience']):.1f} "
            f"campaign_list_median_ms={statistics.median(results['campaign list']):.1f}"
        )

    def _time(self, name, client, url, params, htmx, repeat) -> list[float]:
        for _ in range(3):  # warm up: connections, templates, caches
            self._get(client, url, params, htmx=htmx)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            self._get(client, url, params, htmx=htmx)
            times.append((time.perf_counter() - started) * 1000)
        p90 = statistics.quantiles(times, n=10)[-1] if len(times) > 1 else times[0]
        self.stdout.write(
            f"{name:<24} median {statistics.median(times):7.1f} ms   p90 {p90:7.1f} ms"
            f"   ({repeat} requests)"
        )
        return times

    def _get(self, client: Client, url: str, params: dict, htmx: bool = False) -> None:
        headers = {"HX-Request": "true"} if htmx else {}
        response = client.get(url, params, headers=headers)
        if response.status_code != 200:
            raise CommandError(f"GET {url} {params} answered {response.status_code}")
