"""One form per step of the create-campaign page (the What step's is in ``what.py``).

Each form reads and writes its own part of the Campaign. Times are typed in the
campaign's time zone and stored in UTC; pairs (query parameters, key_values, linked
content sources) are posted as parallel lists of inputs, blank rows ignored.
"""

from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone

from campaigns import sending
from campaigns.models import (
    Campaign,
    CampaignStatus,
    DeliveryType,
    Segment,
)
from config.dates import OUT_OF_BOUNDS, in_bounds
from webhooks.models import Webhook

MAX_CAP = 100_000_000


def bound(field: forms.IntegerField, low: int | None, high: int | None) -> None:
    """Limit a model form's number field (its model field has no such limits)."""
    if low is not None:
        field.validators.append(MinValueValidator(low))
        field.widget.attrs["min"] = low
    if high is not None:
        field.validators.append(MaxValueValidator(high))
        field.widget.attrs["max"] = high


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class DeliveryForm(forms.ModelForm):
    """Name, delivery type and when: a local time, a recurrence, or a trigger event."""

    send_at_local = forms.DateTimeField(
        required=False,
        label="Send at",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="In the campaign's time zone.",
    )
    every = forms.ChoiceField(
        required=False,
        choices=[("", "—")] + [(f, f.capitalize()) for f in sending.FREQUENCIES],
        label="Repeats",
    )
    at = forms.TimeField(
        required=False, label="At", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    weekday = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—")] + list(enumerate(sending.WEEKDAYS)),
        label="On (weekly)",
    )
    day = forms.IntegerField(required=False, min_value=1, max_value=31, label="Day of the month")
    starts = forms.DateField(
        required=False, label="Starts", widget=forms.DateInput(attrs={"type": "date"})
    )
    ends = forms.DateField(
        required=False, label="Ends (optional)", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = Campaign
        fields = ["name", "delivery_type", "timezone", "trigger_event", "trigger_delay_minutes"]
        widgets = {"delivery_type": forms.RadioSelect}
        labels = {
            "timezone": "Time zone",
            "trigger_event": "When a user does",
            "trigger_delay_minutes": "Wait before sending (minutes)",
        }
        help_texts = {
            "trigger_delay_minutes": "0 sends at once. The user must still be in the "
            "audience then.",
        }

    def __init__(self, *args, now: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now or timezone.now()
        campaign = self.instance
        zone = _zone(campaign.timezone) or ZoneInfo("UTC")
        if campaign.send_at and "send_at_local" not in self.data:
            self.initial["send_at_local"] = campaign.send_at.astimezone(zone).replace(tzinfo=None)
        for name, value in (campaign.recurrence or {}).items():
            self.initial.setdefault(name, value)
        if campaign.pk and campaign.status != CampaignStatus.DRAFT:
            self.fields["delivery_type"].disabled = True
            self.fields["delivery_type"].help_text = "Fixed once published."
        bound(self.fields["trigger_delay_minutes"], 0, 60 * 24 * 30)

    def clean_timezone(self) -> str:
        name = self.cleaned_data["timezone"].strip()
        if _zone(name) is None:
            raise forms.ValidationError("Unknown time zone: pick one from the list.")
        return name

    def clean(self):
        data = super().clean()
        kind = data.get("delivery_type")
        zone = _zone(data.get("timezone") or "")
        if kind == DeliveryType.ONE_TIME and zone:
            local = data.get("send_at_local")
            if local is None:
                self.add_error("send_at_local", "Choose when to send it.")
            elif not in_bounds(local):
                # 9999-12-31 in a zone west of UTC would overflow into year 10000.
                self.add_error("send_at_local", OUT_OF_BOUNDS)
            else:
                when = sending.local_to_utc(local.replace(tzinfo=None, second=0), zone)
                try:
                    sending.validate_send_at(when.astimezone(zone), self.now)
                except ValueError as error:
                    self.add_error("send_at_local", str(error))
                data["send_at"] = when
        elif kind == DeliveryType.RECURRING and zone:
            self._clean_recurrence(data, zone)
        elif kind == DeliveryType.LIVE and not (data.get("trigger_event") or "").strip():
            self.add_error("trigger_event", "Choose the event that triggers a send.")
        return data

    def _clean_recurrence(self, data: dict, zone: ZoneInfo) -> None:
        bad = [name for name in ("starts", "ends") if not in_bounds(data.get(name))]
        for name in bad:
            self.add_error(name, OUT_OF_BOUNDS)
        if bad:
            return
        every = data.get("every") or ""
        at = data.get("at") or time(9, 0)
        recurrence = {
            "every": every,
            "at": f"{at:%H:%M}",
            "weekday": data.get("weekday") if every == "weekly" else None,
            "day": data.get("day") if every == "monthly" else None,
            "starts": data["starts"].isoformat() if data.get("starts") else None,
            "ends": data["ends"].isoformat() if data.get("ends") else None,
        }
        probe = Campaign(recurrence=recurrence)
        try:
            upcoming = sending.next_occurrence(sending.recurrence_of(probe), zone, self.now)
        except ValueError as error:
            field = {"every": "every", "weekly": "weekday", "monthly": "day"}.get(every, "every")
            self.add_error(field if every else "every", str(error))
            return
        if upcoming is None:
            self.add_error("ends", "The recurrence ends before its next occurrence.")
        data["recurrence"] = {k: v for k, v in recurrence.items() if v is not None}
        data["next_occurrence"] = upcoming

    def save(self, commit=True) -> Campaign:
        campaign = super().save(commit=False)
        data = self.cleaned_data
        kind = campaign.delivery_type
        campaign.send_at = data.get("send_at") if kind == DeliveryType.ONE_TIME else None
        campaign.recurrence = data.get("recurrence") if kind == DeliveryType.RECURRING else None
        if kind != DeliveryType.LIVE:
            campaign.trigger_event, campaign.trigger_delay_minutes = "", 0
        if campaign.status == CampaignStatus.SCHEDULED:
            # Published: beat reads next_run_at, so it follows the new time at once.
            campaign.next_run_at = campaign.send_at or data.get("next_occurrence")
        if commit:
            campaign.save()
        return campaign


class WebhookChoiceForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["webhook"]
        widgets = {"webhook": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["webhook"]
        field.queryset = Webhook.objects.order_by("name")
        field.required = True
        field.empty_label = None
        field.error_messages["required"] = "Choose the webhook to send to."

    def clean_webhook(self):
        webhook = self.cleaned_data["webhook"]
        if webhook and not webhook.is_active:
            raise forms.ValidationError(
                f"The webhook “{webhook.name}” is paused: make it active first, or choose another."
            )
        return webhook


class GoalForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["goal_event", "goal_window_days"]
        labels = {"goal_event": "Goal event", "goal_window_days": "Conversion window (days)"}
        help_texts = {
            "goal_event": "A member converts by doing this after the send (e.g. Charged). "
            "Leave empty for no goal.",
            "goal_window_days": "Conversions count this many days after each send.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        bound(self.fields["goal_window_days"], 1, 90)


class WhoForm(forms.ModelForm):
    """A saved segment or the campaign's own (ad-hoc) rule, a cap and a control group."""

    audience = forms.ChoiceField(
        choices=[("segment", "A saved segment"), ("adhoc", "An ad-hoc segment for this campaign")],
        widget=forms.RadioSelect,
        initial="segment",
    )

    class Meta:
        model = Campaign
        fields = ["segment", "target_cap", "control_percent"]
        labels = {
            "target_cap": "Target cap (at most this many users per run)",
            "control_percent": "Control group (%)",
        }
        help_texts = {
            "target_cap": "Empty: every member.",
            "control_percent": "Members held back and never sent, picked the same way on "
            "every run, to measure the goal's uplift. 0 for none.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = Segment.objects.order_by("name")
        self.fields["segment"].empty_label = "Choose a segment…"
        bound(self.fields["control_percent"], 0, 90)
        bound(self.fields["target_cap"], 1, MAX_CAP)
        if self.instance.rule and not self.instance.segment_id:
            self.initial["audience"] = "adhoc"

    def clean(self):
        data = super().clean()
        if data.get("audience") == "segment" and not data.get("segment"):
            self.add_error("segment", "Choose a segment, or build an ad-hoc one.")
        return data

    def save(self, commit=True) -> Campaign:
        campaign = super().save(commit=False)
        if self.cleaned_data["audience"] == "adhoc":
            campaign.segment = None  # the rule is edited on the ad-hoc builder page
        if commit:
            campaign.save()
        return campaign
