"""Endpoint health: the breaker opens, probes, closes and disables.

The breaker reads no clock, so nothing here waits. Its rules are driven through
``health.observe`` with the times it is given (now, now + the failure span, now + a probe
interval...). End to end, against a real receiver, the ``clock`` fixture moves
``timezone.now()`` on instead of sleeping; the activity log, the emails and the pages say
what happened."""

from datetime import UTC, datetime, timedelta

import pytest
from celery import current_app
from django.urls import reverse
from django.utils import timezone

from deliveries.engine import health
from deliveries.engine.sender import AttemptResult
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, FailureReason
from tests.factories import make_due_deliveries, make_webhook
from tests.support.sending import send_all_due, send_due_batch
from webhooks.models import ActivityEntry, Health, SystemSettings, Webhook

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture
def breaker(settings, db):
    """3 failures spanning a minute open the breaker; the first probe after 30 s, then
    after as long as it has been failing, at most 10 minutes; disabled after an hour."""
    settings.DELIVERIES_FAILURE_THRESHOLD = 3
    settings.DELIVERIES_FAILURE_SPAN = 60
    settings.DELIVERIES_PROBE_INTERVAL = 30
    settings.DELIVERIES_PROBE_MAX_INTERVAL = 600
    settings.DELIVERIES_DISABLE_AFTER = 3600
    return settings


@pytest.fixture
def emails(settings, mailoutbox):
    settings.ALERT_EMAILS = ["oncall@example.com"]
    current_app.conf.task_always_eager = True  # the email task runs here, into mail.outbox
    yield mailoutbox
    current_app.conf.task_always_eager = False


def failed(at, reason=FailureReason.HTTP_ERROR, code=500) -> AttemptResult:
    return AttemptResult(success=False, started_at=at, failure_reason=reason, response_code=code)


def succeeded(at) -> AttemptResult:
    return AttemptResult(success=True, started_at=at, response_code=200)


def observe(webhook, *results, now) -> Webhook:
    """Feed ``results`` of sends to ``webhook`` to the breaker, recorded at ``now``;
    returns the webhook as stored."""
    health.observe([(Delivery(webhook_id=webhook.pk), None, result) for result in results], now)
    return Webhook.objects.get(pk=webhook.pk)


def opened(webhook, at=T0) -> Webhook:
    """Open the breaker of ``webhook`` at ``at``: three failures over a minute."""
    webhook = observe(
        webhook, failed(at - 60 * SECOND), failed(at - 30 * SECOND), failed(at), now=at
    )
    assert webhook.health == Health.FAILING and webhook.health_changed_at == at
    return webhook


def test_failures_under_the_threshold_leave_it_healthy(breaker):
    later = T0 + 10 * 60 * SECOND
    webhook = observe(make_webhook(), failed(T0), failed(later), now=later)
    assert webhook.health == Health.HEALTHY
    assert webhook.consecutive_failures == 2 and webhook.first_failure_at == T0
    assert webhook.next_probe_at is None


def test_enough_failures_open_the_breaker_once_they_span_the_failure_span(breaker):
    webhook = make_webhook()
    for seconds in (0, 20, 40):
        webhook = observe(webhook, failed(T0 + seconds * SECOND), now=T0 + seconds * SECOND)
    assert webhook.health == Health.HEALTHY and webhook.consecutive_failures == 3

    webhook = observe(webhook, failed(T0 + 60 * SECOND), now=T0 + 60 * SECOND)
    assert webhook.health == Health.FAILING
    assert webhook.health_changed_at == T0 + 60 * SECOND
    assert webhook.next_probe_at == T0 + 90 * SECOND  # the first probe interval


def test_a_failed_probe_waits_as_long_as_it_has_been_failing_up_to_the_maximum(breaker):
    webhook = opened(make_webhook())
    assert webhook.next_probe_at == T0 + 30 * SECOND
    waits = []
    for _ in range(7):
        probe = webhook.next_probe_at
        webhook = observe(webhook, failed(probe), now=probe)
        waits.append((webhook.next_probe_at - probe).total_seconds())
    assert waits == [30, 60, 120, 240, 480, 600, 600]
    assert webhook.health == Health.FAILING and webhook.consecutive_failures == 10


