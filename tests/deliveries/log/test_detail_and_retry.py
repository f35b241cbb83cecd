"""The detail view of one delivery, and manual Retry (the worker's part run in-process)."""

import base64

import pytest
from django.urls import reverse

from deliveries.engine.emit import emit
from deliveries.models import Delivery, DeliveryAttempt
from tests.factories import make_due_deliveries, make_event_type, make_webhook
from tests.support.sending import send_due_batch
from webhooks.models import ActivityEntry


@pytest.fixture
def failed_delivery(receiver, db):
    event_type = make_event_type(name="license.assigned")
    make_webhook(
        name="Billing", url=receiver.url + "/codes/500,200", event_types=[event_type], max_retries=0
    )
    emit("license.assigned", {"license": "L-<1>", "user": "ada@example.com"})
    send_due_batch()
    delivery = Delivery.objects.get()
    assert delivery.status == "failed"
    return delivery


def detail(client, delivery):
    return client.get(reverse("deliveries:detail", args=[delivery.pk]))


def test_detail_shows_request_payload_response_and_timeline(admin_client, failed_delivery):
    page = detail(admin_client, failed_delivery).content.decode()
    assert "POST</strong> " + failed_delivery.webhook.url in page
    assert "webhook-signature" in page and "X-Webhook-Signature" in page
    assert "&quot;license&quot;: &quot;L-&lt;1&gt;&quot;" in page  # pretty-printed and escaped
    assert "HTTP 500" in page and "database is locked" in page
    assert "Attempt 1" in page and "Automatic" in page


def test_untrusted_response_bodies_are_escaped(admin_client, db):
    event_type = make_event_type()
    webhook = make_webhook(event_types=[event_type])
    delivery = Delivery.objects.create(webhook=webhook, event_type=event_type, status="failed")
    DeliveryAttempt.objects.create(
        delivery=delivery, webhook=webhook, number=1, request_url=webhook.url,
        response_code=500, response_body="<script>alert('x')</script>",
    )  # fmt: skip
    page = detail(admin_client, delivery).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert" in page


def test_json_nested_too_deep_to_walk_is_shown_as_raw_text(admin_client, db):
    webhook = make_webhook()
    delivery = Delivery.objects.create(webhook=webhook, status="failed")
    deep = "[" * 5000 + "]" * 5000
    DeliveryAttempt.objects.create(
        delivery=delivery, webhook=webhook, number=1, request_url=webhook.url,
        response_code=200, response_body=deep,
    )  # fmt: skip
    response = detail(admin_client, delivery)
    assert response.status_code == 200
    assert deep in response.content.decode()


def test_binary_and_truncated_bodies_are_said_plainly(admin_client, db):
    event_type = make_event_type()
    webhook = make_webhook(event_types=[event_type])
    delivery = Delivery.objects.create(webhook=webhook, event_type=event_type, status="success")
    DeliveryAttempt.objects.create(
        delivery=delivery, webhook=webhook, number=1, request_url=webhook.url, success=True,
        response_code=200, response_body=base64.b64encode(b"\x00\xff" * 10).decode(),
        response_body_encoding="base64", response_body_truncated=True,
    )  # fmt: skip
    page = detail(admin_client, delivery).content.decode()
    assert "Binary body (20" in page
    assert "Truncated: only the first 64 KiB" in page


def test_credentials_stay_redacted_on_the_detail_view(admin_client, receiver, db):
    event_type = make_event_type(name="license.assigned")
    make_webhook(
        url=receiver.url + "/ok", event_types=[event_type], basic_auth_username="u",
        basic_auth_password="hunter2-password",
        custom_headers=[{"name": "X-Key", "value": "sekrit-value", "secret": True}],
    )  # fmt: skip
    emit("license.assigned", {})
    send_due_batch()
    page = detail(admin_client, Delivery.objects.get()).content.decode()
    assert "hunter2-password" not in page and "sekrit-value" not in page
    assert "[redacted]" in page


def test_unknown_delivery_is_404(admin_client, db):
    assert admin_client.get(reverse("deliveries:detail", args=[12345])).status_code == 404


