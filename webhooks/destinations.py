"""Where a webhook may point: URL validation for the endpoint form.

The outbound guard that checks the address actually connected to lives beside it once the
sender exists (issue: delivery engine).
"""

from urllib.parse import urlsplit

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
