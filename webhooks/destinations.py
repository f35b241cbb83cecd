"""Where a webhook may point: URL validation for the endpoint form, and the outbound
guard that checks the address the sender actually connects to."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

MAX_URL_LENGTH = 2048
ALLOWED_SCHEMES = ("http", "https")


def url_problem(url: str) -> str | None:
    """Return why ``url`` cannot be a webhook destination, or None when it can."""
    if not url:
        return "the URL is empty."
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is {len(url)} characters long; the limit is {MAX_URL_LENGTH}."
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        return "the URL contains whitespace or control characters."
    try:
        parts = urlsplit(url)
    except ValueError as error:
        return f"the URL cannot be parsed ({error})."
    if not parts.scheme:
        return "the URL has no scheme; start it with https:// or http://."
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return f"the scheme must be http or https, not {parts.scheme}."
    if not parts.netloc or not parts.hostname:
        return "the URL has no host."
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not allowed; use the basic-auth fields."
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily, on access
    except ValueError:
        return "the port is not a number between 0 and 65535."
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        return "the host name is not valid."
    return None


def validate_webhook_url(url: str) -> None:
    """Raise ``ValidationError`` with "Invalid Webhook URL: <reason>" for a bad URL."""
    problem = url_problem(url)
    if problem:
        raise ValidationError(f"Invalid Webhook URL: {problem}", code="invalid_webhook_url")


# The outbound guard -------------------------------------------------------------------
#
# Checked on the address the socket actually connects to, after DNS has resolved, so a
# name that resolves to a public address at validation time and to 127.0.0.1 at send time
# (DNS rebinding) is still refused. Nothing is connected before the check.


class BlockedDestination(OSError):
    """Every address the host resolves to is a refused one."""


# IPv6 ranges whose packets go to an IPv4 address written in the last 32 bits: NAT64's
# well-known prefix (64:ff9b::a00:1 reaches 10.0.0.1 on a network with NAT64) and the
# deprecated IPv4-compatible addresses (::7f00:1 is 127.0.0.1; :: and ::1 fall here too).
EMBEDDED_IPV4_LAST = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))
# Ranges refused whatever follows: local-use NAT64 (the IPv4 part's place depends on the
# operator's prefix length) and the deprecated site-local addresses (fec0::/10), which
# Python does not count as private.
ALWAYS_REFUSED = (ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("fec0::/10"))


def effective_addresses(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list:
    """The addresses a connection to ``ip`` reaches: the IPv4 address an IPv6 one embeds
    (mapped, NAT64, IPv4-compatible, 6to4, or Teredo's server and client), else ``ip``."""
    if isinstance(ip, ipaddress.IPv4Address):
        return [ip]
    if ip.ipv4_mapped:
        return [ip.ipv4_mapped]
    if any(ip in network for network in EMBEDDED_IPV4_LAST):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour:
        return [ip.sixtofour]
    if ip.teredo:
        return list(ip.teredo)
    return [ip]


def is_refused_address(address: str) -> bool:
    """True for loopback, private, link-local (cloud metadata), multicast, unspecified and
    other non-global addresses, IPv6 ones that embed such an IPv4 address included,
    unless a network in WEBHOOKS_ALLOWED_NETWORKS holds it."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if any(ip in network for network in ALWAYS_REFUSED):
        return True
    return any(_refused(target) for target in effective_addresses(ip))


def _refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if any(ip in network for network in settings.WEBHOOKS_ALLOWED_NETWORKS):
        return False
    return not ip.is_global or ip.is_multicast


def guarded_create_connection(
    address: tuple[str, int],
    timeout=socket._GLOBAL_DEFAULT_TIMEOUT,
    source_address=None,
    socket_options=None,
) -> socket.socket:
    """Like ``urllib3.util.connection.create_connection``, but refuses (before connecting)
    every resolved address that ``is_refused_address``."""
    host, port = address
    host = host.strip("[]")
    last_error: OSError | None = None
    refused = []
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        if is_refused_address(sockaddr[0]):
            refused.append(sockaddr[0])
            continue
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as error:
            last_error = error
            sock.close()
    if last_error is not None:
        raise last_error
    raise BlockedDestination(
        f"{host} resolves to {', '.join(refused)}, a private or reserved address"
    )
