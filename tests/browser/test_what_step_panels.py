"""The What step's side column: scrolled down, the preview never covers the heading of
"Send a test webhook" (issue 23, item 7)."""

import pytest

from tests.factories import make_campaign, make_profile

pytestmark = pytest.mark.browser


@pytest.fixture
def draft(transactional_db):
    make_profile(identity="ann", email="ann@example.com")
    return make_campaign(
        rule={"category": "user_properties", "profile": [{"property": "plan", "op": "exists"}]},
        profile_fields=["Identity", "Email"],
    )


@pytest.mark.parametrize("scroll", [0, 400, 800, 2000])
def test_the_preview_never_covers_the_test_panels_heading(admin_page, live_server, draft, scroll):
    page = admin_page
    page.set_viewport_size({"width": 1280, "height": 700})
    page.goto(f"{live_server.url}/admin/campaigns/{draft.pk}/edit/what")
    page.locator("#body-preview pre, #body-preview .problems").first.wait_for()
    page.evaluate(f"window.scrollTo(0, {scroll})")
    heading = page.locator("#test-panel h2")
    heading.scroll_into_view_if_needed()

    on_top = page.evaluate(
        """() => {
            const h = document.querySelector('#test-panel h2');
            const box = h.getBoundingClientRect();
            const hit = document.elementFromPoint(box.left + 5, box.top + box.height / 2);
            return h.contains(hit);
        }"""
    )

    assert on_top, "the preview panel covers the test panel's heading"
