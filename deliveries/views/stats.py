"""Stats pages: the window form, the trend chart (server-side SVG), the per-webhook page.

The dashboard (``deliveries/views/dashboard.py``) and the per-webhook page share
``stats_context``; an htmx request for either renders only the trend (``_trend.html``).
"""

import math
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django import forms
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import formats, timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from config.web import HtmxRequest, admin_required, is_partial
from deliveries import stats
from deliveries.models import DeliveryStatus
from webhooks.models import Webhook

RANGES = {"24h": 24, "7d": 7 * 24, "30d": 30 * 24}
RANGE_LABELS = {"24h": "24 h", "7d": "7 d", "30d": "30 d", "custom": "Custom"}
DEFAULT_RANGE = "7d"
MAX_CUSTOM_DAYS = 400
# Hourly bars beyond a week would be too thin to point at.
MAX_HOURLY_HOURS = 7 * 24


class StatsWindowForm(forms.Form):
    """The stats pages' query string: ``range`` (24h, 7d, 30d) or ``since``/``until``
    (ISO dates or datetimes; a date-only ``until`` includes that day), and the trend's
    ``granularity``. ``cleaned_data`` gains ``window`` (a stats.Window)."""

    range = forms.ChoiceField(label="Window", choices=list(RANGE_LABELS.items()), required=False)
    since = forms.DateTimeField(label="From", required=False)
    until = forms.DateTimeField(label="To", required=False)
    granularity = forms.ChoiceField(
        label="Trend",
        choices=[(name, name.title()) for name in stats.GRANULARITIES],
        required=False,
    )

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        since, until = data.get("since"), data.get("until")
        chosen = data.get("range") or ("custom" if since or until else DEFAULT_RANGE)
        if chosen == "custom":
            if since is None:
                self.add_error("since", "Choose when the window starts.")
                return data
            if until is None:
                until = timezone.now()
            elif len(self.data.get("until", "").strip()) == len("2025-01-31"):
                until += timedelta(days=1)  # a date means up to the end of that day
            if since >= until:
                self.add_error("until", "The end must be after the start.")
                return data
            window = stats.Window.covering(since, until)
            if window.hours > MAX_CUSTOM_DAYS * 24:
                self.add_error("until", f"Choose at most {MAX_CUSTOM_DAYS} days.")
                return data
        else:
            window = stats.Window.last(RANGES[chosen], timezone.now())
        granularity = data.get("granularity") or ("hourly" if window.hours <= 48 else "daily")
        if granularity == "hourly" and window.hours > MAX_HOURLY_HOURS:
            granularity = "daily"
        data.update(range=chosen, window=window, granularity=granularity)
        return data

    def window_params(self) -> dict[str, str]:
        """The delivery log's parameters for the same window."""
        data = self.cleaned_data
        if data["range"] in RANGES:
            return {"range": data["range"]}
        window = data["window"]
        return {"since": window.start.isoformat(), "until": window.end.isoformat()}


def share(part: int, whole: int) -> dict[str, str]:
    """A part of a whole for a meter: its CSS width and its label."""
    fraction = part / whole if whole else 0
    return {"width": f"{fraction * 100:.1f}", "label": f"{fraction:.1%}" if whole else "–"}


def log_url(*params: tuple[str, str]) -> str:
    """A link to the delivery log filtered by ``params``."""
    return f"{reverse('deliveries:log')}?{urlencode(params)}"


# --- The trend chart ------------------------------------------------------------------

WIDTH, HEIGHT = 960, 280
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 14, 32
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_X_LABELS = 12

LABEL_FORMATS = {
    # (axis label, hover title)
    "hourly": ("H:i", "D, M j, H:i"),
    "daily": ("M j", "D, M j, Y"),
    "weekly": ("M j", r"\W\e\e\k \o\f M j, Y"),
    "monthly": ("M Y", "F Y"),
}


