"""What a campaign delivery sends: its rendered body as it is, its content type, the query
pairs appended to the webhook's URL; signed over exactly the bytes sent."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as StandardWebhook

from deliveries.engine import start_retry, url_with_query
from deliveries.engine.record import record_unsent
from deliveries.models import Delivery, DeliveryAttempt, Source
from tests.factories import make_delivery, make_webhook
from tests.support.sending import send_due_batch
from webhooks.signing import portal_signature

TEXT = "text/plain; charset=utf-8"


def campaign_delivery(webhook, payload, **fields) -> Delivery:
    fields = {"status": "pending", "next_attempt_at": timezone.now(), **fields}
    return make_delivery(webhook, source=Source.CAMPAIGN, payload=payload, **fields)


@pytest.mark.parametrize(
    ("url", "query", "expected"),
    [
        ("https://x.test/hook", "", "https://x.test/hook"),
        ("https://x.test/hook", "a=1&b=two+words", "https://x.test/hook?a=1&b=two+words"),
        ("https://x.test/hook?token=abc", "a=1", "https://x.test/hook?token=abc&a=1"),
        ("https://x.test/hook?token=abc#top", "a=1", "https://x.test/hook?token=abc&a=1#top"),
    ],
)
def test_query_pairs_are_appended_to_the_webhooks_own_query(url, query, expected):
    assert url_with_query(url, query) == expected


def test_a_text_body_goes_out_raw_and_signed_over_the_bytes_sent(receiver, db):
    webhook = make_webhook(url=receiver.url + "/hook?token=abc")
    text = 'Héllo <ann> & "bob"\nline two'
    delivery = campaign_delivery(webhook, text, content_type=TEXT, query="utm=spring+sale")

    send_due_batch()

    [request] = receiver.received("/hook?token=abc&utm=spring+sale")
    assert request.body == text.encode()
    assert request.headers["Content-Type"] == TEXT
    StandardWebhook(webhook.secret).verify(request.body, request.headers, json_parse=False)
    timestamp = int(request.headers["webhook-timestamp"])
    expected = f"t={timestamp},v1={portal_signature(webhook.secret, timestamp, request.body)}"
    assert request.headers["X-Webhook-Signature"] == expected
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert attempt.success and attempt.request_body == text
    assert attempt.request_url == receiver.url + "/hook?token=abc&utm=spring+sale"
    assert attempt.request_headers["Content-Type"] == TEXT


def test_a_rendered_json_body_is_sent_byte_for_byte(receiver, db):
    webhook = make_webhook(url=receiver.url + "/hook")
    rendered = '{"z": 1,\n  "a": "ünï"}'  # its own key order and spacing
    campaign_delivery(webhook, rendered)

    send_due_batch()

    [request] = receiver.received("/hook")
    assert request.body == rendered.encode()
    assert request.headers["Content-Type"] == "application/json"
    assert StandardWebhook(webhook.secret).verify(request.body, request.headers) == {
        "z": 1,
        "a": "ünï",
    }


def test_a_document_payload_is_still_sent_as_compact_json(receiver, db):
    campaign_delivery(make_webhook(url=receiver.url + "/hook"), {"targetId": 7, "profiles": []})

    send_due_batch()

    [request] = receiver.received("/hook")
    assert json.loads(request.body) == {"targetId": 7, "profiles": []}
    assert b" " not in request.body


def test_a_delivery_whose_body_was_never_built_is_not_sent_on_retry(receiver, db, admin_user):
    webhook = make_webhook(url=receiver.url + "/hook")
    delivery = campaign_delivery(
        webhook, None, status="failed", next_attempt_at=None, attempt_count=1
    )
    record_unsent([(delivery, "template_error", "line 2: Unknown variable 'x'.")])
    start_retry(Delivery.objects.select_related("webhook").get(pk=delivery.pk), admin_user)

    assert send_due_batch() == 1

    assert receiver.received() == []
    attempt = DeliveryAttempt.objects.get(delivery=delivery, number=2)
    assert (
        attempt.failure_reason == "template_error" and "Nothing to send" in attempt.failure_detail
    )
    webhook.refresh_from_db()
    assert webhook.consecutive_failures == 0  # not the endpoint's fault


def test_the_detail_page_shows_a_text_body_as_rendered_and_escaped(admin_client, receiver, db):
    webhook = make_webhook(url=receiver.url + "/hook")
    delivery = campaign_delivery(webhook, "<script>alert('x')</script>", content_type=TEXT)
    send_due_batch()

    page = admin_client.get(reverse("deliveries:detail", args=[delivery.pk])).content.decode()

    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "text/plain; charset=utf-8" in page


def test_the_detail_page_of_an_unbuilt_body_says_why(admin_client, db):
    delivery = campaign_delivery(
        make_webhook(), None, status="failed", next_attempt_at=None, attempt_count=1
    )
    record_unsent([(delivery, "linked_content_error", "Linked content “weather”: HTTP 500")])

    page = admin_client.get(reverse("deliveries:detail", args=[delivery.pk])).content.decode()

    assert "could not be built" in page and "linked content error" in page
    assert "HTTP 500" in page
