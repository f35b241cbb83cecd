import re
from itertools import groupby

from django import forms
from django.core.exceptions import ValidationError

from webhooks.destinations import validate_webhook_url
from webhooks.headers import (
    is_credential,
    validate_basic_auth,
    validate_header_name,
    validate_header_value,
)
from webhooks.models import EventType, RetryStrategy, SystemSettings, Webhook
from webhooks.retry_policy import validate_policy


class WebhookForm(forms.ModelForm):
    # Declared here so an over-long URL gets our message, not the generic max-length one.
    url = forms.CharField(
        label="URL",
        validators=[validate_webhook_url],
        widget=forms.TextInput(attrs={"placeholder": "https://example.com/webhooks"}),
    )
    basic_auth_password = forms.CharField(
        label="Basic auth password",
        required=False,
        max_length=Webhook._meta.get_field("basic_auth_password").max_length,
        strip=False,
        validators=[validate_basic_auth],
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave blank to keep the current password.",
    )
    clear_basic_auth_password = forms.BooleanField(
        label="Remove the stored password", required=False
    )

    class Meta:
        model = Webhook
        fields = [
            "name",
            "url",
            "description",
            "is_active",
            "event_types",
            "timeout_seconds",
            "max_retries",
            "retry_strategy",
            "retry_window_seconds",
            "max_in_flight",
            "rate_limit",
            "delivery_order",
            "ordering_key_path",
            "when_head_given_up",
            "basic_auth_username",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "event_types": forms.CheckboxSelectMultiple,
        }
        labels = {
            "timeout_seconds": "Timeout (seconds)",
            "event_types": "Subscribed events",
            "max_retries": "Automatic retries",
            "retry_window_seconds": "Retry window (seconds)",
            "max_in_flight": "Concurrent requests",
            "rate_limit": "Rate limit (requests per second)",
            "delivery_order": "Delivery order",
            "ordering_key_path": "Ordering key field",
            "when_head_given_up": "When the first in line is given up",
        }
        help_texts = {
            "max_retries": "Blank uses the default from Settings.",
            "retry_window_seconds": "Blank uses the default from Settings.",
            "max_in_flight": "At most this many requests in flight at once, across all "
            "workers. Blank uses the default (DELIVERIES_ENDPOINT_CONCURRENCY).",
            "rate_limit": "Blank means no limit.",
            "delivery_order": "In order: a delivery is sent once the one before it (to this "
            "endpoint, or with the same key) has succeeded or been given up. Different keys "
            "go out in parallel.",
            "ordering_key_path": "Where the key is in the event's payload, e.g. "
            "data.order_id. Blank uses the ordering_key the event was sent with.",
            "when_head_given_up": "Holding keeps the rest of its line waiting until an admin "
            "retries or skips it.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Group the checkboxes by category; validation still uses the queryset.
        self.fields["retry_strategy"].choices = [
            ("", "Default from Settings"),
            *RetryStrategy.choices,
        ]
        # Left out of a post (an older form, a script): kept as they are.
        self.fields["delivery_order"].required = False
        self.fields["when_head_given_up"].required = False
        if self.instance.pk is None or not self.instance.basic_auth_password:
            self.fields["basic_auth_password"].help_text = ""  # nothing stored to keep
        event_types = self.fields["event_types"]
        event_types.choices = [
            (category, [(event_type.pk, event_type.name) for event_type in group])
            for category, group in groupby(
                EventType.objects.order_by("category", "name"), key=lambda e: e.category
            )
        ]

    def clean(self):
        cleaned = super().clean()
        strategy = cleaned.get("retry_strategy") or SystemSettings.load().retry_strategy
        try:
            validate_policy(cleaned.get("max_retries"), strategy)
        except ValidationError as error:
            self.add_error(None, error)
        return cleaned

    def clean_delivery_order(self):
        return self.cleaned_data["delivery_order"] or self.instance.delivery_order

    def clean_when_head_given_up(self):
        return self.cleaned_data["when_head_given_up"] or self.instance.when_head_given_up

    def clean_ordering_key_path(self):
        path = self.cleaned_data["ordering_key_path"].strip()
        if path and not KEY_PATH.fullmatch(path):
            raise ValidationError(
                "Write the field's names separated by dots, e.g. data.order_id (no spaces "
                "or empty names)."
            )
        return path

    def clean_basic_auth_username(self):
        username = self.cleaned_data["basic_auth_username"]
        validate_basic_auth(username)
        if ":" in username:
            raise ValidationError("A basic-auth username cannot contain a colon (RFC 7617).")
        return username

    def save(self, commit=True):
        webhook = super().save(commit=False)
        password = self.cleaned_data.get("basic_auth_password")
        if self.cleaned_data.get("clear_basic_auth_password"):
            webhook.basic_auth_password = ""
        elif password:
            webhook.basic_auth_password = password
        if commit:
            webhook.save()
            self.save_m2m()
        return webhook


# Field names separated by dots: no empty name, space or control character.
KEY_PATH = re.compile(r"[^.\s\x00-\x1f\x7f]+(?:\.[^.\s\x00-\x1f\x7f]+)*")


class HeaderForm(forms.Form):
    name = forms.CharField(max_length=100, required=False)
    value = forms.CharField(max_length=1000, required=False, strip=False)
    secret = forms.BooleanField(required=False, help_text="Never shown again, redacted in logs")

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if name:
            validate_header_name(name)
        return name

    def clean_value(self):
        value = self.cleaned_data["value"]
        validate_header_value(value)
        return value


class BaseHeaderFormSet(forms.BaseFormSet):
    """Custom headers as rows of name, value and a secret flag.

    A secret value is never rendered back; leaving it blank keeps the stored value.
    """

    def __init__(self, *args, stored: list[dict] | None = None, **kwargs):
        self.stored = {h["name"].lower(): h for h in stored or []}
        super().__init__(*args, **kwargs)

    def clean(self):
        if any(self.errors):
            return
        seen = set()
        for form in self.forms:
            name = form.cleaned_data.get("name")
            if not name:
                if form.cleaned_data.get("value"):
                    form.add_error("name", "Give this header a name.")
                continue
            if name.lower() in seen:
                raise ValidationError(f"The header “{name}” is listed twice.")
            seen.add(name.lower())
            stored = self.stored.get(name.lower())
            kept = stored and (stored.get("secret") or is_credential(name))
            if not form.cleaned_data["value"] and not kept:
                form.add_error("value", "Give this header a value.")

    def headers(self) -> list[dict]:
        """The cleaned headers in the shape stored on ``Webhook.custom_headers``."""
        headers = []
        for form in self.forms:
            name = form.cleaned_data.get("name")
            if not name:
                continue
            value = form.cleaned_data["value"]
            secret = form.cleaned_data["secret"] or is_credential(name)
            stored = self.stored.get(name.lower())
            if not value and stored and (stored.get("secret") or is_credential(name)):
                value, secret = stored["value"], True
            headers.append({"name": name, "value": value, "secret": secret})
        return headers


HeaderFormSet = forms.formset_factory(
    HeaderForm, formset=BaseHeaderFormSet, extra=2, max_num=20, validate_max=True
)


def header_formset(data=None, webhook: Webhook | None = None) -> BaseHeaderFormSet:
    stored = webhook.custom_headers if webhook else []
    initial = []
    for header in stored:
        secret = header.get("secret") or is_credential(header["name"])
        initial.append(
            {"name": header["name"], "value": "" if secret else header["value"], "secret": secret}
        )
    return HeaderFormSet(data, initial=initial, stored=stored, prefix="headers")


class EventTypeForm(forms.ModelForm):
    class Meta:
        model = EventType
        fields = ["name", "category", "description"]
        widgets = {
            "name": forms.TextInput(attrs={"placeholder": "license.assigned"}),
            "category": forms.TextInput(attrs={"placeholder": "License", "list": "categories"}),
        }
