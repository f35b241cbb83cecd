"""The login lockout counts per client address, read through TRUSTED_PROXY_COUNT proxies
(config/client_ip.py), so that behind a load balancer one client's wrong guesses do not
lock everyone else out, and a client cannot pick its own address."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from config.client_ip import client_ip_address
from tests.conftest import PASSWORD
from webhooks.models import ActivityEntry

BALANCER = "10.0.0.2"
WRONG = {"username": "alice", "password": "not it"}
RIGHT = {"username": "alice", "password": PASSWORD}


def login(client, data, remote_addr, forwarded_for=None):
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.post(reverse("login"), data, **extra)


def fail_until_locked(client, settings, remote_addr, forwarded_for=lambda attempt: None):
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        response = login(client, WRONG, remote_addr, forwarded_for(attempt))
        assert response.status_code == 200
    response = login(client, WRONG, remote_addr, forwarded_for(settings.AXES_FAILURE_LIMIT))
    assert response.status_code == 429


def test_directly_a_spoofed_forwarded_for_is_ignored(client, admin_user, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    # Each guess claims another address: the lockout follows REMOTE_ADDR all the same.
    fail_until_locked(
        client, settings, "203.0.113.7", forwarded_for=lambda attempt: f"198.51.100.{attempt}"
    )
    assert login(client, RIGHT, "203.0.113.7", "198.51.100.77").status_code == 429
    # Naming the locked address in the header does not lock another client out.
    response = login(client, RIGHT, "192.0.2.10", "203.0.113.7")
    assert response.status_code == 302
    summary = ActivityEntry.objects.filter(action="login.locked").last().summary
    assert "203.0.113.7" in summary and "198.51.100" not in summary


def test_behind_one_proxy_two_clients_are_locked_separately(client, admin_user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    fail_until_locked(client, settings, BALANCER, forwarded_for=lambda attempt: "203.0.113.7")
    assert login(client, RIGHT, BALANCER, "203.0.113.7").status_code == 429
    # Another client through the same balancer still logs in.
    assert login(client, RIGHT, BALANCER, "198.51.100.9").status_code == 302
    summary = ActivityEntry.objects.filter(action="login.locked").last().summary
    assert "203.0.113.7" in summary and BALANCER not in summary
    failed = ActivityEntry.objects.filter(action="login.failed").last().summary
    assert "203.0.113.7" in failed


def test_behind_one_proxy_a_client_cannot_escape_by_prepending_addresses(
    client, admin_user, settings
):
    settings.TRUSTED_PROXY_COUNT = 1
    # The balancer appends the real address; whatever the client sent stays on the left.
    fail_until_locked(
        client, settings, BALANCER, forwarded_for=lambda attempt: f"192.0.2.{attempt}, 203.0.113.7"
    )
    assert login(client, RIGHT, BALANCER, "192.0.2.200, 203.0.113.7").status_code == 429
    assert login(client, RIGHT, BALANCER, "203.0.113.7").status_code == 429


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, "198.51.100.1", "10.0.0.2"),
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "192.0.2.1, 198.51.100.1", "198.51.100.1"),
        (2, "192.0.2.1, 198.51.100.1, 10.0.0.9", "198.51.100.1"),
        (2, "198.51.100.1", "198.51.100.1"),  # fewer entries than proxies: the leftmost
        (1, None, "10.0.0.2"),  # not through the proxy
        (1, "", "10.0.0.2"),
        (1, "not-an-address", "10.0.0.2"),
        (1, " 2001:db8::1 ", "2001:db8::1"),
    ],
)
def test_the_client_address_is_read_through_the_trusted_proxies(
    settings, proxies, forwarded_for, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    extra = {"REMOTE_ADDR": "10.0.0.2"}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    request = RequestFactory().post("/admin/login/", **extra)
    assert client_ip_address(request) == expected