def nice_step(top: int, ticks: int = 4) -> int:
    """A round step (1, 2, 5 times a power of ten, or 25, 250, ...) that gives about
    ``ticks`` gridlines up to ``top``; at least 1."""
    raw = max(top / ticks, 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * power
        if step >= raw and step == int(step):
            return int(step)
    return int(10 * power)


def compact_number(value: int) -> str:
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if value >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return str(value)


def _n(value: float) -> str:
    # SVG coordinates as plain decimals: the template would localise a float.
    return f"{value:.1f}"


def _pct(value: float, whole: float) -> str:
    return f"{value / whole * 100:.3f}"


@dataclass
class Column:
    # SVG bars, in viewBox units.
    x: str
    width: str
    delivered_y: str
    delivered_h: str
    failed_y: str
    failed_h: str
    # The HTML hover area over the column, in percent of the chart box.
    left: str
    slot: str
    flip: bool
    title: str
    delivered: int
    failed: int
    failed_share: str

    # Formatted here: intcomma on every column of a long trend costs more than the chart.
    @property
    def delivered_label(self) -> str:
        return f"{self.delivered:,}"

    @property
    def failed_label(self) -> str:
        return f"{self.failed:,}"


def trend_chart(points: list[stats.TrendPoint], granularity: str) -> dict:
    """Geometry of the trend: stacked bars (delivered under failed) with gridlines and
    axis labels in a WIDTH x HEIGHT SVG viewBox, and one hover area per column placed in
    percent over it, which shows the column's figures."""
    highest = max((point.total for point in points), default=0)
    step = nice_step(highest)
    top = max(step * math.ceil(highest / step), step)
    scale = PLOT_H / top
    baseline = TOP + PLOT_H
    gridlines = [
        {"y": _n(baseline - value * scale), "label": compact_number(value)}
        for value in range(0, top + 1, step)
    ]
    slot = PLOT_W / max(len(points), 1)
    width = min(44.0, max(slot * 0.62, 1.5))
    axis_format, title_format = LABEL_FORMATS[granularity]
    every = math.ceil(len(points) / MAX_X_LABELS) or 1
    columns, labels = [], []
    zone = timezone.get_current_timezone()
    for index, point in enumerate(points):
        start = point.start.astimezone(zone)
        slot_x = LEFT + index * slot
        center = slot_x + slot / 2
        delivered_h = point.delivered * scale
        failed_h = point.failed * scale
        columns.append(
            Column(
                x=_n(center - width / 2),
                width=_n(width),
                delivered_y=_n(baseline - delivered_h),
                delivered_h=_n(delivered_h),
                failed_y=_n(baseline - delivered_h - failed_h),
                failed_h=_n(failed_h),
                left=_pct(slot_x, WIDTH),
                slot=_pct(slot, WIDTH),
                flip=center > WIDTH * 0.7,
                title=formats.date_format(start, title_format),
                delivered=point.delivered,
                failed=point.failed,
                failed_share=share(point.failed, point.total)["label"],
            )
        )
        if index % every == 0:
            labels.append({"x": _n(center), "text": formats.date_format(start, axis_format)})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "y_label_x": LEFT - 10,
        "label_y": HEIGHT - 10,
        "plot_top": _pct(TOP, HEIGHT),
        "plot_height": _pct(PLOT_H, HEIGHT),
        "gridlines": gridlines,
        "columns": columns,
        "labels": labels,
        "delivered": sum(point.delivered for point in points),
        "failed": sum(point.failed for point in points),
        "empty": highest == 0,
    }


# --- Page context ---------------------------------------------------------------------


def trend_context(form: StatsWindowForm, webhook: Webhook | None = None) -> dict:
    data = form.cleaned_data
    window, granularity = data["window"], data["granularity"]
    points = stats.trend(
        window,
        granularity,
        timezone.get_current_timezone(),
        webhook_id=webhook.pk if webhook else None,
    )
    choices = [
        name for name in stats.GRANULARITIES if name != "hourly" or window.hours <= MAX_HOURLY_HOURS
    ]
    return {
        "chart": trend_chart(points, granularity),
        "granularity": granularity,
        "granularities": choices,
        "points": points,
    }


