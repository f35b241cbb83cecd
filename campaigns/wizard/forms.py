"""One form per step of the create-campaign page.

Each form reads and writes its own part of the Campaign. Times are typed in the
campaign's time zone and stored in UTC; pairs (query parameters, key_values, linked
content sources) are posted as parallel lists of inputs, blank rows ignored.
"""

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone

from campaigns import schedule, scheduling
from campaigns.content import linked, template
from campaigns.content.payload import PROFILE_FIELDS
from campaigns.models import (
    BodyMode,
    Campaign,
    CampaignStatus,
    DeliveryType,
    Segment,
)
from config.dates import OUT_OF_BOUNDS, in_bounds
from webhooks.models import Webhook

MAX_PAIRS = 50
MAX_BATCH = 1000
MAX_CAP = 100_000_000
MAX_LINKED = linked.MAX_SOURCES
# A name ``linked.<name>`` can be written with in Liquid.
LINKED_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _bound(field: forms.IntegerField, low: int | None, high: int | None) -> None:
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
        choices=[("", "—")] + [(f, f.capitalize()) for f in schedule.FREQUENCIES],
        label="Repeats",
    )
    at = forms.TimeField(
        required=False, label="At", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    weekday = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—")] + list(enumerate(schedule.WEEKDAYS)),
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
        _bound(self.fields["trigger_delay_minutes"], 0, 60 * 24 * 30)

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
                when = schedule.local_to_utc(local.replace(tzinfo=None, second=0), zone)
                try:
                    schedule.validate_send_at(when.astimezone(zone), self.now)
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
            upcoming = schedule.next_occurrence(scheduling.recurrence_of(probe), zone, self.now)
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
        _bound(self.fields["goal_window_days"], 1, 90)


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
        _bound(self.fields["control_percent"], 0, 90)
        _bound(self.fields["target_cap"], 1, MAX_CAP)
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


def _pairs(data, key_name: str, value_name: str) -> list[tuple[str, str]]:
    keys, values = data.getlist(key_name), data.getlist(value_name)
    return [
        (k.strip(), v.strip())
        for k, v in zip(keys, values + [""] * (len(keys) - len(values)), strict=False)
        if k.strip() or v.strip()
    ]


class WhatForm(forms.ModelForm):
    """Query pairs, content type, the body (profile variables or Liquid), key_values,
    batch size and linked content sources."""

    profile_fields = forms.MultipleChoiceField(
        choices=[(name, name) for name in PROFILE_FIELDS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Profile variables",
    )
    properties_scope = forms.ChoiceField(
        choices=[("all", "All properties"), ("chosen", "Only these")],
        widget=forms.RadioSelect,
        initial="all",
        required=False,
    )
    chosen_properties = forms.CharField(
        required=False,
        label="Properties",
        help_text="Comma-separated property names, as in the profile (case matters).",
    )

    class Meta:
        model = Campaign
        fields = ["content_type", "body_mode", "custom_body", "batch_size"]
        widgets = {
            "content_type": forms.RadioSelect,
            "body_mode": forms.RadioSelect,
            "custom_body": forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
        }
        labels = {"batch_size": "Profiles per payload", "custom_body": "Custom body (Liquid)"}
        help_texts = {"batch_size": f"1 to {MAX_BATCH}: each delivery carries this many profiles."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        campaign = self.instance
        _bound(self.fields["batch_size"], 1, MAX_BATCH)
        # A new campaign starts with every field of the seed's sample payload ticked.
        self.initial.setdefault("profile_fields", campaign.profile_fields or PROFILE_FIELDS)
        if campaign.profile_properties is not None:
            self.initial["properties_scope"] = "chosen"
            self.initial["chosen_properties"] = ", ".join(campaign.profile_properties)
        self.query_params = [tuple(p) for p in campaign.query_params or []]
        self.key_values = [(k, _text(v)) for k, v in (campaign.key_values or {}).items()]
        self.linked = [(s.get("name", ""), s.get("url", "")) for s in campaign.linked_content or []]
        if self.is_bound:
            self.query_params = _pairs(self.data, "query_key", "query_value")
            self.key_values = _pairs(self.data, "kv_key", "kv_value")
            self.linked = _pairs(self.data, "linked_name", "linked_url")
        self.pair_errors: dict[str, list[str]] = {}

    def clean(self):
        data = super().clean()
        self._check_pairs("query", self.query_params, "query parameter")
        self._check_pairs("key_values", self.key_values, "key")
        keys = [k for k, _ in self.key_values]
        if len(set(keys)) != len(keys):
            self.pair_errors.setdefault("key_values", []).append("Each key can appear once.")
        self._check_linked()
        if data.get("body_mode") == BodyMode.CUSTOM:
            body = data.get("custom_body") or ""
            if not body.strip():
                self.add_error("custom_body", "Write the body, or choose profile variables.")
            else:
                problems = template.check(body)
                if problems:
                    self.add_error(
                        "custom_body",
                        [f"Line {p.line}: {p.message}" if p.line else p.message for p in problems],
                    )
        elif not data.get("profile_fields"):
            self.add_error("profile_fields", "Tick at least one profile variable.")
        if data.get("properties_scope") == "chosen":
            chosen = [p.strip() for p in (data.get("chosen_properties") or "").split(",")]
            data["profile_properties"] = [p for p in chosen if p]
            if not data["profile_properties"]:
                self.add_error("chosen_properties", "Name at least one property, or send all.")
        else:
            data["profile_properties"] = None
        if self.pair_errors:
            self.add_error(None, "Fix the rows marked below.")
        return data

    def _check_pairs(self, group: str, pairs: list[tuple[str, str]], noun: str) -> None:
        if len(pairs) > MAX_PAIRS:
            self.pair_errors.setdefault(group, []).append(f"At most {MAX_PAIRS} rows.")
        if any(not k for k, _ in pairs):
            self.pair_errors.setdefault(group, []).append(f"Each {noun} needs a name.")
        _refuse_nul(self.pair_errors, group, pairs)

    def _check_linked(self) -> None:
        errors = self.pair_errors.setdefault("linked", [])
        if len(self.linked) > MAX_LINKED:
            errors.append(f"At most {MAX_LINKED} sources.")
        names = [name for name, _ in self.linked]
        if len(set(names)) != len(names):
            errors.append("Each source needs its own name.")
        for name, url in self.linked:
            if not LINKED_NAME.match(name):
                errors.append(
                    f"“{name}”: name a source with letters, digits or _, starting with a letter."
                )
            if not url.lower().startswith(("http://", "https://")):
                errors.append(f"“{name}”: the URL must start with http:// or https://.")
            problems = template.check(url)
            errors += [f"“{name}”: {p.message}" for p in problems]
        _refuse_nul(self.pair_errors, "linked", self.linked)
        if not errors:
            del self.pair_errors["linked"]

    def save(self, commit=True) -> Campaign:
        campaign = super().save(commit=False)
        data = self.cleaned_data
        campaign.profile_fields = [f for f in PROFILE_FIELDS if f in data["profile_fields"]]
        campaign.profile_properties = data["profile_properties"]
        campaign.query_params = [list(p) for p in self.query_params]
        campaign.key_values = dict(self.key_values)
        campaign.linked_content = [{"name": n, "url": u} for n, u in self.linked]
        if commit:
            campaign.save()
        return campaign


def _refuse_nul(errors: dict[str, list[str]], group: str, pairs: list[tuple[str, str]]) -> None:
    # PostgreSQL cannot store NUL in text or jsonb: a row error, not a 500 on save.
    for number, (key, value) in enumerate(pairs, start=1):
        if "\x00" in key or "\x00" in value:
            errors.setdefault(group, []).append(
                f"Row {number}: text cannot contain the NUL character (\\u0000)."
            )


def _text(value) -> str:
    return value if isinstance(value, str) else str(value)
