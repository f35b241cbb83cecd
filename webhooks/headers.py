"""Custom request headers configured on a webhook."""

import re

from django.core.exceptions import ValidationError

# RFC 9110 token characters.
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")

# Headers the sender sets itself; a webhook may not override them.
RESERVED_HEADERS = frozenset(
    name.lower()
    for name in (
        "Content-Type",
        "Content-Length",
        "Host",
        "Transfer-Encoding",
        "Connection",
        "X-Webhook-Signature",
        "X-Webhook-Event",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    )
)

# Header values never shown or logged in full.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def validate_header_name(name: str) -> None:
    if not HEADER_NAME.match(name):
        raise ValidationError(
            f"“{name}” is not a valid header name: "
            "use letters, digits and - _ . ! # $ % & ' * + ^ ` | ~ only.",
            code="invalid_header_name",
        )
    if name.lower() in RESERVED_HEADERS:
        raise ValidationError(
            f"“{name}” is set by the sender and cannot be overridden.",
            code="reserved_header",
        )


def validate_header_value(value: str) -> None:
    if any(ord(char) < 32 and char != "\t" or ord(char) == 127 for char in value):
        raise ValidationError(
            "Header values cannot contain line breaks or control characters.",
            code="invalid_header_value",
        )
