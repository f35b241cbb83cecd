"""Forms for the Settings page and the activity log's query string."""

from django import forms
from django.core.exceptions import ValidationError

from config import keyset
from webhooks.models import SystemSettings
from webhooks.retry_policy import validate_policy


class SystemSettingsForm(forms.ModelForm):
    class Meta:
        model = SystemSettings
        fields = [
            "default_timeout_seconds",
            "max_retries",
            "retry_strategy",
            "retry_window_seconds",
            "retention_days",
        ]
        help_texts = {
            "default_timeout_seconds": "How long a receiver has to answer, 1–60 s. "
            "A webhook can set its own.",
            "max_retries": "Tries after the first one fails: up to 20 with exponential backoff, "
            "100 with a fixed interval. 0 turns automatic retries off.",
            "retry_strategy": "Exponential: each wait twice the one before. Fixed: equal waits "
            "(48 retries over 48 hours is one an hour).",
            "retention_days": "Deliveries older than this are deleted, 1–3650 days.",
        }

    def clean(self):
        cleaned = super().clean()
        try:
            validate_policy(cleaned.get("max_retries"), cleaned.get("retry_strategy", ""))
        except ValidationError as error:
            self.add_error(None, error)
        return cleaned

    def changes(self) -> list[tuple[str, object, object]]:
        """The edited fields as ``(name, old, new)``, in form order; call after ``is_valid()``."""
        return [
            (name, self.initial[name], self.cleaned_data[name])
            for name in self.fields
            if self.initial[name] != self.cleaned_data[name]
        ]


def describe_changes(changes: list[tuple[str, object, object]]) -> str:
    """``Settings changed: max_retries 3 → 5, retention_days 30 → 14``."""
    parts = ", ".join(f"{name} {old} → {new}" for name, old, new in changes)
    return f"Settings changed: {parts}"


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="Who or what uses the key, for example “CRM sync”.",
        widget=forms.TextInput(attrs={"placeholder": "CRM sync", "autocomplete": "off"}),
    )


ACTION_GROUPS = [
    ("", "All activity"),
    ("webhook", "Webhooks"),
    ("event_type", "Event types"),
    ("settings", "Settings"),
    ("api_key", "API keys"),
    ("delivery", "Deliveries"),
    ("retry", "Retries"),
    ("job", "Background jobs"),
    ("login", "Logins"),
]


class CursorField(forms.CharField):
    """A keyset cursor of the activity log (``config.keyset``), checked up front so a
    broken link is a form error with a way back, not a bare 400."""

    default_error_messages = {
        "invalid": "This page link is not valid. Start again from the newest entries."
    }

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            keyset.decode(value)
        except keyset.InvalidCursor:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        return value


class ActivityFilterForm(forms.Form):
    """The activity log's query string: an action group and at most one keyset cursor."""

    action = forms.ChoiceField(
        choices=ACTION_GROUPS,
        required=False,
        label="Show",
        widget=forms.Select(attrs={"class": "input", "style": "width: 220px"}),
    )
    before = CursorField(required=False, max_length=200)
    after = CursorField(required=False, max_length=200)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("before") and cleaned.get("after"):
            raise forms.ValidationError("Use either “before” or “after” in a page link, not both.")
        return cleaned
