"""The Content-Security-Policy in Chromium: an admin walks the portal's main pages (htmx
swaps, the campaign wizard with its Liquid editor, the segment builder, the charts) and
the browser reports no violation of the policy and no JavaScript error."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign, Profile, Segment
from deliveries.engine.emit import emit
from deliveries.models import Delivery
from tests.conftest import PASSWORD
from tests.factories import (
    make_event_type,
    make_profile_event,
    make_profiles,
    make_segment,
    make_webhook,
)
from tests.support.sending import send_due_batch
from webhooks.models import EventType, Webhook

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BODY = """{"users": [{% for p in profiles %}{{ p.Email | json }}
  {%- unless forloop.last %},{% endunless %}{% endfor %}]}"""

# Scripts injected through the DevTools protocol are not subject to the page's policy:
# this one turns every violation into a console line the test collects.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile}:${event.lineNumber} ${event.sample}`);
});
"""


@pytest.fixture
def portal(receiver):
    """Deliveries with attempts (one success, one 500), a segment, profiles with events."""
    license = make_event_type(name="license.assigned", category="License")
    make_webhook(name="Order Sync", url=receiver.url + "/ok", event_types=[license])
    make_webhook(
        name="Billing Service",
        url=receiver.url + "/codes/500",
        event_types=[license],
        max_retries=0,
    )
    emit("license.assigned", {"license_key": "LIC-42", "user": "ada@example.com"})
    send_due_batch()
    yesterday = timezone.now() - timedelta(days=1)
    cities = ["Oslo", "Lima", "Pune"]
    for profile in make_profiles(
        3,
        identity="user-{}",
        first=0,
        email=lambda number: f"user-{number}@example.com",
        properties=lambda number: {"city": cities[number]},
    ):
        make_profile_event(profile, "App Launched", occurred_at=yesterday)
    make_segment(
        {
            "category": "single_action",
            "action": {"event": "App Launched"},
            "window": {"kind": "last_days", "days": 7},
        },
        name="Launched lately",
    )


@pytest.fixture
def watched(page, live_server, admin_user):
    """The page, logged in, with every policy violation and script error collected."""
    problems = []
    page.add_init_script(REPORT_VIOLATIONS)

    def on_console(message):
        # A 4xx answer that htmx swaps (422 from a form) is logged as a failed load: fine.
        failed_load = message.text.startswith("Failed to load resource")
        violation = "Content Security Policy" in message.text
        if violation or (message.type == "error" and not failed_load):
            problems.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)

    response = page.goto(f"{live_server.url}/admin/")
    policy = response.headers["content-security-policy"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert script_src.strip() == "script-src 'self'"
    for directive in [
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]:
        assert directive in policy
    page.fill("input[name=username]", admin_user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.problems = problems
    return page


def visit(page, url):
    response = page.goto(url)
    assert response.status == 200, url
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")


def test_the_main_pages_satisfy_the_content_security_policy(watched, live_server, portal):
    page, base = watched, live_server.url

    # Dashboard with its charts; hovering a column shows its figures.
    visit(page, f"{base}/admin/")
    expect(page.get_by_test_id("endpoint-health")).to_be_visible()

    # The delivery log: an htmx filter (a select's change) and search as you type.
    visit(page, f"{base}/admin/webhook-deliveries")
    expect(page.locator("#results tbody tr")).to_have_count(2)
    page.select_option("#id_status", "failed")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    assert "status=failed" in page.url
    page.select_option("#id_status", "")
    page.fill("#id_q", "Order")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    visit(page, f"{base}/admin/webhook-deliveries/attempts")

    # A delivery's detail: the Copy button works without an inline handler.
    delivery = Delivery.objects.get(webhook__name="Billing Service")
    visit(page, f"{base}/admin/webhook-deliveries/{delivery.pk}")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert "LIC-42" in page.evaluate("navigator.clipboard.readText()")

    # Webhooks: list, form (the secret revealed by htmx), stats, event types.
    webhook = Webhook.objects.get(name="Order Sync")
    visit(page, f"{base}/admin/webhooks/")
    visit(page, f"{base}/admin/webhooks/new/")
    visit(page, f"{base}/admin/webhooks/{webhook.pk}/")
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("#secret")).to_contain_text("whsec_")
    visit(page, f"{base}/admin/webhooks/{webhook.pk}/stats")
    visit(page, f"{base}/admin/webhooks/event-types/")

    # A confirmation without onsubmit=: Cancel keeps the event type, OK deletes it.
    spare = make_event_type(name="spare.event", category="Product")
    visit(page, f"{base}/admin/webhooks/event-types/")
    row = page.locator("tr", has_text="spare.event")
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name="Delete").click()
    expect(row).to_be_visible()
    assert EventType.objects.filter(pk=spare.pk).exists()
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete").click()
    expect(page.locator("tr", has_text="spare.event")).to_have_count(0)
    assert not EventType.objects.filter(pk=spare.pk).exists()

    visit(page, f"{base}/admin/settings")
    visit(page, f"{base}/admin/logs")

    # Segments: the list and the builder, whose preview htmx refreshes.
    visit(page, f"{base}/admin/segments")
    visit(page, f"{base}/admin/segments/new")
    page.fill("#id_action0_event", "App Launched")
    expect(page.get_by_test_id("preview-count")).to_have_text("3")
    segment = Segment.objects.get(name="Launched lately")
    visit(page, f"{base}/admin/segments/{segment.pk}")

    # Profiles.
    visit(page, f"{base}/admin/profiles")
    visit(page, f"{base}/admin/profiles/{Profile.objects.get(identity='user-0').pk}")

    # The campaign wizard, step by step, with the custom body editor's @ suggestions.
    visit(page, f"{base}/admin/campaigns")
    visit(page, f"{base}/admin/campaigns/new")
    page.fill("#id_name", "Spring promo")
    page.fill("#id_timezone", "UTC")
    send_at = timezone.now() + timedelta(days=1)
    page.fill("#id_send_at_local", f"{send_at:%Y-%m-%dT%H:%M}")
    page.get_by_role("button", name="Create draft and continue").click()
    page.get_by_label("Order Sync").check()
    page.get_by_role("button", name="Save and continue").click()
    page.fill("#id_goal_event", "Charged")
    page.get_by_role("button", name="Save and continue").click()
    page.select_option("#id_segment", label="Launched lately")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_label("Custom body (Liquid)").first.check()
    editor = page.locator("#id_custom_body")
    editor.fill("")
    editor.type("{{ @Emai")
    suggestion = page.locator(".suggestions li", has_text="profile.Email")
    expect(suggestion.first).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("preview-problems")).to_contain_text("Line 1")
    editor.fill(BODY)
    expect(page.get_by_test_id("preview-body")).to_contain_text("user-0@example.com")
    # htmx's indicator rules come from portal.css, not from a <style> htmx adds.
    expect(page.locator("#test-spinner")).to_have_css("opacity", "0")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_text("Ready to publish")).to_be_visible()

    campaign = Campaign.objects.get(name="Spring promo")
    for step in ["delivery", "webhook", "goal", "who", "what", "overview"]:
        visit(page, f"{base}/admin/campaigns/{campaign.pk}/edit/{step}")
    visit(page, f"{base}/admin/campaigns/{campaign.pk}")
    visit(page, f"{base}/admin/campaigns/{campaign.pk}/stats")
    visit(page, f"{base}/admin/campaigns/{campaign.pk}/stats/audience")

    # The API docs: Swagger UI from our static files.
    visit(page, f"{base}/api/v1/docs")
    expect(page.locator(".swagger-ui").first).to_be_visible()

    assert page.problems == []
