"""Endpoint health on a fast schedule: the breaker opens, probes, closes and disables,
against a real receiver; the activity log, the emails and the pages say so."""

import time

import pytest
from celery import current_app
from django.urls import reverse

from deliveries.engine.batches import send_due_batch
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from tests.factories import make_due_deliveries, make_webhook
from webhooks.models import ActivityEntry, Health, SystemSettings, Webhook


@pytest.fixture
def fast_schedule(settings, transactional_db):
    """3 failures open the breaker; probes every 0.3 s; disabled after 1 s of failing.
    Retries are far apart, so only the breaker decides what is sent meanwhile."""
    settings.DELIVERIES_FAILURE_THRESHOLD = 3
    settings.DELIVERIES_FAILURE_SPAN = 0
    settings.DELIVERIES_PROBE_INTERVAL = 0.3
    settings.DELIVERIES_PROBE_MAX_INTERVAL = 0.3
    settings.DELIVERIES_DISABLE_AFTER = 1.0
    settings.ALERT_EMAILS = ["oncall@example.com"]
    system = SystemSettings.load()
    system.max_retries, system.retry_window_seconds = 10, 7 * 24 * 3600
    system.save()
    current_app.conf.task_always_eager = True  # the email task runs here, into mail.outbox
    yield settings
    current_app.conf.task_always_eager = False


def health(webhook) -> str:
    return Webhook.objects.get(pk=webhook.pk).health


def test_the_breaker_opens_probes_and_closes(receiver, fast_schedule, mailoutbox):
    # The receiver fails the first 4 requests, then succeeds.
    webhook = make_webhook(url=receiver.url + "/codes/500,500,500,500,200", name="Orders")
    make_due_deliveries(webhook, 3)
    assert send_due_batch() == 3
    assert health(webhook) == Health.FAILING
    entry = ActivityEntry.objects.get(action="webhook.failing")
    assert "Orders" in entry.summary and "HTTP 5xx (server error) ×3" in entry.summary
    [email] = mailoutbox
    assert email.subject == "[Webhooks] Webhook “Orders” is failing"
    assert "oncall@example.com" in email.to and "HTTP 5xx" in email.body
    assert f"?webhook={webhook.pk}&status=failed" in email.body

    # The backlog waits, without using up retries.
    waiting = make_due_deliveries(webhook, 5)
    assert send_due_batch() == 0
    time.sleep(0.35)
    assert send_due_batch() == 1  # one probe: the 4th request fails
    assert health(webhook) == Health.FAILING
    assert send_due_batch() == 0
    time.sleep(0.35)
    assert send_due_batch() == 1  # the next probe succeeds
    assert health(webhook) == Health.HEALTHY
    assert "recovered" in ActivityEntry.objects.get(action="webhook.healthy").summary
    assert mailoutbox[-1].subject == "[Webhooks] Webhook “Orders” recovered"

    while send_due_batch():  # the backlog drains
        pass
    waited = Delivery.objects.filter(pk__in=[delivery.pk for delivery in waiting])
    # The first probe failed and waits for its retry; the other four were delivered.
    assert waited.filter(status=DeliveryStatus.SUCCESS).count() == 4
    assert waited.filter(status=DeliveryStatus.FAILED, next_attempt_at__isnull=False).count() == 1
    # Each was tried once: waiting used none of their retries.
    assert set(waited.values_list("attempt_count", flat=True)) == {1}


def test_an_endpoint_failing_too_long_is_disabled_and_re_enabling_sends_what_waited(
    receiver, fast_schedule, mailoutbox, admin_client
):
    webhook = make_webhook(url="http://127.0.0.1:9/refused", name="Warehouse")
    make_due_deliveries(webhook, 3)
    send_due_batch()
    assert health(webhook) == Health.FAILING
    # What keeps coming while it fails: one is taken per probe, the rest wait.
    waiting = [delivery.pk for delivery in make_due_deliveries(webhook, 10)]
    deadline = time.monotonic() + 10
    while health(webhook) != Health.DISABLED:
        assert time.monotonic() < deadline, "the endpoint was never disabled"
        time.sleep(0.35)
        send_due_batch()  # probes, refused each time
    entry = ActivityEntry.objects.get(action="webhook.disabled")
    assert "Connection refused ×" in entry.summary and "last at" in entry.summary
    assert mailoutbox[-1].subject == "[Webhooks] Webhook “Warehouse” was disabled"
    attempts = DeliveryAttempt.objects.filter(webhook=webhook).count()
    time.sleep(0.35)
    assert send_due_batch() == 0  # disabled: no more probes
    assert DeliveryAttempt.objects.filter(webhook=webhook).count() == attempts

    # The pages say so: the webhooks list, the webhook page and the dashboard.
    for page in (reverse("webhooks:list"), webhook.get_absolute_url(), reverse("stats:dashboard")):
        html = admin_client.get(page).content.decode()
        assert 'data-health="disabled"' in html and "Connection refused" in html, page

    # Re-enabled at the receiver's new address, what waited is sent.
    Webhook.objects.filter(pk=webhook.pk).update(url=receiver.url + "/ok")
    response = admin_client.post(reverse("webhooks:enable", args=[webhook.pk]))
    assert response.status_code == 302
    assert health(webhook) == Health.HEALTHY
    assert ActivityEntry.objects.filter(action="webhook.enabled").exists()
    while send_due_batch():
        pass
    # Those that waited were sent; those tried as probes wait for their retry.
    waited = Delivery.objects.filter(pk__in=waiting)
    probes = waited.filter(attempt_count=1, status=DeliveryStatus.FAILED).count()
    assert probes >= 1
    assert waited.filter(status=DeliveryStatus.SUCCESS).count() == 10 - probes


def test_failures_of_the_sender_itself_do_not_count_against_the_endpoint(receiver, fast_schedule):
    webhook = make_webhook(
        url=receiver.url + "/ok",
        custom_headers=[{"name": "X-Mark", "value": "ok ✓", "secret": False}],
    )
    make_due_deliveries(webhook, 5)
    send_due_batch()
    assert DeliveryAttempt.objects.filter(failure_reason="internal_error").count() == 5
    webhook.refresh_from_db()
    assert webhook.health == Health.HEALTHY and webhook.consecutive_failures == 0


def test_enabling_needs_a_post(admin_client, db):
    webhook = make_webhook(health=Health.DISABLED)
    assert admin_client.get(reverse("webhooks:enable", args=[webhook.pk])).status_code == 405
    assert health(webhook) == Health.DISABLED
