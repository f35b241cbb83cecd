"""The segment builder in Chromium: pick a category, build the rule, watch the preview
count, save. Two categories, with the members written out."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Segment
from tests.factories import make_profile, make_profile_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shoppers():
    now = timezone.now()
    rows = [
        # identity, country, [(event, days ago, properties)]
        ("ann", "Canada", [("Added To Cart", 2, {}), ("Charged", 1, {"amount": 250})]),
        ("ben", "Canada", [("Added To Cart", 2, {})]),
        ("cat", "France", [("Added To Cart", 3, {}), ("Charged", 1, {"amount": 40})]),
        ("dan", "Canada", [("Charged", 1, {"amount": 120})]),
    ]
    for identity, country, events in rows:
        profile = make_profile(
            identity=identity, email=f"{identity}@example.com", properties={"country": country}
        )
        for name, days, properties in events:
            make_profile_event(
                profile, name, properties=properties, occurred_at=now - timedelta(days=days)
            )


def test_single_action_with_user_properties_previews_and_saves(admin_page, live_server, shoppers):
    page = admin_page
    page.get_by_role("link", name="Segments", exact=True).click()
    page.get_by_role("link", name="+ New segment").first.click()
    preview = page.get_by_test_id("preview-count")

    page.fill("#id_name", "Big Canadian buyers")
    page.fill("#id_action0_event", "Charged")
    expect(preview).to_have_text("3")  # ann, cat, dan charged in the last 30 days.
    page.get_by_role("button", name="+ Event property condition").click()
    page.fill("input[name=action0_f0_property]", "amount")
    page.select_option("select[name=action0_f0_op]", "gt")
    page.fill("input[name=action0_f0_value]", "100")
    expect(preview).to_have_text("2")  # ann and dan.
    page.get_by_role("button", name="+ Profile property condition").click()
    page.fill("input[name=profile_f0_property]", "country")
    page.fill("input[name=profile_f0_value]", "France")
    expect(preview).to_have_text("0")
    page.fill("input[name=profile_f0_value]", "Canada")
    expect(preview).to_have_text("2")
    expect(page.locator("#preview")).to_contain_text("dan")

    page.get_by_role("button", name="Create segment").click()

    expect(page.locator(".message.success")).to_contain_text("Big Canadian buyers")
    segment = Segment.objects.get(name="Big Canadian buyers")
    assert segment.rule["profile"][0]["value"] == "Canada"
    page.get_by_role("link", name="← All segments").click()
    expect(page.get_by_test_id("segment-count")).to_have_text("2")


def test_inaction_within_time_previews_abandoned_carts(admin_page, live_server, shoppers):
    page = admin_page
    page.goto(f"{live_server.url}/admin/segments/new")
    page.get_by_label("Inaction within time").check()
    expect(page.get_by_test_id("section-missing")).to_be_visible()

    page.fill("#id_action0_event", "Added To Cart")
    page.fill("#id_missing_event", "Charged")
    page.fill("#id_within_value", "12")
    page.select_option("select[name=within_unit]", "hours")
    # ben never paid; cat paid two days after adding to cart; ann paid a day after.
    expect(page.get_by_test_id("preview-count")).to_have_text("3")
    page.fill("#id_within_value", "36")
    expect(page.get_by_test_id("preview-count")).to_have_text("2")  # ben and cat.
    expect(page.locator("#preview")).to_contain_text("ben")
    expect(page.locator("#preview")).not_to_contain_text("ann")

    page.fill("#id_name", "Abandoned carts")
    page.get_by_role("button", name="Create segment").click()
    expect(page.locator(".message.success")).to_contain_text("Abandoned carts")
    assert Segment.objects.get().rule["within"] == {"value": 36, "unit": "hours"}


def test_an_impossible_rule_says_so(admin_page, live_server, shoppers):
    page = admin_page
    page.goto(f"{live_server.url}/admin/segments/new")
    page.get_by_label("Inaction within time").check()
    expect(page.get_by_test_id("section-missing")).to_be_visible()
    page.fill("#id_action0_event", "Added To Cart")
    page.fill("#id_missing_event", "Charged")
    page.fill("input[name=window_days]", "1")
    page.fill("#id_within_value", "3")

    expect(page.get_by_test_id("never-matches")).to_contain_text("can never match")
