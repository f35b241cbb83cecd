"""The segment pages: list, builder (save, edit, errors) and the live preview."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Segment
from tests.factories import make_profile, make_profile_event
from webhooks.models import ActivityEntry

BUILDER = "/admin/segments/new"
PREVIEW = "/admin/segments/preview"


@pytest.fixture
def buyers(db):
    now = timezone.now()
    for identity, country, amount in [
        ("ann", "Canada", 150),
        ("ben", "Canada", 20),
        ("cat", "France", 300),
    ]:
        profile = make_profile(
            identity=identity, email=f"{identity}@example.com", properties={"country": country}
        )
        make_profile_event(
            profile, "Charged", properties={"amount": amount}, occurred_at=now - timedelta(days=2)
        )
    make_profile(identity="dan", properties={"country": "Canada"})


def single_action(**extra) -> dict:
    return {
        "name": "Big buyers",
        "category": "single_action",
        "timezone": "UTC",
        "action_count": "1",
        "action0_event": "Charged",
        "action0_rows": "1",
        "action0_f0_property": "amount",
        "action0_f0_op": "gt",
        "action0_f0_value": "100",
        "action0_f0_type": "auto",
        "window_kind": "last_days",
        "window_days": "30",
        "profile_rows": "0",
        **extra,
    }


def test_pages_need_an_admin(member_client, db):
    assert Client().get("/admin/segments").status_code == 302
    assert member_client.get(BUILDER).status_code == 403
    assert member_client.post(PREVIEW, single_action()).status_code == 403


def test_preview_counts_and_samples_the_rule(admin_client, buyers):
    response = admin_client.post(PREVIEW, single_action(), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="preview-count">2<' in html
    assert "ann" in html and "cat" in html and "ben" not in html
    assert "Did Charged where amount is greater than 100 in the last 30 days" in html


def test_preview_with_profile_conditions(admin_client, buyers):
    data = single_action(
        profile_rows="1",
        profile_f0_property="country",
        profile_f0_op="eq",
        profile_f0_value="Canada",
    )

    html = admin_client.post(PREVIEW, data).content.decode()

    assert 'data-testid="preview-count">1<' in html


def test_preview_lists_what_is_missing(admin_client, db):
    data = single_action(action0_event="", window_days="", action0_f0_value="lots")

    html = admin_client.post(PREVIEW, data).content.decode()

    assert 'data-testid="preview-errors"' in html
    assert "Action: Enter the event." in html


def test_preview_says_when_a_segment_can_never_match(admin_client, db):
    data = single_action(
        profile_rows="2",
        profile_f0_property="age",
        profile_f0_op="gt",
        profile_f0_value="60",
        profile_f1_property="age",
        profile_f1_op="lt",
        profile_f1_value="30",
    )

    html = admin_client.post(PREVIEW, data).content.decode()

    assert 'data-testid="never-matches"' in html
    assert "no age is both above 60 and below 30" in html


def test_saving_stores_the_rule_and_logs_it(admin_client, buyers):
    response = admin_client.post(BUILDER, single_action())

    segment = Segment.objects.get(name="Big buyers")
    assert response.status_code == 302 and response.url == f"/admin/segments/{segment.pk}"
    assert segment.rule["category"] == "single_action"
    assert segment.rule["action"]["where"] == [
        {"property": "amount", "op": "gt", "value": "100", "type": "auto"}
    ]
    assert ActivityEntry.objects.filter(summary="Segment “Big buyers” created").exists()
    page = admin_client.get(response.url).content.decode()
    assert 'value="Big buyers"' in page and 'value="amount"' in page


def test_invalid_rules_are_form_errors(admin_client, db):
    data = single_action(
        name="", window_kind="between", window_start="2026-03-01", window_end="2026-02-01"
    )

    response = admin_client.post(BUILDER, data)

    assert response.status_code == 422
    html = response.content.decode()
    assert "Give the segment a name." in html
    assert "The start date is after the end date" in html
    assert not Segment.objects.exists()


def test_condition_errors_sit_on_their_row(admin_client, db):
    data = single_action(action0_f0_type="number", action0_f0_value="a lot")

    response = admin_client.post(BUILDER, data)

    assert response.status_code == 422
    html = response.content.decode()
    row = html[html.index('data-testid="action0-row"') - 40 :]
    row = row[: row.index("</ul>")]
    assert 'class="cond-row invalid"' in row
    assert "&#x27;a lot&#x27; is not a number" in row


def test_duplicate_names_are_refused(admin_client, buyers):
    admin_client.post(BUILDER, single_action())

    response = admin_client.post(BUILDER, single_action())

    assert response.status_code == 422
    assert "Another segment has this name." in response.content.decode()


def test_add_and_remove_buttons_redraw_the_form_unsaved(admin_client, db):
    data = single_action(category="actions", edit="add-action")

    response = admin_client.post(BUILDER, data, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="action1_event"' in html
    assert json.loads(response["HX-Trigger"]) == {"refresh-preview": {}}
    assert not Segment.objects.exists()
    response = admin_client.post(
        BUILDER, single_action(edit="add-row:profile"), HTTP_HX_REQUEST="true"
    )
    assert 'name="profile_f0_property"' in response.content.decode()


def test_list_shows_each_segment_and_loads_its_count(admin_client, buyers):
    admin_client.post(BUILDER, single_action())
    segment = Segment.objects.get()

    html = admin_client.get("/admin/segments").content.decode()
    count = admin_client.get(f"/admin/segments/{segment.pk}/count").content.decode()

    assert "Big buyers" in html and "Did Charged where amount is greater than 100" in html
    assert 'data-testid="segment-count">2<' in count


def test_delete_is_a_post(admin_client, buyers):
    admin_client.post(BUILDER, single_action())
    segment = Segment.objects.get()

    assert admin_client.get(f"/admin/segments/{segment.pk}/delete").status_code == 405
    response = admin_client.post(f"/admin/segments/{segment.pk}/delete")

    assert response.status_code == 302
    assert not Segment.objects.exists()


def test_switching_to_actions_shows_two_events_and_a_new_date_source_clears_the_property(
    admin_client, db
):
    html = admin_client.post(
        BUILDER, single_action(category="actions", refresh="1"), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'name="action0_event"' in html and 'name="action1_event"' in html

    data = {
        "category": "date_property",
        "date_source": "event",
        "date_source_was": "profile",
        "date_property": "birthday",
        "refresh": "1",
    }
    html = admin_client.post(BUILDER, data, HTTP_HX_REQUEST="true").content.decode()
    assert 'name="date_property" value=""' in html