def test_retry_records_a_manual_attempt_by_the_user(admin_client, admin_user, failed_delivery):
    url = reverse("deliveries:retry", args=[failed_delivery.pk])
    response = admin_client.post(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'data-status="pending"' in response.content.decode()
    assert "Manual retry queued" in response.content.decode()
    assert 'hx-trigger="every 1s"' in response.content.decode()  # the row polls
    page = detail(admin_client, Delivery.objects.get()).content.decode()
    assert "manual retry by alice, next in line" in page and "Retry now" not in page
    assert send_due_batch() == 1  # what the worker's drain does
    failed_delivery.refresh_from_db()
    assert failed_delivery.status == "success" and failed_delivery.attempt_count == 2
    attempt = failed_delivery.attempts.get(number=2)
    assert attempt.trigger == "manual" and attempt.triggered_by == admin_user
    row = admin_client.get(reverse("deliveries:row", args=[failed_delivery.pk])).content.decode()
    assert 'data-status="success"' in row and "every 1s" not in row
    assert ActivityEntry.objects.filter(action="retry.manual", actor=admin_user).exists()
    page = detail(admin_client, failed_delivery).content.decode()
    assert "Manual by alice" in page


def test_a_second_retry_while_the_first_waits_is_409(admin_client, failed_delivery):
    url = reverse("deliveries:retry", args=[failed_delivery.pk])
    admin_client.post(url, headers={"HX-Request": "true"})
    again = admin_client.post(url, headers={"HX-Request": "true"})
    assert again.status_code == 409
    assert "already waiting to be sent" in again.content.decode()


def test_retry_of_an_in_progress_delivery_is_409(admin_client, failed_delivery):
    Delivery.objects.filter(pk=failed_delivery.pk).update(status="in_progress")
    url = reverse("deliveries:retry", args=[failed_delivery.pk])
    again = admin_client.post(url, headers={"HX-Request": "true"})
    assert again.status_code == 409
    assert "being sent right now" in again.content.decode()


def test_a_retry_goes_first_in_its_endpoints_line(admin_client, admin_user, failed_delivery):
    make_due_deliveries(failed_delivery.webhook, 5)
    url = reverse("deliveries:retry", args=[failed_delivery.pk])
    admin_client.post(url, headers={"HX-Request": "true"})
    assert send_due_batch(limit=1) == 1
    failed_delivery.refresh_from_db()
    assert failed_delivery.attempt_count == 2 and failed_delivery.manual_requested_at is None
    assert failed_delivery.attempts.get(number=2).triggered_by == admin_user


def test_a_successful_delivery_needs_replay_confirmation(admin_client, failed_delivery):
    Delivery.objects.filter(pk=failed_delivery.pk).update(status="success")
    url = reverse("deliveries:retry", args=[failed_delivery.pk])
    refused = admin_client.post(url, headers={"HX-Request": "true"})
    assert refused.status_code == 409 and "replay" in refused.content.decode()
    assert (
        admin_client.post(url, {"replay": "1"}, headers={"HX-Request": "true"}).status_code == 200
    )


def test_a_disabled_webhook_cannot_be_retried(admin_client, failed_delivery):
    failed_delivery.webhook.is_active = False
    failed_delivery.webhook.save()
    url = reverse("deliveries:retry", args=[failed_delivery.pk])
    response = admin_client.post(url, headers={"HX-Request": "true"})
    assert response.status_code == 409 and "paused" in response.content.decode()


def test_retry_without_htmx_redirects_to_the_detail_view(admin_client, failed_delivery):
    response = admin_client.post(reverse("deliveries:retry", args=[failed_delivery.pk]))
    assert response.status_code == 302
    assert response.url == reverse("deliveries:detail", args=[failed_delivery.pk])


def test_retry_needs_post(admin_client, failed_delivery):
    url = reverse("deliveries:retry", args=[failed_delivery.pk])
    assert admin_client.get(url).status_code == 405


def test_retry_is_refused_without_the_role(member_client, failed_delivery):
    url = reverse("deliveries:retry", args=[failed_delivery.pk])
    assert member_client.post(url).status_code == 403
