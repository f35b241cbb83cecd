"""Lone surrogates: JSON may escape one ("\\ud800"), which Python decodes to text that
cannot be encoded as UTF-8. Neither a receiver nor a campaign body can break our pages."""

from django.urls import reverse

from deliveries.engine.emit import emit
from deliveries.models import Delivery, DeliveryAttempt
from tests.factories import make_event_type, make_webhook
from tests.support.sending import send_due_batch


def test_a_receiver_answering_a_lone_surrogate_leaves_the_detail_page_readable(
    admin_client, receiver, db
):
    event_type = make_event_type(name="license.assigned")
    make_webhook(url=receiver.url + "/lone-surrogate", event_types=[event_type])
    emit("license.assigned", {"license": "L-1"})
    send_due_batch()
    delivery = Delivery.objects.get()
    assert delivery.status == "success"

    response = admin_client.get(reverse("deliveries:detail", args=[delivery.pk]))

    assert response.status_code == 200
    assert "&quot;note&quot;: &quot;\\ud800&quot;" in response.content.decode()


def test_a_sent_body_escaping_a_lone_surrogate_leaves_the_detail_page_readable(admin_client, db):
    webhook = make_webhook()
    body = '{"a": "\\ud800", "b": "\\udfff\\ud83d"}'
    delivery = Delivery.objects.create(webhook=webhook, payload=body, status="success")
    DeliveryAttempt.objects.create(
        delivery=delivery, webhook=webhook, number=1, request_url=webhook.url,
        request_body=body, response_code=200, response_body='["\\udc00"]', success=True,
    )  # fmt: skip

    response = admin_client.get(reverse("deliveries:detail", args=[delivery.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "&quot;a&quot;: &quot;\\ud800&quot;" in page
    assert "\\udc00" in page
