import re

import pytest
from django.urls import reverse

from webhooks.models import ActivityEntry, ApiKey, SystemSettings
from webhooks.retry_policy import format_duration, retry_schedule

VALID = {
    "default_timeout_seconds": "10",
    "max_retries": "3",
    "retry_strategy": "exponential",
    "retry_window_seconds": "1800",
    "retention_days": "30",
}


def post_settings(client, **changes):
    return client.post(reverse("portal:settings"), {**VALID, **changes})


def test_settings_page_shows_the_saved_values_and_the_retry_schedule(admin_client):
    response = admin_client.get(reverse("portal:settings"))
    assert response.status_code == 200
    assert response.context["nav"] == "settings"
    page = response.content.decode()
    assert 'name="retry_window_seconds" value="1800"' in page
    assert "1800 s = 30 min" in page
    # 1800 s over 3 retries: 1800/7 ≈ 257 s, then 514 s, then 1029 s.
    assert "4 min 17 s" in page
    assert "8 min 34 s" in page
    assert "17 min 9 s" in page
    assert "30 min" in page


def test_saving_changes_records_what_changed_and_redirects(admin_client):
    SystemSettings.load()
    response = post_settings(admin_client, max_retries="5", retention_days="14")
    assert response.status_code == 302
    assert response.url == reverse("portal:settings")
    current = SystemSettings.load()
    assert (current.max_retries, current.retention_days) == (5, 14)
    entry = ActivityEntry.objects.get(action="settings.updated")
    assert entry.summary == "Settings changed: max_retries 3 → 5, retention_days 30 → 14"
    assert entry.actor.username == "alice"
    page = admin_client.get(response.url).content.decode()
    assert "Settings saved." in page


def test_saving_unchanged_settings_says_nothing_changed_and_logs_nothing(admin_client):
    SystemSettings.load()
    response = post_settings(admin_client)
    assert response.status_code == 302
    assert "Nothing changed" in admin_client.get(response.url).content.decode()
    assert not ActivityEntry.objects.exists()


@pytest.mark.parametrize(
    "field, value",
    [
        ("default_timeout_seconds", "0"),
        ("default_timeout_seconds", "61"),
        ("max_retries", "21"),
        ("max_retries", "-1"),
        ("retry_window_seconds", "0"),
        ("retry_window_seconds", "many"),
        ("retention_days", ""),
    ],
)
def test_invalid_values_are_shown_with_422_and_not_saved(admin_client, field, value):
    response = post_settings(admin_client, **{field: value})
    assert response.status_code == 422
    assert response.context["form"].errors[field]
    assert 'class="errorlist"' in response.content.decode()
    assert SystemSettings.load().max_retries == 3
    assert not ActivityEntry.objects.exists()


def test_an_invalid_post_keeps_the_preview_on_the_saved_values(admin_client):
    response = post_settings(admin_client, max_retries="0", retry_window_seconds="0")
    assert response.status_code == 422
    assert len(response.context["schedule"]) == 3
    assert response.context["window_hint"] == "1800 s = 30 min"


def test_members_cannot_see_or_change_settings(member_client):
    assert member_client.get(reverse("portal:settings")).status_code == 403
    assert post_settings(member_client, max_retries="5").status_code == 403
    assert SystemSettings.load().max_retries == 3


