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
        "X-Webhook-Test",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    )
)

# Header values never shown or logged in full, whether or not they were marked secret:
# these names, and names that contain one of the words after them.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
CREDENTIAL_WORDS = ("auth", "token", "secret", "passw", "apikey", "api-key", "session", "cookie")


def is_credential(name: str) -> bool:
    """Whether a header of this name carries a credential (``Authorization``,
    ``X-Api-Key``, ``X-Auth-Token``...): its value is treated as secret even if the admin
    did not mark it so. Hiding one value too many is the safe side."""
    lowered = name.lower().replace("_", "-")
    return (
        lowered in CREDENTIAL_HEADERS
        or lowered.endswith("-key")
        or any(word in lowered for word in CREDENTIAL_WORDS)
    )


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


def unsendable(value: str) -> str | None:
    """The first character HTTP/1.1 cannot carry in a header (a control character, or one
    outside Latin-1, which is how header bytes are written), or None."""
    for char in value:
        if ord(char) < 32 and char != "\t" or ord(char) == 127 or ord(char) > 255:
            return char
    return None


def validate_header_value(value: str) -> None:
    char = unsendable(value)
    if char is None:
        return
    if ord(char) > 255:
        raise ValidationError(
            f"Header values can only use Latin-1 characters (letters, digits, accents such "
            f"as é); “{char}” cannot be sent in an HTTP header.",
            code="invalid_header_value",
        )
    raise ValidationError(
        "Header values cannot contain line breaks or control characters.",
        code="invalid_header_value",
    )


def validate_basic_auth(value: str) -> None:
    """A basic-auth username or password must fit the Authorization header: Latin-1, no
    control characters (and, for the username, no colon: RFC 7617)."""
    char = unsendable(value)
    if char is not None:
        shown = f"“{char}”" if ord(char) > 255 else "a control character"
        raise ValidationError(
            f"Basic-auth credentials can only use Latin-1 characters (letters, digits, "
            f"accents such as é); {shown} cannot be sent.",
            code="invalid_basic_auth",
        )