@pytest.mark.parametrize(
    ("failing_for", "interval"), [(0, 30), (29, 30), (45, 45), (599, 599), (7200, 600)]
)
def test_the_probe_interval_is_how_long_it_has_been_failing_within_bounds(
    breaker, failing_for, interval
):
    webhook = Webhook(health=Health.FAILING, health_changed_at=T0)
    assert health.probe_interval(webhook, T0 + failing_for * SECOND) == interval * SECOND


def test_a_successful_probe_closes_the_breaker(breaker):
    webhook = opened(make_webhook())
    webhook = observe(webhook, succeeded(T0 + 30 * SECOND), now=T0 + 31 * SECOND)
    assert webhook.health == Health.HEALTHY
    assert webhook.health_changed_at == T0 + 31 * SECOND
    assert webhook.consecutive_failures == 0 and webhook.first_failure_at is None
    assert webhook.next_probe_at is None
    # The latest failure stays on show.
    assert webhook.last_failure_label == "HTTP 500" and webhook.last_failure_at == T0


def test_a_success_starts_the_count_again(breaker):
    webhook = make_webhook()
    webhook = observe(webhook, failed(T0), failed(T0 + 30 * SECOND), now=T0 + 30 * SECOND)
    webhook = observe(webhook, succeeded(T0 + 40 * SECOND), now=T0 + 40 * SECOND)
    later = T0 + 120 * SECOND
    webhook = observe(webhook, failed(later - 60 * SECOND), failed(later), now=later)
    assert webhook.health == Health.HEALTHY
    assert webhook.consecutive_failures == 2 and webhook.first_failure_at == later - 60 * SECOND


def test_failing_for_the_disable_time_disables_it(breaker):
    webhook = opened(make_webhook())
    almost = T0 + 3600 * SECOND - SECOND
    webhook = observe(webhook, failed(almost), now=almost)
    assert webhook.health == Health.FAILING and webhook.next_probe_at == almost + 600 * SECOND

    webhook = observe(webhook, failed(T0 + 3600 * SECOND), now=T0 + 3600 * SECOND)
    assert webhook.health == Health.DISABLED
    assert webhook.health_changed_at == T0 + 3600 * SECOND and webhook.next_probe_at is None


def test_sends_that_finish_after_it_was_disabled_leave_it_disabled(breaker):
    webhook = make_webhook(health=Health.DISABLED, health_changed_at=T0)
    for result in (failed(T0 + SECOND), succeeded(T0 + 2 * SECOND)):
        webhook = observe(webhook, result, now=T0 + 3 * SECOND)
        assert webhook.health == Health.DISABLED and webhook.health_changed_at == T0
        assert webhook.next_probe_at is None


def test_failures_of_the_sender_itself_are_not_counted(breaker):
    ours = [
        failed(T0 + n * 60 * SECOND, reason)
        for n, reason in enumerate([FailureReason.INTERNAL_ERROR, FailureReason.LEASE_EXPIRED] * 3)
    ]
    webhook = observe(make_webhook(), *ours, now=T0 + 6 * 60 * SECOND)
    assert webhook.health == Health.HEALTHY and webhook.consecutive_failures == 0
    assert webhook.last_failure_at is None


def test_failures_count_from_when_their_send_started_not_when_it_finished(breaker):
    # Results come in the order they finished: the slow send started first.
    slow, quick = failed(T0, FailureReason.TIMEOUT, None), failed(T0 + 60 * SECOND, code=503)
    webhook = observe(make_webhook(), quick, slow, now=T0 + 61 * SECOND)
    assert webhook.first_failure_at == T0
    assert webhook.last_failure_label == "HTTP 503" and webhook.last_failure_at == T0 + 60 * SECOND

    # One that never started (nothing was sent) failed when it was recorded.
    refused = failed(None, FailureReason.CONNECTION_REFUSED, None)
    webhook = observe(webhook, refused, now=T0 + 90 * SECOND)
    assert webhook.last_failure_label == "Connection refused"
    assert webhook.last_failure_at == T0 + 90 * SECOND
    assert webhook.health == Health.FAILING  # 3 failures over 90 s


