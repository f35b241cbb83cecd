"""Delivery log benchmark: the server-side time of the log's common views.

Run it on the data of ``seed_deliveries`` (PostgreSQL). Each case is requested through
Django's test client as a logged-in admin, several times; the median is printed.
"""

import statistics
import time
import warnings

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse

from config.keyset import paginate
from deliveries.log.queries import ACTIVITY, PER_PAGE
from deliveries.models import Delivery
from webhooks.models import EventType, Webhook


class Command(BaseCommand):
    help = "Print the median server time of the delivery log's common views."

    def add_arguments(self, parser):
        parser.add_argument("--repeat", type=int, default=15)
        parser.add_argument("--page", type=int, default=500, help="the deep page to reach")

    def handle(self, repeat, page, **options):
        if not Delivery.objects.exists():
            raise CommandError("No deliveries: run `manage.py seed_deliveries --attempts N` first.")
        user, _ = get_user_model().objects.get_or_create(
            username="bench-log", defaults={"is_superuser": True}
        )
        # WhiteNoise warns once that STATIC_ROOT was never collected; no static file is served here.
        warnings.filterwarnings("ignore", message="No directory at")
        # Not DEBUG: a production-like request, except that the test client's host and
        # plain HTTP are let in, and static URLs need no collectstatic manifest.
        storages = {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        with override_settings(
            ALLOWED_HOSTS=["testserver"], SECURE_SSL_REDIRECT=False, DEBUG=False, STORAGES=storages
        ):
            client = Client()
            client.force_login(user)
            log = reverse("deliveries:log")
            webhook = Webhook.objects.order_by("id").first()
            event_type = EventType.objects.order_by("id").first()
            cases = {
                "first_page": (log, {}),
                "status_failed": (log, {"status": "failed"}),
                "search_webhook_name": (log, {"q": webhook.name}),
                "event_type_status_sort_code": (
                    log,
                    {"event_type": event_type.pk, "status": "failed", "sort": "-code"},
                ),
                f"page_{page}_by_keyset": (log, {"after": self._cursor_of_page(page)}),
                "attempts_log": (reverse("deliveries:attempts"), {}),
                "detail_view": (
                    reverse("deliveries:detail", args=[self._a_failed_delivery()]),
                    {},
                ),
            }
            medians = []
            for name, (url, params) in cases.items():
                timings = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    response = client.get(url, params)
                    timings.append((time.perf_counter() - started) * 1000)
                    if response.status_code != 200:
                        raise CommandError(f"{name}: HTTP {response.status_code}")
                median = statistics.median(timings)
                medians.append(median)
                self.stdout.write(f"{name}: median_ms={median:.1f}")
            self.stdout.write(f"max_median_ms={max(medians):.1f}")

    def _cursor_of_page(self, page):
        """Walk the keyset pages like a user clicking Older, to the start of ``page``."""
        cursor = None
        for _ in range(page - 1):
            page_rows = paginate(
                Delivery.objects.for_log(), time_field=ACTIVITY, after=cursor, per_page=PER_PAGE
            )
            cursor = page_rows.next_cursor
            if cursor is None:
                raise CommandError(f"there are fewer than {page} pages")
        return cursor

    def _a_failed_delivery(self):
        return (
            Delivery.objects.filter(status="failed", attempt_count__gt=1)
            .order_by("-created_at")
            .values_list("id", flat=True)
            .first()
            or Delivery.objects.values_list("id", flat=True).first()
        )
