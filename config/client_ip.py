"""The client's address as the login lockout (django-axes) sees it.

Behind ``TRUSTED_PROXY_COUNT`` proxies (load balancers, TLS terminators), ``REMOTE_ADDR``
is the nearest proxy's address and every proxy appends the address it received the
request from to ``X-Forwarded-For``. The client is therefore the entry that the outermost
trusted proxy wrote: the ``TRUSTED_PROXY_COUNT``-th from the right. Anything to its left
came from the client and is ignored, so prepending fake addresses changes nothing. With
no trusted proxy (the default) the header is ignored and ``REMOTE_ADDR`` is the client.

``AXES_CLIENT_IP_CALLABLE`` in ``config/settings.py`` names :func:`client_ip_address`.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip_address(request: HttpRequest) -> str | None:
    remote_addr = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXY_COUNT
    if not proxies:
        return remote_addr
    forwarded = [
        entry.strip()
        for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if entry.strip()
    ]
    if not forwarded:
        # Not through the proxies (a health check from inside, a misrouted request).
        return remote_addr
    # Fewer entries than proxies: the request skipped some; the leftmost is all we have.
    candidate = forwarded[-proxies] if len(forwarded) >= proxies else forwarded[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        # A proxy we trust wrote something that is not an address: keep the one we know.
        return remote_addr
