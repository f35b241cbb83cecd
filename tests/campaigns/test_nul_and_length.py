"""NUL characters and over-long names in the segment builder and the campaign wizard are
form errors saying so, never a 500 (PostgreSQL refuses NUL in text and jsonb)."""

import pytest

from campaigns.models import Campaign, Segment
from tests.campaigns.segments.test_segment_pages import BUILDER, PREVIEW, single_action
from tests.campaigns.wizard.test_wizard_pages import create, step, what

NUL = "a\x00b"


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "n" * 101},
        {"name": NUL},
        {"action0_event": NUL},
        {"action0_f0_value": NUL, "action0_f0_op": "eq"},
        {"action0_f0_property": NUL},
        {"action0_event": "e" * 101},
    ],
)
@pytest.mark.parametrize("url", [BUILDER, PREVIEW])
def test_the_segment_builder_refuses_nul_and_overlong_text(admin_client, db, url, fields):
    response = admin_client.post(url, single_action(**fields), HTTP_HX_REQUEST="true")

    assert response.status_code in (200, 422), response.status_code
    page = response.content.decode()
    assert "NUL" in page or "at most 100 characters" in page or "100 characters" in page
    assert not Segment.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"action0_event": NUL},
        {"action0_f0_value": NUL, "action0_f0_op": "eq", "action0_rows": "1"},
    ],
)
def test_a_campaigns_ad_hoc_audience_refuses_nul(admin_client, db, fields):
    campaign = create(admin_client)
    audience = f"/admin/campaigns/{campaign.pk}/audience"
    data = {
        "category": "single_action",
        "action_count": "1",
        "action0_event": "App Launched",
        "window_kind": "last_days",
        "window_days": "7",
        "timezone": "UTC",
        "action0_rows": "0",
    } | fields
    data.setdefault("action0_f0_property", "amount")
    data.setdefault("action0_f0_type", "auto")

    response = admin_client.post(audience, data)

    assert response.status_code == 422
    assert "NUL" in response.content.decode()
    campaign.refresh_from_db()
    assert not campaign.rule


@pytest.mark.parametrize(
    "fields",
    [
        {"query_key": ["utm_source", ""], "query_value": [NUL, ""]},
        {"query_key": [NUL, ""], "query_value": ["x", ""]},
        {"kv_key": [NUL, ""], "kv_value": ["x", ""]},
        {"kv_key": ["PromoCode", ""], "kv_value": [NUL, ""]},
        {"linked_name": ["feed"], "linked_url": ["https://example.com/\x00feed"]},
        {"linked_name": [NUL], "linked_url": ["https://example.com/feed"]},
    ],
)
def test_the_what_step_refuses_nul(admin_client, db, fields):
    campaign = create(admin_client)

    response = admin_client.post(step(campaign, "what"), what(**fields))

    assert response.status_code == 422, response.status_code
    assert "NUL" in response.content.decode()
    assert Campaign.objects.get().key_values in ({}, None)
