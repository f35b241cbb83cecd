"""The Who step and the overview say how many members the control group holds out, and
warn when that is too few to measure an uplift (issue 23, item 5)."""

import os

import pytest

from campaigns.sending import control_group
from tests.factories import make_campaign, make_profiles

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("CONTROL_GROUP_SHOTS", "")  # a folder to save screenshots in


@pytest.fixture
def small_sale(transactional_db):
    make_profiles(10, identity="user-{}", first=0, properties={"plan": "gold"})
    return make_campaign(
        rule={"category": "user_properties", "profile": [{"property": "plan", "op": "exists"}]},
        control_percent=20,
    )


def test_the_who_step_and_the_overview_show_the_held_out_count_and_warn(
    admin_page, live_server, small_sale
):
    page = admin_page
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    held = control_group.held_out(small_sale).held

    page.goto(f"{live_server.url}/admin/campaigns/{small_sale.pk}/edit/who")
    count = page.get_by_test_id("held-out-count")
    count.wait_for()
    assert f"{held} of the 10 members now would be held out (20%)" in count.inner_text()
    assert (
        "too few to measure the goal's uplift"
        in page.get_by_test_id("held-out-warning").inner_text()
    )
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/who-20-percent.png", full_page=True)

    # Changing the percent recounts before saving.
    page.fill("input[name=control_percent]", "90")
    page.locator("input[name=control_percent]").dispatch_event("change")
    page.get_by_text("would be held out (90%)").wait_for()
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/who-90-percent-unsaved.png", full_page=True)

    page.goto(f"{live_server.url}/admin/campaigns/{small_sale.pk}/edit/overview")
    page.get_by_test_id("held-out-warning").wait_for()
    assert f"{held} of the 10 members" in page.get_by_test_id("held-out-count").inner_text()
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/overview.png", full_page=True)
    assert errors == []
