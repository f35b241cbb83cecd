"""Forms for the Settings page and the activity log's query string."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django import forms

from webhooks.models import SystemSettings
from webhooks.retry_policy import JITTER, schedule

# Each automatic retry waits its share of the window, give or take this fraction.


class SystemSettingsForm(forms.ModelForm):
    class Meta:
        model = SystemSettings
        fields = [
            "default_timeout_seconds",
            "max_retries",
            "retry_window_seconds",
            "retention_days",
        ]
        help_texts = {
            "default_timeout_seconds": "How long a receiver has to answer, 1–60 s. "
            "A webhook can set its own.",
            "max_retries": "Tries after the first one fails, 0–20. 0 turns automatic retries off.",
            "retention_days": "Deliveries older than this are deleted, 1–3650 days.",
        }

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


def format_duration(seconds: float) -> str:
    """A short human reading of a duration: ``4.3 s``, ``17 min 4 s``, ``2 h 5 min``, ``3 d``."""
    if seconds < 0.1:
        return "<0.1 s"
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    whole = round(seconds)
    for unit, size, smaller, smaller_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "min", 60),
        ("min", 60, "s", 1),
    ):
        if whole >= size:
            big, rest = divmod(whole, size)
            small = rest // smaller_size
            return f"{big} {unit} {small} {smaller}" if small else f"{big} {unit}"
    return f"{whole} s"


@dataclass(frozen=True)
class ScheduledRetry:
    number: int
    wait: float
    earliest: float
    latest: float
    elapsed: float

    @property
    def wait_text(self) -> str:
        return format_duration(self.wait)

    @property
    def jitter_text(self) -> str:
        return f"{format_duration(self.earliest)} – {format_duration(self.latest)}"

    @property
    def elapsed_text(self) -> str:
        return format_duration(self.elapsed)


def retry_schedule(max_retries: int, window_seconds: int) -> list[ScheduledRetry]:
    """The automatic retries the settings produce, for the preview on the Settings page.
    ``elapsed`` is the time from the first failure, without jitter."""
    retries, elapsed = [], 0.0
    for number, wait in enumerate(schedule(max_retries, window_seconds), start=1):
        elapsed += wait
        retries.append(
            ScheduledRetry(
                number=number,
                wait=wait,
                earliest=wait * (1 - JITTER),
                latest=wait,
                elapsed=elapsed,
            )
        )
    return retries


ACTION_GROUPS = [
    ("", "All activity"),
    ("webhook", "Webhooks"),
    ("event_type", "Event types"),
    ("settings", "Settings"),
    ("api_key", "API keys"),
    ("delivery", "Deliveries"),
    ("retry", "Retries"),
    ("job", "Background jobs"),
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The largest BigAutoField; a bigger id in a cursor is garbage, not a database error.
MAX_ID = 2**63 - 1

Cursor = tuple[datetime, int]


def encode_cursor(created_at: datetime, pk: int) -> str:
    """A URL-safe keyset cursor: microseconds since the epoch, a dash and the id."""
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}-{pk}"


def decode_cursor(value: str) -> Cursor:
    """The ``(created_at, id)`` a cursor points at; raises ``ValueError`` on anything else."""
    micros, sep, pk = value.partition("-")
    if not (sep and micros.isascii() and micros.isdigit() and pk.isascii() and pk.isdigit()):
        raise ValueError(value)
    if int(pk) > MAX_ID:
        raise ValueError(value)
    # Integer arithmetic keeps the microseconds exact, where a float timestamp would not.
    return _EPOCH + timedelta(microseconds=int(micros)), int(pk)


class CursorField(forms.CharField):
    default_error_messages = {
        "invalid": "This page link is not valid. Start again from the newest entries."
    }

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            return decode_cursor(value)
        except (ValueError, OverflowError):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class ActivityFilterForm(forms.Form):
    """The activity log's query string: an action group and at most one keyset cursor."""

    action = forms.ChoiceField(
        choices=ACTION_GROUPS,
        required=False,
        label="Show",
        widget=forms.Select(attrs={"class": "input", "style": "width: 220px"}),
    )
    before = CursorField(required=False, max_length=40)
    after = CursorField(required=False, max_length=40)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("before") and cleaned.get("after"):
            raise forms.ValidationError("Use either “before” or “after” in a page link, not both.")
        return cleaned
