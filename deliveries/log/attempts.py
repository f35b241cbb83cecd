"""The attempts log: /admin/webhook-deliveries/attempts, one row per HTTP try.

The stats pages count attempts (retries included); their figures link here, with the same
window and narrowing, so the page a figure opens shows that figure: the count comes from
the same rollups (``deliveries.stats.queries.attempt_count``), the rows from the attempts
table.
"""

from django import forms
from django.db.models import Q, QuerySet

from deliveries.log.filtersets import campaigns, local_input
from deliveries.models import AttemptRollup, DeliveryAttempt, FailureReason
from deliveries.stats import queries
from deliveries.stats.forms import StatsWindowForm
from deliveries.stats.windows import CUSTOM, HOUR, Window
from webhooks.models import Webhook

OUTCOMES = [("", "Any outcome"), ("success", "Delivered (2xx)"), ("failed", "Failed")]
CODE_CLASSES = [("", "Any code"), *[(f"{n}xx", f"{n}xx") for n in range(1, 6)], ("none", "None")]
ROW_FIELDS = [
    "id",
    "delivery_id",
    "number",
    "attempted_at",
    "trigger",
    "success",
    "response_code",
    "failure_reason",
    "duration_ms",
    "webhook__id",
    "webhook__name",
    "webhook__url",
]

# Beyond this many separate stretches of hours, one range from the first to the last.
MAX_RANGES = 48


def campaign_hours(campaign_id: int, window: Window) -> Q:
    """The stretches of hours of the window in which the campaign's attempts fall (from
    its rollups, one query), as ranges of ``attempted_at``.

    The attempts table has no campaign column: newest first, PostgreSQL walks the window's
    attempts and looks up each one's delivery, through every other webhook's attempts
    since the campaign last sent (0.8 s at 2M attempts). Within the campaign's hours it
    starts from the campaign's deliveries instead (40 ms)."""
    hours = (
        AttemptRollup.objects.filter(window.q(), campaign_id=campaign_id)
        .values_list("bucket", flat=True)
        .distinct()
        .order_by("bucket")
    )
    ranges: list[list] = []
    for hour in hours:
        if ranges and ranges[-1][1] == hour:
            ranges[-1][1] = hour + HOUR
        else:
            ranges.append([hour, hour + HOUR])
    if not ranges:
        return Q(pk__in=[])
    if len(ranges) > MAX_RANGES:
        ranges = [[ranges[0][0], ranges[-1][1]]]
    found = Q()
    for start, end in ranges:
        found |= Q(attempted_at__gte=start, attempted_at__lt=end)
    return found


class AttemptFilterForm(StatsWindowForm):
    """The stats window (``range`` or ``since``/``until``, whole hours) and what the stats
    pages narrow attempts by: webhook, campaign, outcome, failure reason and code class."""

    webhook = forms.ModelChoiceField(
        Webhook.objects.order_by("name").only("id", "name"),
        required=False,
        empty_label="Any webhook",
    )
    campaign = forms.ModelChoiceField(campaigns(), required=False, empty_label="Any campaign")
    outcome = forms.ChoiceField(choices=OUTCOMES, required=False)
    reason = forms.ChoiceField(
        label="Failure reason", choices=[("", "Any reason"), *FailureReason.choices], required=False
    )
    code = forms.ChoiceField(label="Response code", choices=CODE_CLASSES, required=False)

    def clean(self) -> dict:
        data = super().clean()
        if "window" in data:
            self._show_counted_window(data)
        return data

    def _show_counted_window(self, data: dict) -> None:
        """Make the inputs say what the page counts, so that Apply keeps the count: a
        stats link's ``since``/``until`` (ISO, with an offset a datetime-local input
        cannot show) become the window's whole hours in the current time zone and the
        Window select says Custom; a named window (or none: the default) clears them."""
        shown = self.data.copy()
        shown["range"] = data["range"]
        if data["range"] == CUSTOM:
            window = data["window"]
            for name, moment in (("since", window.start), ("until", window.end)):
                shown[name] = local_input(moment)
        else:
            shown["since"] = shown["until"] = ""
        self.data = shown

    def narrowing(self) -> dict:
        """The narrowing as ``queries.attempt_count`` takes it."""
        data = self.cleaned_data
        webhook = data.get("webhook")
        campaign = data.get("campaign")
        return {
            "webhook_id": webhook.pk if webhook else None,
            "campaign_id": campaign.pk if campaign else None,
            "success": {"success": True, "failed": False}.get(data.get("outcome") or ""),
            "failure_reason": data.get("reason") or None,
            "code_class": {"": None, "none": ""}.get(data.get("code") or "", data.get("code")),
        }

    def count(self) -> int:
        return queries.attempt_count(self.cleaned_data["window"], **self.narrowing())

    def attempts(self) -> QuerySet:
        """The matching attempts, the columns a row shows."""
        narrowing = self.narrowing()
        rows = DeliveryAttempt.objects.filter(self.cleaned_data["window"].q("attempted_at"))
        if narrowing["webhook_id"] is not None:
            rows = rows.filter(webhook_id=narrowing["webhook_id"])
        if narrowing["campaign_id"] is not None:
            rows = rows.filter(
                campaign_hours(narrowing["campaign_id"], self.cleaned_data["window"]),
                delivery__campaign_id=narrowing["campaign_id"],
            )
        if narrowing["success"] is not None:
            rows = rows.filter(success=narrowing["success"])
        if narrowing["failure_reason"] is not None:
            rows = rows.filter(failure_reason=narrowing["failure_reason"])
        code_class = narrowing["code_class"]
        if code_class == "":  # no response (as the rollups count it)
            rows = rows.exclude(response_code__range=(100, 999))
        elif code_class is not None:
            low = int(code_class[0]) * 100
            rows = rows.filter(response_code__range=(low, low + 99))
        return rows.select_related("webhook").only(*ROW_FIELDS)
