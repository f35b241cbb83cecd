"""Retry and bulk retry with a real worker: the page only asks, the worker's drain sends,
within the endpoint's cap, as the admin's attempts."""

import pytest
from django.urls import reverse

from deliveries.models import BulkRetry, Delivery, DeliveryAttempt
from tests.factories import make_due_deliveries, make_webhook
from tests.support.processes import stop, wait_for

pytestmark = pytest.mark.worker


def test_a_retry_and_a_bulk_retry_are_sent_by_the_worker(
    admin_client, admin_user, receiver, start_workers
):
    webhook = make_webhook(name="Slow", url=receiver.url + "/sleep", max_in_flight=2)
    failed = make_due_deliveries(
        webhook, 30, status="failed", next_attempt_at=None, attempt_count=1
    )
    worker = start_workers()

    retried = admin_client.post(reverse("deliveries:retry", args=[failed[0].pk]))
    assert retried.status_code == 302

    def retry_sent():
        return DeliveryAttempt.objects.filter(delivery=failed[0], trigger="manual").exists()

    assert wait_for(retry_sent, timeout=30), stop(worker)
    assert DeliveryAttempt.objects.get(delivery=failed[0]).triggered_by == admin_user

    admin_client.post(reverse("deliveries:bulk_retry"), {"query": "q=Slow"})
    job = BulkRetry.objects.get()
    assert job.total == 29  # the one retried succeeded meanwhile

    def finished():
        job.refresh_from_db()
        return job.status == "done"

    assert wait_for(finished, timeout=60), stop(worker)
    assert (job.sent, job.succeeded, job.failed) == (29, 29, 0)
    assert Delivery.objects.filter(webhook=webhook, status="success").count() == 30
    assert receiver.max_in_flight <= 2
    manual = DeliveryAttempt.objects.filter(trigger="manual", triggered_by=admin_user)
    assert manual.count() == 30
