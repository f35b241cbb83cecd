"""The outbound destination guard refuses before any connection is opened."""

import socket

import pytest

from deliveries.engine.sender import OutgoingRequest, send
from webhooks.destinations import is_refused_address


@pytest.fixture
def connections(monkeypatch):
    """Every address a socket in this process tries to connect to."""
    attempted = []
    original = socket.socket.connect

    def connect(sock, address):
        attempted.append(address[0])
        return original(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempted


@pytest.fixture
def nothing_allowed(settings):
    settings.WEBHOOKS_ALLOWED_NETWORKS = []


def post(url):
    return send(OutgoingRequest(url=url, body=b"{}", headers={}, recorded_headers={}, timeout=2))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.100.100.200",  # shared address space, also used for metadata
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::",
    ],
)
def test_non_public_addresses_are_refused(nothing_allowed, address):
    assert is_refused_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::5db8:d822",  # local-use NAT64, whatever it embeds
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2001:0:5db8:d822:0:f227:f5ff:fffe",  # Teredo, client 10.0.0.1
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::a00:1",  # IPv4-compatible 10.0.0.1
        "fec0::1",  # site-local
    ],
)
def test_ipv6_addresses_that_reach_a_non_public_ipv4_address_are_refused(nothing_allowed, address):
    assert is_refused_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
        "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
    ],
)
def test_ipv6_addresses_that_reach_a_public_ipv4_address_pass(nothing_allowed, address):
    assert not is_refused_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"])
def test_public_addresses_pass(nothing_allowed, address):
    assert not is_refused_address(address)


def test_allowed_networks_let_listed_addresses_through(settings):
    import ipaddress

    settings.WEBHOOKS_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    assert not is_refused_address("127.0.0.1")
    assert is_refused_address("10.0.0.1")


@pytest.mark.parametrize(
    "url",
    [
        "http://10.20.30.40/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]:8080/hook",
        "http://0.0.0.0/hook",
        "http://[64:ff9b::7f00:1]/hook",
        "http://[2002:7f00:1::1]/hook",
        "http://[::7f00:1]/hook",
        "http://[fec0::1]/hook",
    ],
)
def test_the_sender_refuses_private_destinations_without_connecting(
    nothing_allowed, connections, url
):
    result = post(url)
    assert result.failure_reason == "blocked_destination"
    assert "private or reserved" in result.failure_detail
    assert connections == []


def test_a_name_resolving_to_loopback_is_refused(nothing_allowed, connections, receiver):
    port = receiver.server.server_address[1]
    result = post(f"http://localhost:{port}/ok")
    assert result.failure_reason == "blocked_destination"
    assert connections == []
    assert receiver.received() == []
