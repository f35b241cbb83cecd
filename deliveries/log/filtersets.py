"""The delivery log's query contract: every filter, search and sort it offers.

Search and category resolve against the small webhook and event-type tables first, so the
big delivery table is only ever filtered by indexed id columns.
"""

from datetime import timedelta

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.sorting import SortedFilterSet, sort_choices, sort_filter
from deliveries.models import Delivery, DeliveryStatus, FailureReason, Source
from deliveries.stats.windows import CUSTOM, RANGES, Window
from webhooks.models import EventType, Webhook

# What a datetime-local input reads and sends (in the current time zone, no offset).
LOCAL_INPUT = "%Y-%m-%dT%H:%M"
RANGE_CHOICES = [(name, r.label) for name, r in RANGES.items()] + [(CUSTOM, "Custom range")]
CODE_CLASSES = {"2xx": (200, 299), "3xx": (300, 399), "4xx": (400, 499), "5xx": (500, 599)}
SORT_CHOICES = sort_choices((("time", "Time"), ("status", "Status"), ("code", "Response code")))


def local_input(moment) -> str:
    """``moment`` as a datetime-local input shows it, in the current time zone."""
    local = timezone.localtime(moment)
    return local.strftime(LOCAL_INPUT + (":%S" if local.second else ""))


def campaigns():
    """Campaigns by name, through the delivery's lazy foreign key: deliveries may not
    import campaigns (a campaign's pages link to the log and the attempts)."""
    return (
        Delivery._meta.get_field("campaign")
        .related_model.objects.order_by("name", "id")
        .only("id", "name")
    )


def category_choices():
    return [
        (c, c)
        for c in EventType.objects.order_by("category")
        .values_list("category", flat=True)
        .distinct()
    ]


class CodeField(forms.CharField):
    def clean(self, value):
        value = super().clean(value).strip().lower()
        if not value or value in CODE_CLASSES or value == "none":
            return value
        if value.isdigit() and 100 <= int(value) <= 599:
            return value
        raise ValidationError("Use a status code such as 500, a class (2xx, 4xx, 5xx) or “none”.")


class CodeFilter(django_filters.Filter):
    field_class = CodeField

    def filter(self, qs, value):
        if not value:
            return qs
        # The same expression as the delivery_log_code index: no response counts as 0.
        qs = qs.alias(code=Coalesce("last_response_code", Value(0)))
        if value == "none":
            return qs.filter(code=0)
        if value in CODE_CLASSES:
            low, high = CODE_CLASSES[value]
            return qs.filter(code__gte=low, code__lte=high)
        return qs.filter(code=int(value))


class DeliveryFilterSet(SortedFilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices, empty_label="Any status")
    category = django_filters.ChoiceFilter(
        choices=category_choices, method="filter_category", empty_label="Any category"
    )
    event_type = django_filters.ModelChoiceFilter(
        queryset=EventType.objects.order_by("category", "name").only("id", "name"),
        empty_label="Any event",
    )
    webhook = django_filters.ModelChoiceFilter(
        queryset=Webhook.objects.order_by("name").only("id", "name"), empty_label="Any webhook"
    )
    code = CodeFilter(label="Response code")
    reason = django_filters.ChoiceFilter(
        field_name="last_failure_reason",
        choices=FailureReason.choices,
        empty_label="Any reason",
        label="Failure reason",
    )
    source = django_filters.ChoiceFilter(choices=Source.choices, empty_label="Any source")
    campaign = django_filters.ModelChoiceFilter(queryset=campaigns(), empty_label="Any campaign")
    range = django_filters.ChoiceFilter(
        choices=RANGE_CHOICES, method="filter_range", empty_label="Any time", label="Time"
    )
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    sort = sort_filter(SORT_CHOICES)
    default_sort = "-time"  # newest first

    class Meta:
        model = Delivery
        fields = []

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if valid:
            self._show_counted_window()
        return valid

    def _show_counted_window(self) -> None:
        """A stats link's ``since``/``until`` are ISO times with an offset, which a
        datetime-local input cannot show: write them in the current time zone and say
        Custom range, so the form shows the window the log counts and a later change of
        filter keeps it."""
        data = self.form.cleaned_data
        if not (data.get("since") or data.get("until")):
            return
        shown = self.form.data.copy()
        if not data.get("range"):
            shown["range"] = CUSTOM
        for name in ("since", "until"):
            if data.get(name):
                shown[name] = local_input(data[name])
        self.form.data = shown

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        webhook_ids = list(
            Webhook.objects.filter(Q(name__icontains=value) | Q(url__icontains=value)).values_list(
                "id", flat=True
            )
        )
        event_type_ids = list(
            EventType.objects.filter(name__icontains=value).values_list("id", flat=True)
        )
        return queryset.filter(Q(webhook_id__in=webhook_ids) | Q(event_type_id__in=event_type_ids))

    def filter_category(self, queryset, name, value):
        ids = list(EventType.objects.filter(category=value).values_list("id", flat=True))
        return queryset.filter(event_type_id__in=ids)

    def filter_range(self, queryset, name, value):
        if value in RANGES:
            hours, now = RANGES[value].hours, timezone.now()
            if hours < 24:  # the last hour: the last 60 minutes
                return queryset.filter(created_at__gte=now - timedelta(hours=hours))
            # Whole hours from the next hour back, as the stats pages count, so a figure
            # and the log it links to agree.
            return queryset.filter(Window.last(hours, now).q("created_at"))
        return queryset  # "custom": since/until apply
