"""Dates near the calendar's ends are form errors with a reason, never a 500: every date
a user types falls in the years 2000 to 2999 (config.dates), as on the stats pages."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Profile, Segment
from config.dates import OUT_OF_BOUNDS
from tests.campaigns.wizard.test_wizard_pages import NEW, delivery
from tests.factories import make_webhook
from webhooks.models import ApiKey


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"send_at_local": "9999-12-31T23:59", "timezone": "Etc/GMT+12"}, "send_at_local"),
        ({"send_at_local": "9999-12-31T23:59", "timezone": "Etc/GMT-14"}, "send_at_local"),
        ({"send_at_local": "3000-01-01T00:00"}, "send_at_local"),
        ({"send_at_local": "0001-01-01T00:00", "timezone": "Etc/GMT-14"}, "send_at_local"),
        (
            {"delivery_type": "recurring", "every": "daily", "ends": "9999-12-31"},
            "ends",
        ),
        (
            {"delivery_type": "recurring", "every": "daily", "starts": "9999-12-31"},
            "starts",
        ),
        ({"delivery_type": "recurring", "every": "daily", "starts": "0001-01-01"}, "starts"),
    ],
)
def test_a_campaign_time_past_the_calendar_is_a_form_error(admin_client, fields, field):
    response = admin_client.post(NEW, delivery(**fields))

    assert response.status_code == 422
    assert OUT_OF_BOUNDS in response.context["form"].errors[field]
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("until", ["9999-12-31", "9999-12-31T23:59", "1999-12-31"])
def test_a_stats_window_past_the_calendar_is_a_form_error(admin_client, until):
    response = admin_client.get("/admin/", {"since": "2026-01-01", "until": until})

    assert response.status_code in (200, 422)
    assert OUT_OF_BOUNDS in response.content.decode()


FAR = {"kind": "between", "start": "2020-01-01", "end": "9999-12-31"}
FAR_RULE = {"category": "single_action", "action": {"event": "Charged"}, "window": FAR}


def test_a_segment_window_past_the_calendar_is_a_422_with_the_reason(client, db):
    _, key = ApiKey.issue("CRM")

    response = client.post(
        "/api/v1/segments/preview",
        FAR_RULE,
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )

    assert response.status_code == 422
    assert OUT_OF_BOUNDS in response.content.decode()


def test_a_segment_saved_with_such_a_window_before_the_check_is_harmless(admin_client, client):
    segment = Segment.objects.create(name="Far", rule=FAR_RULE)  # as saved before the check
    campaign = Campaign.objects.create(
        name="Far out", webhook=make_webhook(), segment=segment, profile_fields=["Identity"],
        delivery_type="one_time", send_at=timezone.now() + timedelta(days=1),
    )  # fmt: skip
    Profile.objects.create(identity="ann")
    _, key = ApiKey.issue("CRM")

    members = client.get(
        f"/api/v1/segments/{segment.pk}/members", headers={"Authorization": f"Bearer {key}"}
    )
    assert members.status_code == 409
    assert "no longer valid" in members.json()["detail"]
    assert admin_client.get(f"/admin/segments/{segment.pk}/count").status_code == 200
    assert admin_client.get(f"/admin/segments/{segment.pk}").status_code == 200
    assert admin_client.get(f"/admin/campaigns/{campaign.pk}").status_code == 200
    overview = admin_client.get(f"/admin/campaigns/{campaign.pk}/edit/overview")
    assert overview.status_code == 200
    assert OUT_OF_BOUNDS.removesuffix(".") in overview.content.decode()
    preview = admin_client.post(f"/admin/campaigns/{campaign.pk}/body-preview", {})
    assert preview.status_code < 500

    published = admin_client.post(f"/admin/campaigns/{campaign.pk}/publish", follow=True)

    assert published.status_code == 200
    campaign.refresh_from_db()
    assert campaign.status == "draft"
