"""Pages of this session's work, as an admin uses them in Chromium: endpoint health and
re-enabling, the fixed-interval retry schedule, the API docs offline, a linked figure,
and the login lockout."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.factories import make_due_deliveries, make_webhook
from webhooks.models import Health, Webhook

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_disabled_endpoint_shows_everywhere_and_can_be_re_enabled(admin_page, live_server):
    webhook = make_webhook(
        name="Warehouse",
        health=Health.DISABLED,
        health_changed_at=timezone.now(),
        consecutive_failures=412,
        last_failure_reason="connection_refused",
        last_failure_label="Connection refused",
        last_failure_at=timezone.now(),
    )
    make_due_deliveries(webhook, 3)
    page = admin_page
    page.goto(f"{live_server.url}/admin/")
    expect(page.get_by_test_id("endpoint-health")).to_contain_text("Warehouse")
    page.get_by_role("link", name="Webhooks", exact=True).click()
    row = page.locator("table.data tbody tr", has_text="Warehouse")
    expect(row).to_contain_text("Disabled since")
    expect(row).to_contain_text("Connection refused")
    row.get_by_role("link", name="Edit").click()
    panel = page.get_by_test_id("health-panel")
    expect(panel).to_contain_text("412 failures in a row")
    panel.get_by_role("button", name="Re-enable and send what waited").click()
    expect(page.locator(".message.success")).to_contain_text("re-enabled")
    expect(page.get_by_test_id("health-panel")).to_contain_text("Healthy")
    assert Webhook.objects.get(pk=webhook.pk).health == Health.HEALTHY


def test_hourly_retries_for_48_hours_in_the_settings(admin_page, live_server):
    page = admin_page
    page.get_by_role("link", name="Settings", exact=True).click()
    page.fill("input[name=max_retries]", "48")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".errorlist")).to_contain_text("For more, choose a fixed interval")
    page.select_option("select[name=retry_strategy]", "fixed")
    page.fill("input[name=retry_window_seconds]", "172800")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".message.success")).to_be_visible()
    schedule = page.get_by_test_id("retry-schedule")
    expect(schedule.locator("tbody tr")).to_have_count(48)
    expect(schedule.locator("tbody tr").first).to_contain_text("1 h")
    expect(schedule.locator("tbody tr").last).to_contain_text("2 d")


def test_the_api_docs_render_without_any_other_origin(admin_page, live_server):
    page = admin_page
    other_origins = []

    def only_ours(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            other_origins.append(route.request.url)
            route.abort()

    page.route("**/*", only_ours)
    page.goto(f"{live_server.url}/api/v1/docs")
    expect(page.get_by_text("/api/v1/events", exact=True)).to_be_visible()
    expect(page.get_by_text("Webhook Portal API")).to_be_visible()
    assert other_origins == []


def test_a_failure_figure_opens_the_attempts_that_make_it(admin_page, live_server, receiver):
    from tests.support.sending import send_due_batch

    make_due_deliveries(make_webhook(name="Orders", url=receiver.url + "/codes/500"), 3)
    send_due_batch()
    page = admin_page
    page.goto(f"{live_server.url}/admin/?range=24h")
    link = page.locator("a", has_text=re.compile(r"^\s*3 failed\s*$"))
    link.click()
    expect(page.get_by_role("heading", name="Delivery attempts")).to_be_visible()
    expect(page.get_by_test_id("attempt-count")).to_have_text("3")
    expect(page.locator("table.data tbody tr")).to_have_count(3)


def test_repeated_wrong_passwords_lock_the_login(page, live_server, admin_user):
    page.goto(f"{live_server.url}/admin/login/")
    for _ in range(5):
        page.fill("input[name=username]", admin_user.username)
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit]")
    expect(page.get_by_test_id("locked-out")).to_contain_text("Too many failed logins")
    page.get_by_role("link", name="Back to the login page").click()
    page.fill("input[name=username]", admin_user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("locked-out")).to_be_visible()  # even the right one, for now


def test_the_log_says_when_a_failed_delivery_is_retried_and_sorts_by_attempted_at(
    admin_page, live_server, receiver
):
    from datetime import timedelta

    from deliveries.models import Delivery
    from tests.support.sending import send_due_batch

    webhook = make_webhook(name="Orders", url=receiver.url + "/codes/500")
    [older, newer] = make_due_deliveries(webhook, 2)
    send_due_batch()
    # The one created first was tried last: it comes first under Attempted At.
    now = timezone.now()
    Delivery.objects.filter(pk=older.pk).update(last_attempt_at=now)
    Delivery.objects.filter(pk=newer.pk).update(last_attempt_at=now - timedelta(minutes=5))
    page = admin_page
    page.goto(f"{live_server.url}/admin/webhook-deliveries")
    page.select_option("#id_status", "failed")
    rows = page.locator("table.data tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("id", f"delivery-{older.pk}")
    expect(rows.nth(1)).to_have_attribute("id", f"delivery-{newer.pk}")
    expect(rows.first.get_by_test_id("retry-note")).to_contain_text(re.compile(r"retry 1 of 3 at"))
    rows.first.get_by_role("link", name="View").click()
    expect(page.get_by_test_id("delivery-status")).to_have_text("Failed")
    expect(page.get_by_test_id("retry-note")).to_contain_text("retry 1 of 3 at")
