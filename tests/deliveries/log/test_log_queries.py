"""The delivery log's pages make a fixed number of queries, however many rows they show:
no query per row (a retry note, a webhook, an attempt). Each page's count is pinned."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from deliveries.models import BulkRetry
from tests.factories import make_delivery, make_event_type, make_webhook


def fill(rows: int) -> None:
    """``rows`` deliveries of every kind the log shows differently, over three webhooks."""
    kind = make_event_type()
    later = timezone.now() + timedelta(minutes=5)
    webhooks = [
        make_webhook(),  # the system's default retries
        make_webhook(max_retries=2),
        make_webhook(health="failing"),
    ]
    shapes = [
        {"status": "failed", "next_attempt_at": later, "last_response_code": 500},
        {"status": "failed", "next_attempt_at": None, "last_response_code": 404},
        {"status": "success", "last_response_code": 200},
        {"status": "pending", "next_attempt_at": timezone.now()},
        {"status": "pending", "manual_requested_at": timezone.now()},
    ]
    for n in range(rows):
        make_delivery(webhooks[n % 3], attempts=1, event_type=kind, **shapes[n % len(shapes)])


def queries(client, url: str) -> int:
    """The queries of a second GET of ``url`` (the first also fills per-process caches)."""
    headers = {"HX-Request": "true"} if "part=" in url else {}
    client.get(url, headers=headers)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, url
    return len(captured)


PAGES = {
    "log": lambda: reverse("deliveries:log"),
    "log_failed": lambda: reverse("deliveries:log") + "?status=failed",
    "log_sorted_by_code": lambda: reverse("deliveries:log") + "?sort=-code",
    "attempts": lambda: reverse("deliveries:attempts"),
    "bulk_retry_confirm": lambda: reverse("deliveries:bulk_retry"),
}


@pytest.mark.parametrize("page", PAGES)
def test_a_page_of_rows_costs_what_a_few_rows_cost(admin_client, db, page):
    fill(6)
    few = queries(admin_client, PAGES[page]())
    fill(45)
    many = queries(admin_client, PAGES[page]())
    assert many == few, f"{page}: {few} queries for 6 rows, {many} for 51"


# What each page costs (sessions, the user, the system settings and the page's own
# queries): a change here is a change to look at, not a number to update blindly.
PINNED = {
    "log": 10,
    "log_failed": 10,
    "log_sorted_by_code": 10,
    "attempts": 7,
    "bulk_retry_confirm": 4,
}


@pytest.mark.parametrize("page", PAGES)
def test_each_page_makes_its_pinned_number_of_queries(admin_client, db, page):
    fill(20)
    assert queries(admin_client, PAGES[page]()) == PINNED[page]


def test_the_detail_row_and_progress_views_make_their_pinned_number_of_queries(admin_client, db):
    fill(10)
    delivery = make_delivery(make_webhook(), attempts=4, status="failed", next_attempt_at=None)
    job = BulkRetry.objects.create(query="status=failed", total=3)
    counts = {
        "detail": queries(admin_client, reverse("deliveries:detail", args=[delivery.pk])),
        "detail_status": queries(
            admin_client, reverse("deliveries:detail", args=[delivery.pk]) + "?part=status"
        ),
        "row": queries(admin_client, reverse("deliveries:row", args=[delivery.pk])),
        "bulk_progress": queries(admin_client, reverse("deliveries:bulk_progress", args=[job.pk])),
    }
    assert counts == {"detail": 5, "detail_status": 5, "row": 4, "bulk_progress": 5}
