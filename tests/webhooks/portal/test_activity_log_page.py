from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from config.keyset import decode, encode
from webhooks.models import ActivityEntry
from webhooks.portal import views as portal_views

URL = reverse("portal:activity_log")
VALID = encode([datetime(2026, 1, 1, tzinfo=UTC), 1])


def make_entries(n, action="webhook.updated", start=None, **fields):
    """``n`` entries one minute apart, the last one newest; returned oldest first."""
    start = start or timezone.now() - timedelta(days=1)
    return ActivityEntry.objects.bulk_create(
        ActivityEntry(
            action=action,
            summary=f"Entry {i}",
            created_at=start + timedelta(minutes=i),
            **fields,
        )
        for i in range(n)
    )


def summaries(response):
    return [entry.summary for entry in response.context["page"].rows]


@pytest.fixture
def per_page_3(monkeypatch):
    monkeypatch.setattr(portal_views, "PER_PAGE", 3)


def test_the_log_lists_entries_newest_first_with_who_and_count(admin_client, admin_user):
    ActivityEntry.record("settings.updated", "Settings changed: max_retries 3 → 5", admin_user)
    ActivityEntry.record("job.purge", "Purged old deliveries", count=12345)
    response = admin_client.get(URL)
    assert response.status_code == 200
    assert response.context["nav"] == "logs"
    assert summaries(response) == ["Purged old deliveries", "Settings changed: max_retries 3 → 5"]
    page = response.content.decode()
    assert "System" in page
    assert "alice" in page
    assert '<span class="chip">job.purge</span>' in page
    assert "12,345" in page
    assert "now" in page


def test_the_log_has_an_empty_state_that_says_what_appears_here(admin_client):
    page = admin_client.get(URL).content.decode()
    assert "No activity yet" in page
    assert "settings saved, API keys created or revoked" in page


def test_members_cannot_read_the_log(member_client):
    assert member_client.get(URL).status_code == 403


def test_the_log_rejects_post(admin_client):
    assert admin_client.post(URL).status_code == 405


def test_older_and_newer_pages_walk_the_log_without_gaps(admin_client, per_page_3):
    make_entries(7)
    first = admin_client.get(URL)
    assert summaries(first) == ["Entry 6", "Entry 5", "Entry 4"]
    assert first.context["page"].previous_cursor is None

    second = admin_client.get(URL, {"after": first.context["page"].next_cursor})
    assert summaries(second) == ["Entry 3", "Entry 2", "Entry 1"]

    last = admin_client.get(URL, {"after": second.context["page"].next_cursor})
    assert summaries(last) == ["Entry 0"]
    assert last.context["page"].next_cursor is None

    back = admin_client.get(URL, {"before": last.context["page"].previous_cursor})
    assert summaries(back) == ["Entry 3", "Entry 2", "Entry 1"]
    newest = admin_client.get(URL, {"before": back.context["page"].previous_cursor})
    assert summaries(newest) == ["Entry 6", "Entry 5", "Entry 4"]
    assert newest.context["page"].previous_cursor is None
    assert newest.context["page"].next_cursor is not None


def test_entries_written_in_the_same_microsecond_are_neither_skipped_nor_repeated(
    admin_client, per_page_3
):
    moment = timezone.now()
    ActivityEntry.objects.bulk_create(
        ActivityEntry(action="job.retry", summary=f"Same {i}", created_at=moment) for i in range(5)
    )
    first = admin_client.get(URL)
    second = admin_client.get(URL, {"after": first.context["page"].next_cursor})
    seen = summaries(first) + summaries(second)
    assert sorted(seen) == [f"Same {i}" for i in range(5)]
    assert seen == [f"Same {i}" for i in reversed(range(5))]


def test_the_page_links_carry_the_cursor_and_keep_the_filter(admin_client, per_page_3):
    make_entries(4, action="api_key.created")
    response = admin_client.get(URL, {"action": "api_key"})
    older = response.context["page"].next_cursor
    page = response.content.decode()
    assert f'href="?action=api_key&amp;after={older}"' in page
    assert "Older" in page
    second = admin_client.get(URL, {"action": "api_key", "after": older}).content.decode()
    assert "Newer" in second


def test_the_filter_keeps_one_group_of_actions(admin_client):
    make_entries(2, action="api_key.created")
    make_entries(1, action="api_key_rotation.done")
    make_entries(1, action="webhook.created")
    response = admin_client.get(URL, {"action": "api_key"})
    assert response.status_code == 200
    assert [e.action for e in response.context["page"].rows] == ["api_key.created"] * 2
    assert '<option value="api_key" selected>' in response.content.decode()


def test_an_empty_group_says_so_and_links_back_to_everything(admin_client):
    make_entries(1, action="webhook.created")
    page = admin_client.get(URL, {"action": "retry"}).content.decode()
    assert "No activity in “Retries” yet" in page
    assert "Show all activity" in page


@pytest.mark.parametrize(
    "params",
    [
        {"before": "garbage"},
        {"after": "12-"},
        {"before": "１２-3"},
        {"before": "99999999999999999999999-1"},
        {"before": "1-99999999999999999999999"},
        {"before": encode([datetime(2026, 1, 1, tzinfo=UTC), 2**63]), "after": ""},
        {"before": encode([datetime(2026, 1, 1, tzinfo=UTC), 1]), "after": VALID},
        {"action": "nope"},
    ],
)
def test_bad_cursors_and_filters_answer_400_with_a_message(admin_client, params):
    make_entries(2)
    response = admin_client.get(URL, params)
    assert response.status_code == 400
    page = response.content.decode()
    assert "This log link is not valid" in page
    assert "Show the newest entries" in page


def test_a_cursor_round_trips_to_the_microsecond():
    moment = timezone.now().replace(microsecond=123456)
    assert decode(encode([moment, 42])) == [moment, 42]


def test_htmx_requests_get_only_the_table(admin_client):
    make_entries(2)
    response = admin_client.get(URL, headers={"HX-Request": "true"})
    page = response.content.decode()
    assert page.lstrip().startswith('<div class="panel flush" id="activity-table">')
    assert "<html" not in page
    assert "HX-Request" in response["Vary"]


def test_the_log_makes_the_same_number_of_queries_for_5_and_50_rows(
    admin_client, admin_user, django_assert_max_num_queries
):
    make_entries(5, actor=admin_user)
    with django_assert_max_num_queries(4):
        admin_client.get(URL)
    make_entries(45, actor=admin_user)
    with django_assert_max_num_queries(4):
        admin_client.get(URL)
