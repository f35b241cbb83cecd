import pytest

from tests.factories import make_event_type, make_webhook
from webhooks.forms import WebhookForm, header_formset


def webhook_data(**overrides):
    data = {"name": "Orders", "url": "https://example.com/hooks", "timeout_seconds": "10"}
    data.update(overrides)
    return data


def headers_data(*rows, stored=0):
    data = {"headers-TOTAL_FORMS": str(len(rows)), "headers-INITIAL_FORMS": str(stored)}
    for i, (name, value, secret) in enumerate(rows):
        data[f"headers-{i}-name"] = name
        data[f"headers-{i}-value"] = value
        if secret:
            data[f"headers-{i}-secret"] = "on"
    return data


@pytest.mark.parametrize(
    "url",
    [
        "example.com/hooks",
        "ftp://example.com/hooks",
        "https://exa mple.com/hooks",
        "https:///hooks",
        "https://example.com/" + "a" * 3000,
        "javascript:alert(1)",
    ],
)
def test_a_bad_url_gets_invalid_webhook_url_and_a_reason(db, url):
    form = WebhookForm(webhook_data(url=url))
    assert not form.is_valid()
    [message] = form.errors["url"]
    assert message.startswith("Invalid Webhook URL: ")
    assert len(message) > len("Invalid Webhook URL: ")


def test_a_good_form_saves_subscriptions(db):
    event_type = make_event_type(name="license.assigned")
    form = WebhookForm(webhook_data(event_types=[event_type.pk], is_active="on"))
    assert form.is_valid(), form.errors
    webhook = form.save()
    assert list(webhook.event_types.all()) == [event_type]
    assert webhook.secret.startswith("whsec_")


def test_timeout_is_bounded(db):
    assert not WebhookForm(webhook_data(timeout_seconds="0")).is_valid()
    assert not WebhookForm(webhook_data(timeout_seconds="61")).is_valid()


def test_the_fair_share_fields_are_optional_and_bounded(db):
    webhook = WebhookForm(webhook_data(max_in_flight="4", rate_limit="20")).save()
    assert (webhook.max_in_flight, webhook.rate_limit) == (4, 20)
    assert WebhookForm(webhook_data()).save().rate_limit is None
    form = WebhookForm(webhook_data(max_in_flight="0", rate_limit="0"))
    assert not form.is_valid()
    assert set(form.errors) == {"max_in_flight", "rate_limit"}
    assert not WebhookForm(webhook_data(max_in_flight="101")).is_valid()


def test_blank_password_keeps_the_stored_one(db):
    webhook = make_webhook(basic_auth_username="u", basic_auth_password="s3cret")
    form = WebhookForm(webhook_data(basic_auth_username="u"), instance=webhook)
    assert form.is_valid(), form.errors
    assert form.save().basic_auth_password == "s3cret"


def test_the_stored_password_can_be_removed(db):
    webhook = make_webhook(basic_auth_username="u", basic_auth_password="s3cret")
    form = WebhookForm(webhook_data(clear_basic_auth_password="on"), instance=webhook)
    assert form.is_valid(), form.errors
    assert form.save().basic_auth_password == ""


def test_valid_custom_headers_are_kept(db):
    formset = header_formset(headers_data(("X-Tenant", "acme", False), ("X-Api-Key", "k", True)))
    assert formset.is_valid(), formset.errors
    assert formset.headers() == [
        {"name": "X-Tenant", "value": "acme", "secret": False},
        {"name": "X-Api-Key", "value": "k", "secret": True},
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Bad Header", "not a valid header name"),
        ("X-Ümlaut", "not a valid header name"),
        ("X:Colon", "not a valid header name"),
        ("Content-Type", "cannot be overridden"),
        ("host", "cannot be overridden"),
        ("X-Webhook-Signature", "cannot be overridden"),
        ("webhook-signature", "cannot be overridden"),
        ("Webhook-Id", "cannot be overridden"),
    ],
)
def test_bad_or_reserved_header_names_are_refused(db, name, message):
    formset = header_formset(headers_data((name, "v", False)))
    assert not formset.is_valid()
    assert message in str(formset.errors)


def test_header_values_cannot_smuggle_line_breaks(db):
    formset = header_formset(headers_data(("X-Ok", "a\r\nX-Evil: 1", False)))
    assert not formset.is_valid()
    assert "line breaks" in str(formset.errors)


