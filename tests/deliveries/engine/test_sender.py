"""The sender against a real receiver on 127.0.0.1, in this process (no worker)."""

import base64
import json

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from deliveries.engine.emit import emit
from deliveries.models import Delivery, DeliveryAttempt
from tests.factories import make_event_type, make_webhook
from tests.support.sending import send_due_batch
from webhooks.signing import portal_signature


@pytest.fixture
def event_type(db):
    return make_event_type(name="license.assigned", category="License")


def deliver_once(url, event_type, payload=None, **webhook_fields):
    webhook = make_webhook(url=url, event_types=[event_type], **webhook_fields)
    emit(event_type.name, payload or {"license": "L-1"})
    send_due_batch()
    return webhook, DeliveryAttempt.objects.get(webhook=webhook)


def test_a_2xx_is_a_success_and_everything_is_recorded(receiver, event_type):
    webhook, attempt = deliver_once(receiver.url + "/ok", event_type, {"license": "L-1"})
    assert attempt.success and attempt.response_code == 200
    assert attempt.response_body == '{"received": true}'
    assert attempt.request_url == receiver.url + "/ok"
    assert attempt.request_method == "POST"
    assert attempt.duration_ms is not None
    delivery = attempt.delivery
    assert delivery.status == "success" and delivery.next_attempt_at is None
    [request] = receiver.received("/ok")
    body = json.loads(request.body)
    assert body["type"] == "license.assigned" and body["data"] == {"license": "L-1"}
    assert attempt.request_body == request.body.decode()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("WebhookPortal/")
    assert request.headers["X-Webhook-Event"] == "license.assigned"
    assert request.headers["webhook-id"] == f"msg_{delivery.pk}"


def test_deliveries_verify_with_the_standardwebhooks_library(receiver, event_type):
    webhook, _ = deliver_once(receiver.url + "/ok", event_type)
    [request] = receiver.received("/ok")
    verified = StandardWebhook(webhook.secret).verify(request.body, request.headers)
    assert verified["data"] == {"license": "L-1"}


def test_x_webhook_signature_is_hmac_of_timestamp_and_body(receiver, event_type):
    webhook, _ = deliver_once(receiver.url + "/ok", event_type)
    [request] = receiver.received("/ok")
    timestamp, signature = request.headers["X-Webhook-Signature"].split(",")
    assert timestamp == "t=" + request.headers["webhook-timestamp"]
    assert signature == "v1=" + portal_signature(
        webhook.secret, int(timestamp.removeprefix("t=")), request.body
    )


def test_after_rotation_both_secrets_sign(receiver, event_type):
    webhook = make_webhook(url=receiver.url + "/ok", event_types=[event_type])
    old = webhook.secret
    webhook.rotate_secret()
    emit(event_type.name, {"n": 1})
    send_due_batch()
    [request] = receiver.received("/ok")
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert request.headers["X-Webhook-Signature"].count("v1=") == 2
    for secret in (old, webhook.secret):
        StandardWebhook(secret).verify(request.body, request.headers)


def test_basic_auth_and_custom_headers_are_sent_but_recorded_redacted(receiver, event_type):
    headers = [
        {"name": "X-Tenant", "value": "acme", "secret": False},
        {"name": "X-Api-Key", "value": "very-secret", "secret": True},
    ]
    _, attempt = deliver_once(
        receiver.url + "/ok",
        event_type,
        basic_auth_username="hook",
        basic_auth_password="pw",
        custom_headers=headers,
    )
    [request] = receiver.received("/ok")
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"hook:pw").decode()
    assert request.headers["X-Api-Key"] == "very-secret"
    recorded = attempt.request_headers
    assert recorded["X-Tenant"] == "acme"
    assert recorded["X-Api-Key"] == "[redacted]"
    assert recorded["Authorization"] == "Basic [redacted]"
    assert "very-secret" not in json.dumps(recorded) and "pw" not in recorded["Authorization"]
    assert recorded["webhook-signature"].startswith("v1,")


def test_a_5xx_is_an_http_error_and_a_retry_is_scheduled(receiver, event_type):
    _, attempt = deliver_once(receiver.url + "/codes/500", event_type)
    assert not attempt.success
    assert attempt.response_code == 500 and attempt.failure_reason == "http_error"
    assert "database is locked" in attempt.response_body
    delivery = Delivery.objects.get()
    # "failed" with a retry scheduled: the latest attempt failed, the sender goes on.
    assert delivery.status == "failed" and delivery.next_attempt_at > attempt.attempted_at
    assert delivery.retry_scheduled and not delivery.gave_up
    assert delivery.last_response_code == 500


def test_redirects_are_not_followed(receiver, event_type):
    _, attempt = deliver_once(receiver.url + "/redirect", event_type)
    assert attempt.response_code == 302 and not attempt.success
    assert "redirects are not followed" in attempt.failure_detail
    assert receiver.received("/elsewhere") == []


def test_big_bodies_are_truncated_and_marked(receiver, event_type):
    _, attempt = deliver_once(receiver.url + "/big", event_type)
    assert attempt.response_body_truncated
    assert len(attempt.response_body) == 64 * 1024


def test_non_utf8_bodies_are_stored_as_base64(receiver, event_type):
    _, attempt = deliver_once(receiver.url + "/binary", event_type)
    assert attempt.response_body_encoding == "base64"
    assert base64.b64decode(attempt.response_body) == bytes(range(256))


def test_a_refused_connection_is_recorded_with_its_reason(db, event_type):
    _, attempt = deliver_once("http://127.0.0.1:9/hooks", event_type)
    assert attempt.failure_reason == "connection_refused"
    assert attempt.response_code is None


def test_a_slow_drip_ends_at_the_timeout(receiver, event_type):
    _, attempt = deliver_once(receiver.url + "/drip", event_type, timeout_seconds=2)
    assert attempt.failure_reason == "timeout"
    assert 1900 <= attempt.duration_ms < 4000


def test_an_invalid_stored_url_is_not_sent(db, event_type):
    _, attempt = deliver_once("ftp://example.com/x", event_type)
    assert attempt.failure_reason == "invalid_url"
    assert "http or https" in attempt.failure_detail
    assert attempt.delivery.status == "failed"  # a retry cannot fix it: no retry scheduled


def test_disabled_webhooks_get_not_triggered_deliveries(receiver, event_type):
    make_webhook(url=receiver.url + "/ok", event_types=[event_type], is_active=False)
    emit(event_type.name, {})
    assert send_due_batch() == 0
    assert Delivery.objects.get().status == "not_triggered"
    assert receiver.received() == []
