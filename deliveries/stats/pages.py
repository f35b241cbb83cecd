"""What the stats pages show for a window: cards, trend, errors, delivery statuses and
(on the dashboard) the webhooks, each figure with the delivery log link that lists it."""

from datetime import timedelta
from functools import cache
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from deliveries.models import DeliveryStatus
from deliveries.stats import queries
from deliveries.stats.charts import share, trend_chart
from deliveries.stats.figures import Breakdown
from deliveries.stats.forms import MAX_HOURLY_HOURS, StatsWindowForm
from deliveries.stats.windows import GRANULARITIES
from webhooks.models import Webhook


def log_url(*params: tuple[str, str]) -> str:
    """A link to the delivery log (one row per delivery) filtered by ``params``."""
    return f"{_path('deliveries:log')}?{urlencode(params)}"


def attempts_url(*params: tuple[str, str]) -> str:
    """A link to the attempts log, which counts what the attempt figures count."""
    return f"{_path('deliveries:attempts')}?{urlencode(params)}"


@cache
def _path(name: str, *args) -> str:
    """``reverse``, once per URL: the dashboard links each of its figures, three per
    webhook, and ``reverse`` was a tenth of its time."""
    return reverse(name, args=args)


FAILED = ("outcome", "failed")


def trend_context(
    form: StatsWindowForm, webhook: Webhook | None = None, campaign_id: int | None = None
) -> dict:
    """The trend of the form's window (of all webhooks, one, or one campaign): the chart
    and the granularities the window offers."""
    data = form.cleaned_data
    window, granularity = data["window"], data["granularity"]
    points = queries.trend(
        window,
        granularity,
        timezone.get_current_timezone(),
        webhook_id=webhook.pk if webhook else None,
        campaign_id=campaign_id,
    )
    choices = [
        name for name in GRANULARITIES if name != "hourly" or window.hours <= MAX_HOURLY_HOURS
    ]
    return {
        "chart": trend_chart(points, granularity),
        "granularity": granularity,
        "granularities": choices,
        "points": points,
    }


def stats_context(form: StatsWindowForm, webhook: Webhook | None = None) -> dict:
    """Everything a stats page shows for the form's window: cards ("Webhooks streamed"
    counts deliveries, "Attempts" the HTTP tries), trend, errors, delivery statuses and
    (on the dashboard) the webhooks."""
    window = form.cleaned_data["window"]
    webhook_id = webhook.pk if webhook else None
    # Every log link keeps the page's webhook and window.
    scope = (("webhook", str(webhook_id)),) if webhook else ()
    scope += tuple(form.window_params().items())
    result = queries.breakdown(window, webhook_id=webhook_id)
    counts = queries.delivery_statuses(window, webhook_id=webhook_id)
    return {
        **window_context(form),
        "figures": result.figures,
        "errors": error_rows(result, scope),
        "statuses": status_rows(counts, scope),
        # "Webhooks streamed": the deliveries (payloads) created in the window, each
        # counted once however many attempts it took (seed 000 counts the webhooks an
        # endpoint was sent, and seed 002 calls one payload a webhook).
        "deliveries": sum(counts.values()),
        "streamed_url": log_url(*scope),
        "webhooks": [] if webhook else _webhooks(result, form, scope),
        "all_url": attempts_url(*scope),
        "failed_url": attempts_url(*scope, FAILED),
        **trend_context(form, webhook),
    }


def window_context(form: StatsWindowForm) -> dict:
    """What the window switch (``_window.html``) shows for a valid form."""
    window = form.cleaned_data["window"]
    zone = timezone.get_current_timezone()
    return {
        "form": form,
        "window": window,
        "since_value": window.start.astimezone(zone).date().isoformat(),
        "until_value": (window.end - timedelta(microseconds=1)).astimezone(zone).date().isoformat(),
        "range": form.cleaned_data["range"],
        "ranges": form.range_labels,
    }


def error_rows(result: Breakdown, scope: tuple) -> list[dict]:
    """The errors panel: each group of failures and its kinds, with their share, each
    kind linking to the attempts log narrowed by ``scope`` and the kind."""
    failed = result.figures.failed_count
    return [
        {
            "label": group.label,
            "count": group.count,
            "share": share(group.count, failed),
            "kinds": [
                {
                    "label": kind.label,
                    "count": count,
                    "share": share(count, failed),
                    "url": attempts_url(*scope, FAILED, *attempt_params(kind)),
                }
                for kind, count in group.kinds
            ],
        }
        for group in result.errors
    ]


def attempt_params(kind) -> tuple:
    """An error kind's narrowing in the attempts log: its reason and code class."""
    return tuple(
        (name, "none" if name == "code" and not value else value)
        for name, value in kind.params
        if name in ("reason", "code")
    )


def status_rows(counts: dict[str, int], scope: tuple) -> list[dict]:
    """The statuses panel: deliveries in each status, linking to the delivery log
    narrowed by ``scope`` and the status."""
    deliveries = sum(counts.values())
    return [
        {
            "value": status.value,
            "label": status.label,
            "count": counts[status.value],
            "share": share(counts[status.value], deliveries),
            "url": log_url(*scope, ("status", status.value)),
        }
        for status in DeliveryStatus
    ]


def _webhooks(result: Breakdown, form: StatsWindowForm, scope: tuple) -> list[dict]:
    """The dashboard's webhooks, busiest first, each linking to its page and its log."""
    hooks = Webhook.objects.in_bulk(list(result.by_webhook)).values()
    # The same window on each webhook's page (its own trend granularity).
    query = {k: v for k, v in form.data.items() if k != "granularity" and v}
    stats_query = f"?{urlencode(query)}" if query else ""
    # attempts_url(("webhook", pk), *scope[, FAILED]) for every webhook, the shared part
    # encoded once: urlencode was a tenth of the page's Python time.
    attempts = _path("deliveries:attempts")
    shared = "".join(f"&{urlencode((param,))}" for param in scope)
    failed = f"{shared}&{urlencode((FAILED,))}"
    rows = []
    for hook in sorted(hooks, key=lambda h: (-result.by_webhook[h.pk].total, h.name)):
        log_url = f"{attempts}?{urlencode((('webhook', str(hook.pk)),))}"
        rows.append(
            {
                "webhook": hook,
                "figures": result.by_webhook[hook.pk],
                "stats_url": _path("stats:webhook", hook.pk) + stats_query,
                "log_url": log_url + shared,
                "failed_url": log_url + failed,
            }
        )
    return rows
