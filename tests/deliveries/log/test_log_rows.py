"""A log row is one f-string (deliveries/log/rows.py): what it shows for each state, and
every outside value (names, URLs, event types, notices) escaped."""

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deliveries.models import Delivery
from tests.factories import make_delivery, make_event_type, make_webhook

LOG = reverse("deliveries:log")
HOSTILE = '<img src=x onerror="alert(1)">'


def row_of(page: str, pk: int) -> str:
    """The HTML of the delivery's row."""
    [row] = re.findall(rf'<tr id="delivery-{pk}".*?</tr>', page, re.S)
    return row


def text(row: str) -> str:
    """What the row reads as: its text, unescaped, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split())


def inner(row: str, start_tag: str) -> str:
    """The unescaped text inside the first element opening with ``start_tag``."""
    return html.unescape(re.search(re.escape(start_tag) + r"(.*?)</", row, re.S)[1])


@pytest.fixture
def hostile(db):
    kind = make_event_type(name=f"order.{HOSTILE}", category="Orders")
    hook = make_webhook(name=f"Shop {HOSTILE}", url='https://shop.example.com/h?a="1"&b=<2>')
    return kind, hook


def test_names_urls_and_event_types_are_text_never_markup(admin_client, hostile):
    kind, hook = hostile
    delivery = make_delivery(hook, event_type=kind, status="failed", attempts=2)

    page = admin_client.get(LOG).content.decode()

    assert "<img src=x" not in page
    row = row_of(page, delivery.pk)
    assert inner(row, "<strong>") == f"Shop {HOSTILE}"
    assert inner(row, '<div class="sub mono">') == hook.url
    assert inner(row, '<span class="chip">') == kind.name
    # The retry form posts with the page's CSRF token to the delivery's retry action.
    action = f"{LOG}/{delivery.pk}/retry"
    assert f'<form method="post" action="{action}" hx-post="{action}"' in row
    assert re.search(r'name="csrfmiddlewaretoken" value="\w{32,}"', row)


def test_each_state_reads_as_before(admin_client, db):
    hook = make_webhook(name="CRM")
    now = timezone.now()
    gave_up = make_delivery(hook, status="failed", attempts=4, last_response_code=500)
    pending = make_delivery(hook, status="pending", created_at=now)
    in_flight = make_delivery(hook, status="in_progress", attempts=1)
    retried = make_delivery(hook, status="success", attempts=3, last_response_code=200)
    queued = make_delivery(hook, status="pending", source="test")
    Delivery.objects.filter(pk=queued.pk).update(manual_requested_at=now)
    Delivery.objects.filter(pk=pending.pk).update(last_attempt_at=None)

    page = admin_client.get(LOG).content.decode()

    def reads(delivery):
        return text(row_of(page, delivery.pk))

    assert "gave up after 4 attempts" in reads(gave_up) and "500" in reads(gave_up)
    assert "Retry" in reads(gave_up)
    assert "Not attempted yet" in reads(pending) and "—" in reads(pending)
    assert "Retry" not in reads(pending)
    flying = row_of(page, in_flight.pk)
    assert '<span class="spinner"' in flying
    assert f'hx-get="{LOG}/{in_flight.pk}/row" hx-trigger="every 1s"' in flying
    assert "3 attempts" in reads(retried) and "200" in reads(retried)
    assert "Test send queued, next in line" in reads(queued)
    assert 'hx-trigger="every 1s"' in row_of(page, queued.pk)
    assert "campaign test" in reads(queued)


def test_a_retry_refused_shows_its_notice_escaped_in_the_row(admin_client, db):
    hook = make_webhook(name="CRM", is_active=False)
    delivery = make_delivery(hook, status="failed", attempts=1)
    Delivery.objects.filter(pk=delivery.pk).update(last_attempt_at=timezone.now() - timedelta(1))

    response = admin_client.post(f"{LOG}/{delivery.pk}/retry", HTTP_HX_REQUEST="true")

    assert response.status_code == 409
    row = row_of(response.content.decode(), delivery.pk)
    assert inner(row, '<div class="row-notice" role="alert">').strip()


def test_an_attempts_row_reads_what_was_tried_and_keeps_outside_values_text(admin_client, hostile):
    _, hook = hostile
    delivery = make_delivery(hook, status="failed", attempts=2, last_response_code=502)
    second = delivery.attempts.get(number=2)
    second.duration_ms, second.response_code, second.failure_reason = 12345, 502, "http_error"
    second.save()

    page = admin_client.get(reverse("deliveries:attempts"), {"range": "24h"}).content.decode()

    assert "<img src=x" not in page
    rows = re.findall(r"<tr>\s*<td><time.*?</tr>", page, re.S)
    assert len(rows) == 2
    [row] = [row for row in rows if "try 2" in row]
    assert inner(row, "<strong>") == f"Shop {HOSTILE}"
    assert "12,345 ms" in text(row) and "502" in text(row) and "Failed" in text(row)
    assert f'href="{LOG}/{delivery.pk}">Delivery</a>' in row
