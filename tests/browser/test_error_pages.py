"""Error pages in Chromium: a broken page link explains itself and leads back."""

import pytest
from playwright.sync_api import expect

from config.keyset import InvalidCursor

LOG = "/admin/webhook-deliveries"
CURSOR_MESSAGE = str(InvalidCursor())


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_chromium_a_broken_link_explains_itself_and_leads_back(admin_page, live_server):
    tab = admin_page
    tab.goto(f"{live_server.url}{LOG}?status=failed&after=garbage")
    expect(tab.get_by_role("heading", name="Bad request")).to_be_visible()
    expect(tab.get_by_text(CURSOR_MESSAGE)).to_be_visible()
    tab.get_by_role("link", name="Start from the first page").click()
    tab.wait_for_url(f"{live_server.url}{LOG}?status=failed")
    expect(tab.get_by_role("heading", name="Webhook Deliveries")).to_be_visible()
