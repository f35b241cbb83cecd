"""Bulk recovery: confirm, start, run (the worker's part in-process), progress."""

import pytest
from django.urls import reverse

from deliveries.engine.drain import drain
from deliveries.engine.emit import emit
from deliveries.log import bulk
from deliveries.models import BulkRetry, Delivery, DeliveryAttempt
from tests.factories import make_due_deliveries, make_event_type, make_webhook
from tests.support.sending import send_due_batch
from webhooks.models import ActivityEntry, Webhook

BULK = reverse("deliveries:bulk_retry")


@pytest.fixture
def failures(receiver, db):
    """Six failed deliveries to a receiver that now answers 200, and one success."""
    event_type = make_event_type(name="license.assigned", category="License")
    other = make_event_type(name="product.updated", category="Product")
    make_webhook(
        name="Billing", url=receiver.url + "/codes/500,200", event_types=[event_type], max_retries=0
    )
    make_webhook(
        name="Catalog", url=receiver.url + "/codes/404", event_types=[other], max_retries=0
    )
    make_webhook(name="Orders", url=receiver.url + "/ok", event_types=[event_type])
    emit("license.assigned", {"n": 0})
    for n in range(5):
        emit("product.updated", {"n": n})
    send_due_batch()
    assert Delivery.objects.filter(status="failed").count() == 6


def test_confirm_shows_how_many_failed_deliveries_match(admin_client, failures):
    page = admin_client.get(BULK, {"category": "Product", "status": "success"}).content.decode()
    assert 'data-testid="bulk-count">5<' in page  # status is always "failed" for a bulk retry
    assert 'name="query" value="category=Product"' in page


def test_bad_filters_are_a_422(admin_client, failures):
    response = admin_client.get(BULK, {"code": "nonsense"})
    assert response.status_code == 422


def test_a_job_retries_every_matching_failure_as_manual_attempts(
    admin_client, admin_user, failures, monkeypatch
):
    monkeypatch.setattr("deliveries.log.tasks.run_bulk_retry.delay", lambda job_id: None)
    response = admin_client.post(BULK, {"query": "q=Billing"})
    job = BulkRetry.objects.get()
    assert response.url == reverse("deliveries:bulk_progress", args=[job.pk])
    assert job.total == 1 and job.query == "q=Billing"

    bulk.run(job.pk)  # what the worker does: ask for the sends
    job.refresh_from_db()
    assert (job.status, job.sent, job.succeeded) == ("running", 1, 0)
    assert Delivery.objects.get(webhook__name="Billing").status == "pending"
    assert bulk.finish_sent() == 0  # beat: not sent yet

    send_due_batch()  # a worker's drain sends them
    assert bulk.finish_sent() == 1

    job.refresh_from_db()
    assert (job.status, job.sent, job.succeeded, job.failed) == ("done", 1, 1, 0)
    delivery = Delivery.objects.get(webhook__name="Billing")
    assert delivery.status == "success"
    attempt = delivery.attempts.get(number=2)
    assert attempt.trigger == "manual" and attempt.triggered_by == admin_user
    assert Delivery.objects.filter(status="failed").count() == 5  # other filters untouched
    summaries = list(
        ActivityEntry.objects.filter(action="retry.bulk").values_list("summary", flat=True)
    )
    assert any("finished: 1 succeeded, 0 failed" in s for s in summaries)


def test_the_progress_page_polls_until_done(admin_client, failures, monkeypatch):
    monkeypatch.setattr("deliveries.log.tasks.run_bulk_retry.delay", lambda job_id: None)
    admin_client.post(BULK, {"query": "category=Product"})
    job = BulkRetry.objects.get()
    url = reverse("deliveries:bulk_progress", args=[job.pk])
    running = admin_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 1s"' in running and "0 of 5" in running
    bulk.run(job.pk)
    waiting = admin_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 1s"' in waiting and "0 of 5" in waiting
    send_due_batch()
    done = admin_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "every 1s" not in done and "Done" in done and "5 of 5" in done
    assert "5 failed again" in done
    assert "?category=Product" in done  # links back to the filtered log


def test_a_delivery_retried_meanwhile_is_skipped(admin_client, failures, monkeypatch):
    monkeypatch.setattr("deliveries.log.tasks.run_bulk_retry.delay", lambda job_id: None)
    admin_client.post(BULK, {"query": "category=Product"})
    Delivery.objects.filter(webhook__name="Catalog").update(status="success")
    bulk.run(BulkRetry.objects.get().pk)
    job = BulkRetry.objects.get()
    assert (job.sent, job.skipped, job.status) == (0, 5, "done")


def test_non_admins_cannot_start_a_bulk_retry(member_client, failures):
    assert member_client.get(BULK).status_code == 403
    assert member_client.post(BULK, {"query": ""}).status_code == 403
    assert not BulkRetry.objects.exists()


def test_long_filters_start_a_job_with_a_short_summary_or_are_refused(
    admin_client, failures, monkeypatch
):
    monkeypatch.setattr("deliveries.log.tasks.run_bulk_retry.delay", lambda job_id: None)
    long_search = "Billing" + " " * 1500
    response = admin_client.post(BULK, {"query": f"category=License&q={long_search}"})
    assert response.status_code == 302
    job = BulkRetry.objects.get()
    entry = ActivityEntry.objects.get(action="retry.bulk")
    assert len(entry.summary) <= 500 and f"#{job.pk}" in entry.summary

    too_long = "x" * 2100
    response = admin_client.post(BULK, {"query": f"q={too_long}"})
    assert response.status_code == 422
    assert "too long" in response.content.decode()
    assert BulkRetry.objects.count() == 1  # nothing left queued


def test_a_bulk_retry_keeps_the_webhooks_concurrent_requests(
    admin_client, admin_user, receiver, transactional_db, monkeypatch
):
    """200 failed deliveries to an endpoint with "Concurrent requests" 3: the receiver
    never has more than 3 in flight, and every one is sent once, as the admin's."""
    monkeypatch.setattr("deliveries.log.tasks.run_bulk_retry.delay", lambda job_id: None)
    webhook = make_webhook(name="Slow", url=receiver.url + "/sleep", max_in_flight=3)
    make_due_deliveries(webhook, 200, status="failed", next_attempt_at=None, attempt_count=1)
    admin_client.post(BULK, {"query": "q=Slow"})
    job = BulkRetry.objects.get()
    bulk.run(job.pk)

    drain(time_budget=60)  # what a worker does, with all its sending threads

    assert receiver.max_in_flight == 3
    assert len(receiver.received("/sleep")) == 200
    bulk.finish_sent()
    job.refresh_from_db()
    assert (job.status, job.sent, job.succeeded, job.failed) == ("done", 200, 200, 0)
    attempts = DeliveryAttempt.objects.filter(delivery__webhook=webhook)
    assert attempts.filter(trigger="manual", triggered_by=admin_user).count() == 200


def test_the_progress_page_says_what_waits_for_a_failing_endpoint(
    admin_client, failures, monkeypatch
):
    monkeypatch.setattr("deliveries.log.tasks.run_bulk_retry.delay", lambda job_id: None)
    admin_client.post(BULK, {"query": "category=Product"})
    job = BulkRetry.objects.get()
    Webhook.objects.filter(name="Catalog").update(health="failing")
    bulk.run(job.pk)
    url = reverse("deliveries:bulk_progress", args=[job.pk])
    page = admin_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "5 on hold while their endpoint is failing" in page