@pytest.mark.parametrize("value", ["ok ✓", "Bearer 令牌", "emoji 🚀"])
def test_header_values_that_http_cannot_carry_are_refused(db, value):
    formset = header_formset(headers_data(("X-Note", value, False)))
    assert not formset.is_valid()
    assert "Latin-1" in str(formset.errors)


def test_latin_1_header_values_are_kept(db):
    formset = header_formset(headers_data(("X-Name", "Zoë Müller", False)))
    assert formset.is_valid(), formset.errors
    assert formset.headers() == [{"name": "X-Name", "value": "Zoë Müller", "secret": False}]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("basic_auth_username", "Łukasz", "Latin-1"),
        ("basic_auth_username", "a:b", "colon"),
        ("basic_auth_password", "pässwörd✓", "Latin-1"),
        ("basic_auth_username", "line\nbreak", "control character"),
    ],
)
def test_basic_auth_credentials_that_cannot_be_sent_are_refused(db, field, value, message):
    form = WebhookForm(webhook_data(**{field: value}))
    assert not form.is_valid()
    assert message in str(form.errors[field])


def test_duplicate_header_names_are_refused(db):
    formset = header_formset(headers_data(("X-A", "1", False), ("x-a", "2", False)))
    assert not formset.is_valid()
    assert "listed twice" in str(formset.non_form_errors())


def test_a_blank_secret_value_keeps_the_stored_one(db):
    webhook = make_webhook(custom_headers=[{"name": "X-Key", "value": "hidden", "secret": True}])
    formset = header_formset(headers_data(("X-Key", "", True), stored=1), webhook)
    assert formset.is_valid(), formset.errors
    assert formset.headers() == [{"name": "X-Key", "value": "hidden", "secret": True}]


def test_secret_header_values_are_not_rendered_back(db):
    webhook = make_webhook(
        custom_headers=[{"name": "X-Key", "value": "s3cr3t-value", "secret": True}]
    )
    assert "s3cr3t-value" not in str(header_formset(None, webhook))


def test_a_password_longer_than_the_column_is_a_form_error(db):
    form = WebhookForm(webhook_data(basic_auth_username="u", basic_auth_password="p" * 151))
    assert not form.is_valid()
    assert "at most 150 characters" in form.errors["basic_auth_password"][0]


@pytest.mark.parametrize(
    ("name", "credential"),
    [
        ("Authorization", True),
        ("X-Api-Key", True),
        ("X-Auth-Token", True),
        ("api_key", True),
        ("X-Client-Secret", True),
        ("Cookie", True),
        ("X-Tenant", False),
        ("Accept-Language", False),
    ],
)
def test_credential_like_header_names(name, credential):
    from webhooks.headers import is_credential

    assert is_credential(name) is credential


def test_a_credential_header_not_marked_secret_is_kept_secret(admin_client):
    webhook = make_webhook(
        custom_headers=[{"name": "Authorization", "value": "Bearer abc123", "secret": False}]
    )
    page = admin_client.get(webhook.get_absolute_url()).content.decode()
    assert "abc123" not in page
    formset = header_formset(headers_data(("X-Api-Key", "k-42", False)))
    assert formset.is_valid(), formset.errors
    assert formset.headers() == [{"name": "X-Api-Key", "value": "k-42", "secret": True}]
    # Left blank on the form, the stored value is kept.
    formset = header_formset(headers_data(("Authorization", "", False), stored=1), webhook)
    assert formset.is_valid(), formset.errors
    assert formset.headers()[0]["value"] == "Bearer abc123"


def test_the_webhook_form_hides_its_post_from_error_reports(admin_client):
    response = admin_client.post(
        "/admin/webhooks/new/", {"name": "x", "basic_auth_password": "hunter2"}
    )
    assert response.wsgi_request.sensitive_post_parameters == "__ALL__"


def test_a_webhook_may_retry_hourly_for_48_hours(db):
    form = WebhookForm(
        webhook_data(max_retries="48", retry_strategy="fixed", retry_window_seconds="172800")
    )
    assert form.is_valid(), form.errors
    assert form.save().retry_strategy == "fixed"
    # With the default strategy (exponential backoff), 48 retries are refused.
    form = WebhookForm(webhook_data(max_retries="48"))
    assert not form.is_valid()
    assert "fixed interval" in form.errors["max_retries"][0]
