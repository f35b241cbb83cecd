"""The What step's "Send a test webhook": the test shows as sending, first in its
endpoint's line, then its request and response once a worker has sent it."""

import pytest

from tests.factories import make_campaign, make_profile, make_webhook
from tests.support.sending import send_due_batch

pytestmark = pytest.mark.browser


def test_a_test_send_shows_sending_then_its_result(
    admin_page, live_server, receiver, transactional_db
):
    make_profile(identity="ann", email="ann@example.com")
    campaign = make_campaign(
        make_webhook(name="Billing", url=receiver.url + "/hook"),
        rule={"category": "user_properties", "profile": [{"property": "plan", "op": "exists"}]},
        profile_fields=["Identity", "Email"],
    )
    page = admin_page
    page.goto(f"{live_server.url}/admin/campaigns/{campaign.pk}/edit/what")
    page.get_by_test_id("send-test").click()
    sending = page.get_by_test_id("test-sending")
    sending.wait_for()
    assert "“Billing”" in sending.inner_text()
    assert receiver.received() == []

    assert send_due_batch() == 1  # what a worker does meanwhile

    result = page.get_by_test_id("test-result")
    result.wait_for(timeout=10_000)
    assert "Delivered" in result.inner_text() and "HTTP 200" in result.inner_text()
    assert len(receiver.received("/hook")) == 1