def test_the_settings_form_needs_a_csrf_token(admin_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(reverse("portal:settings"), VALID).status_code == 403
    page = client.get(reverse("portal:settings")).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page


def test_the_retry_schedule_doubles_each_wait_and_fills_the_window():
    schedule = retry_schedule(3, 1800)
    assert [round(r.wait, 2) for r in schedule] == [257.14, 514.29, 1028.57]
    assert round(schedule[-1].elapsed) == 1800
    assert round(schedule[0].earliest, 2) == round(257.142857 * 0.8, 2)
    assert schedule[0].latest == schedule[0].wait  # jitter only ever shortens a wait
    assert retry_schedule(0, 1800) == []


def test_hourly_retries_for_48_hours_are_a_fixed_interval_schedule(admin_client):
    """Seed 003: a retry every hour for 48 hours."""
    response = post_settings(
        admin_client, max_retries="48", retry_strategy="fixed", retry_window_seconds="172800"
    )
    assert response.status_code == 302
    page = admin_client.get(reverse("portal:settings")).content.decode()
    rows = re.findall(r"<td>#(\d+)</td>\s*<td class=\"num\">([^<]+)</td>", page)
    assert len(rows) == 48 and {wait for _, wait in rows} == {"1 h"}
    assert "Each automatic retry waits the same time" in page
    assert "2 d" in page  # the last one, 48 hours after the first failure


def test_exponential_backoff_refuses_more_than_20_retries_and_says_why(admin_client):
    response = post_settings(admin_client, max_retries="48")
    assert response.status_code == 422
    [message] = response.context["form"].errors["max_retries"]
    assert "at most 20" in message and "fixed interval" in message
    assert post_settings(admin_client, max_retries="101", retry_strategy="fixed").status_code == 422


def test_the_sender_waits_a_fixed_interval_between_retries(db):
    from deliveries.engine.retry import next_delay
    from tests.factories import make_webhook

    webhook = make_webhook(max_retries=48, retry_strategy="fixed", retry_window_seconds=172800)
    system = SystemSettings.load()
    for retries_done in (0, 20, 47):
        delay = next_delay(webhook, system, retries_done).total_seconds()
        assert 0.8 * 3600 <= delay <= 3600
    assert next_delay(webhook, system, 48) is None


def test_zero_retries_says_automatic_retries_are_off(admin_client):
    post_settings(admin_client, max_retries="0")
    page = admin_client.get(reverse("portal:settings")).content.decode()
    assert "Automatic retries are off" in page


@pytest.mark.parametrize(
    "seconds, text",
    [(0.01, "<0.1 s"), (4.25, "4.2 s"), (5, "5 s"), (59, "59 s"), (1800, "30 min"),
     (3725, "1 h 2 min"), (86400 * 2 + 3600, "2 d 1 h")],
)  # fmt: skip
def test_durations_read_as_short_human_text(seconds, text):
    assert format_duration(seconds) == text


# API keys


def create_key(client, name="CRM sync"):
    return client.post(reverse("portal:api_key_create"), {"name": name})


def test_creating_a_key_shows_it_once_and_it_authenticates(admin_client):
    response = create_key(admin_client)
    assert response.status_code == 200
    raw = re.search(r'data-testid="new-api-key"[^>]*>([^<]+)<', response.content.decode())[1]
    assert raw.startswith("whp_")
    assert "It will not be shown again" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.authenticate(raw)
    assert key is not None and key.name == "CRM sync"
    assert key.created_by.username == "alice"
    # Not in the session or the messages either: the next page shows only the prefix.
    page = admin_client.get(reverse("portal:settings")).content.decode()
    assert raw not in page
    assert f"{key.prefix}…" in page
    assert key.key_hash not in page


def test_creating_a_key_is_logged_without_the_key(admin_client):
    create_key(admin_client)
    key = ApiKey.objects.get()
    entry = ActivityEntry.objects.get(action="api_key.created")
    assert entry.summary == f"API key “CRM sync” ({key.prefix}…) created"
    assert entry.actor.username == "alice"


def test_a_key_needs_a_name(admin_client):
    response = create_key(admin_client, name="   ")
    assert response.status_code == 422
    assert response.context["key_form"].errors["name"]
    assert not ApiKey.objects.exists()
    assert not ActivityEntry.objects.exists()


def test_the_key_list_shows_prefix_creator_last_use_and_status(admin_client, admin_user):
    used, used_raw = ApiKey.issue("Used key", created_by=admin_user)
    ApiKey.authenticate(used_raw)
    ApiKey.issue("Untouched key")
    page = admin_client.get(reverse("portal:settings")).content.decode()
    assert f"{used.prefix}…" in page
    assert used_raw not in page
    assert used.key_hash not in page
    assert "alice" in page
    assert "Never" in page  # the untouched key
    assert ">now<" in page  # the key just used
    assert page.count('class="badge on">Active') == 2


def test_revoking_a_key_stops_it_authenticating_and_is_logged(admin_client):
    key, raw = ApiKey.issue("Old client")
    response = admin_client.post(reverse("portal:api_key_revoke", args=[key.pk]))
    assert response.status_code == 302
    assert response.url == reverse("portal:settings")
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert ApiKey.authenticate(raw) is None
    entry = ActivityEntry.objects.get(action="api_key.revoked")
    assert entry.summary == f"API key “Old client” ({key.prefix}…) revoked"
    page = admin_client.get(reverse("portal:settings")).content.decode()
    assert "Revoked" in page
    assert f'action="{reverse("portal:api_key_revoke", args=[key.pk])}"' not in page


def test_revoking_twice_logs_once(admin_client):
    key, _ = ApiKey.issue("Old client")
    url = reverse("portal:api_key_revoke", args=[key.pk])
    admin_client.post(url)
    first = ApiKey.objects.get().revoked_at
    response = admin_client.post(url, follow=True)
    assert "already revoked" in response.content.decode()
    assert ApiKey.objects.get().revoked_at == first
    assert ActivityEntry.objects.filter(action="api_key.revoked").count() == 1


def test_revoking_an_unknown_key_is_404(admin_client):
    assert admin_client.post(reverse("portal:api_key_revoke", args=[999999])).status_code == 404


def test_key_actions_reject_get(admin_client):
    key, _ = ApiKey.issue("Client")
    assert admin_client.get(reverse("portal:api_key_create")).status_code == 405
    assert admin_client.get(reverse("portal:api_key_revoke", args=[key.pk])).status_code == 405
    assert not ActivityEntry.objects.exists()


def test_members_cannot_create_or_revoke_keys(member_client):
    key, raw = ApiKey.issue("Client")
    assert create_key(member_client).status_code == 403
    assert member_client.post(reverse("portal:api_key_revoke", args=[key.pk])).status_code == 403
    assert ApiKey.objects.count() == 1
    assert ApiKey.authenticate(raw) is not None


def test_the_settings_page_has_an_empty_state_for_keys(admin_client):
    assert "No API keys yet" in admin_client.get(reverse("portal:settings")).content.decode()
