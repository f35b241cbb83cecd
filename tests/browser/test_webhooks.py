import pytest
from playwright.sync_api import expect

from tests.factories import make_event_type

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_logs_in_creates_a_webhook_and_sees_it_listed(admin_page, live_server):
    make_event_type(name="license.assigned", category="License")
    page = admin_page
    page.get_by_role("link", name="Webhooks", exact=True).click()
    page.get_by_role("link", name="+ Add webhook").first.click()

    page.fill("input[name=name]", "Order Sync")
    page.fill("input[name=url]", "ftp://orders.example.com/hooks")
    page.get_by_label("license.assigned").check()
    page.get_by_role("button", name="Create webhook").click()
    expect(page.locator(".errorlist")).to_contain_text("Invalid Webhook URL")

    page.fill("input[name=url]", "https://orders.example.com/hooks")
    page.get_by_role("button", name="Create webhook").click()

    expect(page.locator(".message.success")).to_contain_text("Order Sync")
    row = page.locator("table.data tbody tr", has_text="Order Sync")
    expect(row).to_contain_text("https://orders.example.com/hooks")
    expect(row).to_contain_text("license.assigned")
    expect(row).to_contain_text("Active")


def test_the_secret_is_masked_until_revealed(admin_page, live_server):
    from tests.factories import make_webhook

    webhook = make_webhook(name="Billing")
    page = admin_page
    page.goto(f"{live_server.url}/admin/webhooks/{webhook.pk}/")
    secret = page.get_by_test_id("secret")
    expect(secret).to_have_text(webhook.masked_secret)
    page.get_by_role("button", name="Reveal").click()
    expect(secret).to_have_text(webhook.secret)
