import pytest
from django.core.exceptions import ValidationError

from webhooks.destinations import validate_webhook_url


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hooks",
        "http://example.com:8080/a?b=c",
        "https://sub.example.co.uk/path/with-dashes_and.dots",
        "http://127.0.0.1:8765/orders",
        "https://bücher.example/hook",
    ],
)
def test_it_accepts_http_and_https_urls(url):
    validate_webhook_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("example.com/hooks", "no scheme"),
        ("ftp://example.com/hooks", "not ftp"),
        ("javascript:alert(1)", "not javascript"),
        ("https://exa mple.com/hooks", "whitespace"),
        ("https://example.com/ho oks", "whitespace"),
        (" https://example.com", "whitespace"),
        ("https:///hooks", "no host"),
        ("https://", "no host"),
        ("https://example.com/" + "a" * 3000, "the limit is 2048"),
        ("https://user:pw@example.com/", "credentials"),
        ("https://example.com:99999/", "port"),
        ("", "empty"),
    ],
)
def test_it_rejects_bad_urls_with_a_reason(url, reason):
    with pytest.raises(ValidationError) as error:
        validate_webhook_url(url)
    message = error.value.messages[0]
    assert message.startswith("Invalid Webhook URL: ")
    assert reason in message
