"""Seed 004's workflows in Chromium against a live server, a real worker and receiver."""

import pytest
from playwright.sync_api import expect

from deliveries.engine.emit import emit
from tests.factories import make_event_type, make_webhook
from tests.support.sending import send_due_batch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def deliveries(receiver):
    """Two webhooks, one healthy and one answering 500 with a stack trace."""
    license = make_event_type(name="license.assigned", category="License")
    product = make_event_type(name="product.updated", category="Product")
    make_webhook(name="Order Sync", url=receiver.url + "/ok", event_types=[license, product])
    make_webhook(
        name="Billing Service",
        url=receiver.url + "/codes/500,200",
        event_types=[license],
        max_retries=0,
    )
    emit("license.assigned", {"license_key": "LIC-42", "user": "ada@example.com"})
    emit("product.updated", {"product": "Studio Pro"})
    send_due_batch()


def test_workflow_1_troubleshooting_a_500(admin_page, live_server, deliveries):
    page = admin_page
    page.get_by_role("link", name="Webhook Deliveries").click()
    expect(page.locator("#results tbody tr")).to_have_count(3)

    page.select_option("#id_status", "failed")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    assert "status=failed" in page.url
    row = page.locator("#results tbody tr", has_text="500")
    expect(row).to_contain_text("Billing Service")
    row.get_by_role("link", name="View").click()

    expect(page.get_by_test_id("response-body").first).to_contain_text("database is locked")
    expect(page.locator("#payload")).to_contain_text('"license_key": "LIC-42"')


def test_workflow_2_recovering_after_downtime(admin_page, live_server, deliveries, start_workers):
    start_workers()
    page = admin_page
    page.goto(f"{live_server.url}/admin/webhook-deliveries")
    page.fill("#id_q", "Billing")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    assert "q=Billing" in page.url
    row = page.locator("#results tbody tr").first
    expect(row).to_contain_text("Failed")

    row.get_by_role("button", name="Retry").click()  # the receiver answers 200 now
    expect(page.locator("#results tbody tr").first).to_contain_text("Success", timeout=20000)

    page.locator("#results tbody tr").first.get_by_role("link", name="View").click()
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text("Attempt 2")
    expect(timeline.locator("li").first).to_contain_text("Success")
    expect(timeline.locator("li").first).to_contain_text("Manual by alice")


def test_filters_live_in_the_url_and_survive_a_reload(admin_page, live_server, deliveries):
    page = admin_page
    page.goto(f"{live_server.url}/admin/webhook-deliveries")
    page.select_option("#id_category", "License")
    expect(page.locator("#results tbody tr")).to_have_count(2)
    page.get_by_role("link", name="Response Code").click()
    page.wait_for_url("**sort=-code**")
    expect(page.locator("#results tbody tr").first).to_contain_text("500")
    assert "category=License" in page.url

    page.reload()
    expect(page.locator("#id_category")).to_have_value("License")
    expect(page.locator("#results tbody tr")).to_have_count(2)
    expect(page.locator("#results tbody tr").first).to_contain_text("500")

    page.go_back()  # to the category filter before sorting by code
    expect(page.locator("#results tbody tr")).to_have_count(2)
    assert "category=License" in page.url and "sort=-code" not in page.url


def test_bulk_recovery_shows_progress_until_done(admin_page, live_server, receiver, start_workers):
    event_type = make_event_type(name="license.assigned", category="License")
    make_webhook(
        # The first 40 requests fail (the outage), everything after succeeds.
        name="Warehouse", url=receiver.url + "/codes/" + "503," * 40 + "200",
        event_types=[event_type],
        max_retries=0,
    )  # fmt: skip
    for n in range(40):
        emit("license.assigned", {"n": n})
    while send_due_batch():
        pass
    start_workers()
    page = admin_page
    page.goto(f"{live_server.url}/admin/webhook-deliveries?status=failed&q=Warehouse")
    expect(page.locator(".results-head")).to_contain_text("40")
    page.get_by_role("link", name="Retry all failed matching these filters").click()
    expect(page.get_by_test_id("bulk-count")).to_have_text("40")
    page.get_by_role("button", name="Retry 40 deliveries").click()

    expect(page.get_by_role("progressbar")).to_be_visible()
    expect(page.get_by_test_id("bulk-status")).to_have_text("Done", timeout=30000)
    expect(page.locator("#progress")).to_contain_text("40 of 40")
    expect(page.locator("#progress")).to_contain_text("40 succeeded")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    page.get_by_role("link", name="Back to the filtered log").click()
    assert "q=Warehouse" in page.url
