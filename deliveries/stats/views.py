"""The stats pages: the dashboard at /admin/ and each webhook's stats page.

Both render the same body from ``pages.stats_context``; an htmx request for either
renders only the trend (``#stats-trend``).
"""

from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from config.web import HtmxRequest, admin_required, is_partial
from deliveries.line_reads import waiting_lines
from deliveries.stats.forms import StatsWindowForm
from deliveries.stats.pages import stats_context, trend_context
from webhooks.models import DeliveryOrder, Health, Webhook

TREND = "deliveries/stats/partials/stats_trend.html"


def render_stats(
    request: HtmxRequest, template: str, form: StatsWindowForm, extra: dict
) -> HttpResponse:
    """The page, or its trend alone for htmx; invalid input answers 422 with the form."""
    partial = is_partial(request)
    if partial:
        template = TREND
    if not form.is_valid():
        context = {**extra, "form": form, "ranges": form.range_labels, "range": ""}
        return render(request, template, context, status=422)
    build = trend_context if partial else stats_context
    return render(request, template, {**extra, **build(form, extra.get("webhook"))})


@require_GET
@admin_required
@vary_on_headers("HX-Request")
def dashboard(request: HtmxRequest) -> HttpResponse:
    form = StatsWindowForm(request.GET)
    extra = {"nav": "dashboard", "form": form}
    if not is_partial(request):
        extra["webhook_counts"] = Webhook.objects.aggregate(
            total=Count("id"), active=Count("id", filter=Q(is_active=True))
        )
        extra["endpoint_health"] = {
            "total": extra["webhook_counts"]["total"],
            "troubled": list(Webhook.objects.exclude(health=Health.HEALTHY).order_by("name")),
        }
    return render_stats(request, "deliveries/stats/dashboard.html", form, extra)


@require_GET
@admin_required
@vary_on_headers("HX-Request")
def webhook_stats(request: HtmxRequest, pk: int) -> HttpResponse:
    webhook = get_object_or_404(Webhook, pk=pk)
    form = StatsWindowForm(request.GET)
    extra = {"nav": "webhooks", "webhook": webhook, "form": form}
    if webhook.delivery_order != DeliveryOrder.ANY and not is_partial(request):
        extra["lines"] = waiting_lines(webhook)
    return render_stats(request, "deliveries/stats/webhook.html", form, extra)
