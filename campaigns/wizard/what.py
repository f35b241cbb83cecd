"""The What step's form: the body (profile variables or a custom Liquid body), its
content type, query parameters, key_values, linked content sources and batch size.

Pairs are posted as parallel lists of inputs, blank rows ignored.
"""

import re

from django import forms

from campaigns.content import linked, template
from campaigns.content.payload import PROFILE_FIELDS
from campaigns.models import BodyMode, Campaign
from campaigns.wizard.forms import bound

MAX_PAIRS = 50
MAX_BATCH = 1000
MAX_LINKED = linked.MAX_SOURCES
# A name ``linked.<name>`` can be written with in Liquid.
LINKED_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


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
        bound(self.fields["batch_size"], 1, MAX_BATCH)
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
