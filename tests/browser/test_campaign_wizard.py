"""A one-time campaign with a custom Liquid body, created and published through the
page in Chromium, sent by a real worker to a receiver on 127.0.0.1 in batches, then
read on its stats page."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign, CampaignStatus
from deliveries.models import Delivery, DeliveryStatus
from tests.factories import make_profile_event, make_profiles, make_segment, make_webhook
from tests.support.processes import stop, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.worker]

BODY = """{
  "campaign": {{ targetId }},
  "promo": {{ key_values.PromoCode | json }},
  "users": [{% for p in profiles %}
    {"email": {{ p.Email | json }}, "city": {{ p.ProfileData.city | json }}}
    {%- unless forloop.last %},{% endunless %}{% endfor %}]
}"""


@pytest.fixture
def audience(transactional_db):
    yesterday = timezone.now() - timedelta(days=1)
    cities = ["Oslo", "Lima", "Pune", "Nice", "Kyiv"]
    for profile in make_profiles(
        5,
        identity="user-{}",
        first=0,
        email=lambda number: f"user-{number}@example.com",
        properties=lambda number: {"city": cities[number]},
    ):
        make_profile_event(profile, "App Launched", occurred_at=yesterday)
    return make_segment(
        {
            "category": "single_action",
            "action": {"event": "App Launched"},
            "window": {"kind": "last_days", "days": 7},
        },
        name="Launched lately",
    )


def test_create_publish_and_watch_a_custom_body_campaign(
    admin_page, live_server, audience, receiver, start_workers
):
    webhook = make_webhook(name="Promo receiver", url=receiver.url + "/promo")
    page = admin_page
    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.get_by_role("link", name="+ New campaign").first.click()

    # Delivery: one time, ten minutes from now (UTC).
    page.fill("#id_name", "Spring promo")
    page.fill("#id_timezone", "UTC")
    send_at = timezone.now() + timedelta(minutes=10)
    page.fill("#id_send_at_local", f"{send_at:%Y-%m-%dT%H:%M}")
    page.get_by_role("button", name="Create draft and continue").click()

    # Webhook, goal, who.
    page.get_by_label("Promo receiver").check()
    page.get_by_role("button", name="Save and continue").click()
    page.fill("#id_goal_event", "Charged")
    page.get_by_role("button", name="Save and continue").click()
    page.select_option("#id_segment", label="Launched lately")
    page.get_by_role("button", name="Save and continue").click()

    # What: a Liquid body, with a variable inserted through the "@" suggestions.
    page.get_by_label("Custom body (Liquid)").first.check()
    editor = page.locator("#id_custom_body")
    editor.fill("")
    editor.type("{{ @Emai")
    suggestion = page.locator(".suggestions li", has_text="profile.Email")
    expect(suggestion.first).to_be_visible()
    page.keyboard.press("Enter")
    assert "{{ {{ profile.Email }}" in editor.input_value()
    expect(page.get_by_test_id("preview-problems")).to_contain_text("Line 1")  # broken on purpose
    editor.fill(BODY)
    page.locator("input[name=kv_key]").first.fill("PromoCode")
    page.locator("input[name=kv_value]").first.fill("MT50")
    page.fill("#id_batch_size", "2")
    preview = page.get_by_test_id("preview-body")
    expect(preview).to_contain_text('"email": "user-0@example.com"')
    expect(preview).to_contain_text('"promo": "MT50"')
    page.get_by_role("button", name="Save and continue").click()

    # Overview and publish.
    expect(page.get_by_text("Ready to publish")).to_be_visible()
    page.get_by_test_id("publish").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Scheduled")
    campaign = Campaign.objects.get(name="Spring promo")
    assert campaign.status == CampaignStatus.SCHEDULED and campaign.webhook == webhook

    # Bring the send time to now instead of waiting ten minutes; beat does the rest.
    Campaign.objects.filter(pk=campaign.pk).update(next_run_at=timezone.now())
    worker = start_workers({"CAMPAIGNS_DISPATCH_INTERVAL": "0.5"})

    def delivered() -> bool:
        sent = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.SUCCESS)
        return sent.count() == 3

    assert wait_for(delivered, timeout=60), stop(worker)
    bodies = [json.loads(request.body) for request in receiver.received("/promo")]
    assert all(body["campaign"] == campaign.pk and body["promo"] == "MT50" for body in bodies)
    users = sorted((u["email"], u["city"]) for body in bodies for u in body["users"])
    assert users == sorted(
        (f"user-{n}@example.com", city)
        for n, city in enumerate(["Oslo", "Lima", "Pune", "Nice", "Kyiv"])
    )
    assert sorted(len(body["users"]) for body in bodies) == [1, 2, 2]

    # The campaign page, then its stats.
    page.reload()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Completed")
    page.get_by_role("link", name="Stats").first.click()
    expect(page.get_by_test_id("streamed")).to_have_text("3")
    expect(page.get_by_test_id("reached")).to_have_text("5")
    page.get_by_test_id("streamed").click()  # the log shows the same three deliveries
    expect(page.get_by_test_id("log-count")).to_have_text("3")