def test_successes_to_healthy_endpoints_cost_one_read(breaker, django_assert_num_queries):
    webhooks = [make_webhook(), make_webhook()]
    results = [(Delivery(webhook_id=w.pk), None, succeeded(T0)) for w in webhooks * 3]
    with django_assert_num_queries(1):
        health.observe(results, T0)


def test_each_change_is_logged_and_emailed_after_the_commit(
    breaker, emails, django_capture_on_commit_callbacks
):
    webhook = make_webhook(name="Orders")
    with django_capture_on_commit_callbacks() as callbacks:
        webhook = opened(webhook)
    assert emails == [] and len(callbacks) == 1
    callbacks[0]()
    summary = ActivityEntry.objects.get(action="webhook.failing").summary
    assert "“Orders” is failing: 3 failures in a row since 2026-03-02 08:59:00 UTC" in summary
    assert "a probe tests it after 30 s" in summary
    assert emails[-1].subject == "[Webhooks] Webhook “Orders” is failing"

    with django_capture_on_commit_callbacks(execute=True):
        observe(webhook, succeeded(T0 + 30 * SECOND), now=T0 + 30 * SECOND)
    assert "recovered" in ActivityEntry.objects.get(action="webhook.healthy").summary
    assert emails[-1].subject == "[Webhooks] Webhook “Orders” recovered"

    later = T0 + 24 * 3600 * SECOND
    with django_capture_on_commit_callbacks(execute=True):
        webhook = opened(webhook, later)
        observe(webhook, failed(later + 3600 * SECOND), now=later + 3600 * SECOND)
    summary = ActivityEntry.objects.get(action="webhook.disabled").summary
    assert "disabled after failing since 2026-03-03 09:00:00 UTC" in summary
    assert emails[-1].subject == "[Webhooks] Webhook “Orders” was disabled"
    assert len(emails) == 4


# --- End to end: a real receiver, a clock moved on instead of sleeping ------------------

PROBE_INTERVAL = 30


@pytest.fixture
def send_due(breaker, django_capture_on_commit_callbacks):
    """Send one batch of the due deliveries and record it, as a worker does; returns how
    many were claimed. What waits for the commit (the emails) runs as it returns: the
    test's own transaction never commits.

    3 failures open the breaker at once; a probe every 30 s; disabled after 2 minutes of
    failing. Retries are far apart (the first after 7 minutes or more), so only the
    breaker decides what is sent meanwhile."""
    breaker.DELIVERIES_FAILURE_SPAN = 0
    breaker.DELIVERIES_PROBE_MAX_INTERVAL = PROBE_INTERVAL
    breaker.DELIVERIES_DISABLE_AFTER = 4 * PROBE_INTERVAL
    system = SystemSettings.load()
    system.max_retries, system.retry_window_seconds = 10, 7 * 24 * 3600
    system.save()

    def send_due() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return send_due_batch()

    return send_due


class Clock:
    """``timezone.now()`` for the claim, the sender and the recording (and their threads):
    the real time plus however far the test has moved it on."""

    def __init__(self):
        self.ahead = timedelta()

    def advance(self, seconds: float) -> None:
        self.ahead += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    clock, real_now = Clock(), timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + clock.ahead)
    return clock


def health_of(webhook) -> str:
    return Webhook.objects.get(pk=webhook.pk).health


def test_the_breaker_opens_probes_and_closes(receiver, send_due, clock, emails):
    # The receiver fails the first 4 requests, then succeeds.
    webhook = make_webhook(url=receiver.url + "/codes/500,500,500,500,200", name="Orders")
    make_due_deliveries(webhook, 3)
    assert send_due() == 3
    assert health_of(webhook) == Health.FAILING
    entry = ActivityEntry.objects.get(action="webhook.failing")
    assert "Orders" in entry.summary and "HTTP 5xx (server error) ×3" in entry.summary
    [email] = emails
    assert email.subject == "[Webhooks] Webhook “Orders” is failing"
    assert "oncall@example.com" in email.to and "HTTP 5xx" in email.body
    assert f"?webhook={webhook.pk}&status=failed" in email.body

    # The backlog waits, without using up retries, until a probe is due.
    waiting = make_due_deliveries(webhook, 5)
    assert send_due() == 0
    clock.advance(PROBE_INTERVAL / 2)
    assert send_due() == 0
    clock.advance(PROBE_INTERVAL / 2)
    assert send_due() == 1  # one probe: the 4th request fails
    assert health_of(webhook) == Health.FAILING
    assert send_due() == 0
    clock.advance(PROBE_INTERVAL)
    assert send_due() == 1  # the next probe succeeds
    assert health_of(webhook) == Health.HEALTHY
    assert "recovered" in ActivityEntry.objects.get(action="webhook.healthy").summary
    assert emails[-1].subject == "[Webhooks] Webhook “Orders” recovered"

    send_all_due()  # the backlog drains
    waited = Delivery.objects.filter(pk__in=[delivery.pk for delivery in waiting])
    # The first probe failed and waits for its retry; the other four were delivered.
    assert waited.filter(status=DeliveryStatus.SUCCESS).count() == 4
    assert waited.filter(status=DeliveryStatus.FAILED, next_attempt_at__isnull=False).count() == 1
    # Each was tried once: waiting used none of their retries.
    assert set(waited.values_list("attempt_count", flat=True)) == {1}


