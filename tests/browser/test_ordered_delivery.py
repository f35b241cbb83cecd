"""Ordered delivery in Chromium: an admin switches a webhook to in order per key; its head
fails and holds the line; the rows behind it say so and link to it; Retry of the head
(the receiver answers now) drains the line, in order, with a real worker."""

import json
import time

import pytest
from playwright.sync_api import expect

from deliveries.engine.emit import emit
from deliveries.models import Delivery
from tests.factories import make_event_type, make_webhook
from tests.support.sending import send_due_batch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_held_line_waits_visibly_and_drains_after_a_retry_of_its_head(
    admin_page, live_server, receiver, start_workers
):
    kind = make_event_type(name="order.updated", category="Orders")
    webhook = make_webhook(
        name="Order Sync", url=receiver.url + "/codes/500,200", event_types=[kind], max_retries=0
    )
    page = admin_page
    page.goto(f"{live_server.url}/admin/webhooks/{webhook.pk}/")
    page.select_option("#id_delivery_order", "key")
    page.fill("#id_ordering_key_path", "data.order_id")
    page.select_option("#id_when_head_given_up", "hold")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".message.success")).to_be_visible()

    for step in ("created", "paid", "refunded"):
        emit("order.updated", {"data": {"order_id": "ord-7", "step": step}})
    send_due_batch()  # the head fails (500) with no retry left: it holds the line
    head, *behind = Delivery.objects.order_by("id")
    head.refresh_from_db()
    assert head.holds_line

    page.goto(f"{live_server.url}/admin/webhook-deliveries")
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(3)
    for delivery in behind:
        row = page.locator(f"#delivery-{delivery.pk}")
        expect(row).to_contain_text(f"waiting behind delivery #{head.pk}")
        expect(row).to_contain_text("holding its line")
    page.locator(f"#delivery-{behind[0].pk}").get_by_test_id("line-head").click()
    page.wait_for_url(f"**/webhook-deliveries/{head.pk}")
    expect(page.get_by_test_id("retry-note")).to_contain_text("holding its line")
    expect(page.get_by_test_id("skip")).to_be_visible()

    page.goto(f"{live_server.url}/admin/webhooks/{webhook.pk}/stats")
    expect(page.get_by_test_id("lines-waiting")).to_contain_text("2 deliveries waiting in 1 line")

    start_workers()
    page.goto(f"{live_server.url}/admin/webhook-deliveries/{head.pk}")
    page.get_by_role("button", name="Retry now").click()  # the receiver answers 200 now
    expect(page.locator(".message.success")).to_contain_text("Retry queued")
    deadline = time.monotonic() + 30
    while Delivery.objects.filter(status="success").count() < 3:
        assert time.monotonic() < deadline, "the line did not drain"
        time.sleep(0.2)
    page.goto(f"{live_server.url}/admin/webhook-deliveries?status=success")
    expect(page.locator("#results tbody tr")).to_have_count(3)

    steps = [json.loads(r.body)["data"]["data"]["step"] for r in receiver.received()]
    assert list(dict.fromkeys(steps)) == ["created", "paid", "refunded"]
    assert len(steps) == 4  # the head twice (500, then 200), each of the others once
