"""Every portal page needs the Admin role; superusers count as higher."""

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD
from tests.factories import make_event_type, make_webhook
from webhooks.models import ApiKey


@pytest.fixture
def page_urls(db):
    webhook = make_webhook()
    event_type = make_event_type()
    return [
        reverse("stats:dashboard"),
        reverse("webhooks:list"),
        reverse("webhooks:create"),
        reverse("webhooks:edit", args=[webhook.pk]),
        reverse("webhooks:delete", args=[webhook.pk]),
        reverse("webhooks:event_types"),
        reverse("webhooks:event_type_edit", args=[event_type.pk]),
        reverse("deliveries:log"),
        reverse("campaigns:list"),
        reverse("campaigns:segments"),
        reverse("portal:settings"),
        reverse("portal:activity_log"),
    ]


@pytest.fixture
def action_urls(db):
    webhook = make_webhook()
    event_type = make_event_type()
    return [
        reverse("webhooks:secret_reveal", args=[webhook.pk]),
        reverse("webhooks:secret_rotate", args=[webhook.pk]),
        reverse("webhooks:event_type_delete", args=[event_type.pk]),
        reverse("portal:api_key_create"),
        reverse("portal:api_key_revoke", args=[ApiKey.issue("k")[0].pk]),
    ]


def test_anonymous_users_are_sent_to_login(client, page_urls, action_urls):
    for url in page_urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login") + "?next="), url
    for url in action_urls:
        assert client.post(url).status_code == 302, url


def test_users_without_the_admin_role_get_a_clear_403(member_client, page_urls, action_urls):
    for url in page_urls:
        response = member_client.get(url)
        assert response.status_code == 403, url
        assert "Portal pages need the <strong>Admin</strong> role" in response.content.decode()
    for url in action_urls:
        assert member_client.post(url).status_code == 403, url


@pytest.mark.parametrize("fixture", ["admin_client", "superuser_client"])
def test_admins_and_superusers_see_every_page(request, fixture, page_urls):
    client = request.getfixturevalue(fixture)
    for url in page_urls:
        assert client.get(url).status_code == 200, url


def test_login_and_logout(client, admin_user):
    from tests.conftest import PASSWORD

    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("stats:dashboard")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("stats:dashboard")).status_code == 302


def test_a_wrong_password_is_refused(client, admin_user):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_create_admin_command_makes_a_working_admin(client, db):
    from django.core.management import call_command

    call_command("create_admin", "carol", password="another long passphrase")
    response = client.post(
        reverse("login"), {"username": "carol", "password": "another long passphrase"}
    )
    assert response.status_code == 302
    assert client.get(reverse("webhooks:list")).status_code == 200


def test_repeated_failed_logins_are_logged_then_locked_out(client, admin_user, settings):
    from webhooks.models import ActivityEntry

    wrong = {"username": "alice", "password": "not it"}
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(reverse("login"), wrong)
        assert response.status_code == 200  # the form again, with its error
    response = client.post(reverse("login"), wrong)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed logins" in page and "15 minutes" in page
    # Locked: even the right password is refused for now.
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert (
        ActivityEntry.objects.filter(action="login.failed").count() >= settings.AXES_FAILURE_LIMIT
    )
    locked = ActivityEntry.objects.filter(action="login.locked").last()  # the first lockout
    assert "alice" in locked.summary and "15 minutes" in locked.summary
    assert "not it" not in " ".join(ActivityEntry.objects.values_list("summary", flat=True))
    # Another username from the same address is not locked.
    assert client.post(reverse("login"), {"username": "bob", "password": "x"}).status_code == 200