def test_an_endpoint_failing_too_long_is_disabled_and_re_enabling_sends_what_waited(
    receiver, send_due, clock, emails, admin_client
):
    webhook = make_webhook(url="http://127.0.0.1:9/refused", name="Warehouse")
    make_due_deliveries(webhook, 3)
    send_due()
    assert health_of(webhook) == Health.FAILING
    # What keeps coming while it fails: one is taken per probe, the rest wait.
    waiting = [delivery.pk for delivery in make_due_deliveries(webhook, 10)]
    for _ in range(3):
        clock.advance(PROBE_INTERVAL)
        assert send_due() == 1  # a probe, refused
        assert health_of(webhook) == Health.FAILING
    clock.advance(PROBE_INTERVAL)
    assert send_due() == 1  # refused after failing for 2 minutes
    assert health_of(webhook) == Health.DISABLED
    entry = ActivityEntry.objects.get(action="webhook.disabled")
    assert "Connection refused ×7" in entry.summary and "last at" in entry.summary
    assert emails[-1].subject == "[Webhooks] Webhook “Warehouse” was disabled"
    attempts = DeliveryAttempt.objects.filter(webhook=webhook).count()
    clock.advance(PROBE_INTERVAL)
    assert send_due() == 0  # disabled: no more probes
    assert DeliveryAttempt.objects.filter(webhook=webhook).count() == attempts

    # The pages say so: the webhooks list, the webhook page and the dashboard.
    for page in (reverse("webhooks:list"), webhook.get_absolute_url(), reverse("stats:dashboard")):
        html = admin_client.get(page).content.decode()
        assert 'data-health="disabled"' in html and "Connection refused" in html, page

    # Re-enabled at the receiver's new address, what waited is sent.
    Webhook.objects.filter(pk=webhook.pk).update(url=receiver.url + "/ok")
    response = admin_client.post(reverse("webhooks:enable", args=[webhook.pk]))
    assert response.status_code == 302
    assert health_of(webhook) == Health.HEALTHY
    assert ActivityEntry.objects.filter(action="webhook.enabled").exists()
    send_all_due()
    # Those that waited were sent; the 4 tried as probes wait for their retry.
    waited = Delivery.objects.filter(pk__in=waiting)
    assert waited.filter(attempt_count=1, status=DeliveryStatus.FAILED).count() == 4
    assert waited.filter(status=DeliveryStatus.SUCCESS).count() == 6


def test_failures_of_the_sender_itself_do_not_count_against_the_endpoint(receiver, send_due):
    webhook = make_webhook(
        url=receiver.url + "/ok",
        custom_headers=[{"name": "X-Mark", "value": "ok ✓", "secret": False}],
    )
    make_due_deliveries(webhook, 5)
    send_due()
    assert DeliveryAttempt.objects.filter(failure_reason="internal_error").count() == 5
    webhook.refresh_from_db()
    assert webhook.health == Health.HEALTHY and webhook.consecutive_failures == 0


def test_enabling_needs_a_post(admin_client, db):
    webhook = make_webhook(health=Health.DISABLED)
    assert admin_client.get(reverse("webhooks:enable", args=[webhook.pk])).status_code == 405
    assert health_of(webhook) == Health.DISABLED