def stats_context(form: StatsWindowForm, webhook: Webhook | None = None) -> dict:
    """Everything a stats page shows for the form's window: cards, trend, errors,
    delivery statuses and (on the dashboard) the webhooks."""
    window = form.cleaned_data["window"]
    webhook_id = webhook.pk if webhook else None
    scope = (("webhook", str(webhook_id)),) if webhook else ()
    window_params = tuple(form.window_params().items())
    result = stats.breakdown(window, webhook_id=webhook_id)
    figures = result.figures

    errors = []
    for group in result.errors:
        kinds = [
            {
                "label": kind.label,
                "count": count,
                "share": share(count, figures.failed_count),
                "url": log_url(*scope, *kind.params, *window_params),
            }
            for kind, count in group.kinds
        ]
        errors.append(
            {
                "label": group.label,
                "count": group.count,
                "share": share(group.count, figures.failed_count),
                "kinds": kinds,
            }
        )

    counts = stats.delivery_statuses(window, webhook_id=webhook_id)
    deliveries = sum(counts.values())
    statuses = [
        {
            "value": status.value,
            "label": status.label,
            "count": counts[status.value],
            "share": share(counts[status.value], deliveries),
            "url": log_url(*scope, ("status", status.value), *window_params),
        }
        for status in DeliveryStatus
    ]

    webhooks = []
    if webhook is None and result.by_webhook:
        names = Webhook.objects.in_bulk(list(result.by_webhook)).values()
        # The same window on each webhook's page (its own trend granularity).
        query = {k: v for k, v in form.data.items() if k != "granularity" and v}
        stats_query = f"?{urlencode(query)}" if query else ""
        for hook in sorted(names, key=lambda h: (-result.by_webhook[h.pk].total, h.name)):
            webhooks.append(
                {
                    "webhook": hook,
                    "figures": result.by_webhook[hook.pk],
                    "stats_url": reverse("stats:webhook", args=[hook.pk]) + stats_query,
                    "log_url": log_url(("webhook", str(hook.pk)), *window_params),
                    "failed_url": log_url(
                        ("webhook", str(hook.pk)), ("status", "failed"), *window_params
                    ),
                }
            )

    zone = timezone.get_current_timezone()
    return {
        "form": form,
        "window": window,
        "since_value": window.start.astimezone(zone).date().isoformat(),
        "until_value": (window.end - timedelta(microseconds=1)).astimezone(zone).date().isoformat(),
        "range": form.cleaned_data["range"],
        "ranges": RANGE_LABELS,
        "figures": figures,
        "errors": errors,
        "statuses": statuses,
        "deliveries": deliveries,
        "webhooks": webhooks,
        "all_url": log_url(*scope, *window_params),
        "failed_url": log_url(*scope, ("status", "failed"), *window_params),
        **trend_context(form, webhook),
    }


def render_stats(
    request: HtmxRequest, template: str, form: StatsWindowForm, extra: dict
) -> HttpResponse:
    """The page, or its trend alone for htmx; invalid input answers 422 with the form."""
    webhook = extra.get("webhook")
    if not form.is_valid():
        context = {**extra, "form": form, "ranges": RANGE_LABELS, "range": ""}
        if is_partial(request):
            return render(request, "deliveries/_trend.html", context, status=422)
        return render(request, template, context, status=422)
    if is_partial(request):
        return render(request, "deliveries/_trend.html", {**extra, **trend_context(form, webhook)})
    return render(request, template, {**extra, **stats_context(form, webhook)})


@require_GET
@admin_required
@vary_on_headers("HX-Request")
def webhook_stats(request: HtmxRequest, pk: int) -> HttpResponse:
    webhook = get_object_or_404(Webhook, pk=pk)
    form = StatsWindowForm(request.GET)
    extra = {"nav": "webhooks", "webhook": webhook, "form": form}
    return render_stats(request, "deliveries/stats_webhook.html", form, extra)
