"""The delivery log: /admin/webhook-deliveries, and one row of it."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from config.web import HtmxRequest, admin_required, is_partial
from deliveries.log.filtersets import DeliveryFilterSet
from deliveries.log.queries import log_page
from deliveries.models import Delivery

LOG = "deliveries/log/log.html"
ROW = "deliveries/log/partials/delivery_row.html"


@require_GET
@admin_required
@vary_on_headers("HX-Request")
def delivery_log(request: HtmxRequest) -> HttpResponse:
    filterset = DeliveryFilterSet(request.GET, queryset=Delivery.objects.for_log())
    context = {"filterset": filterset, "nav": "deliveries", "live": request.GET.get("live") == "1"}
    template = f"{LOG}#results" if is_partial(request) else LOG
    if not filterset.is_valid():
        return render(request, template, context, status=422)
    result = log_page(
        filterset, after=request.GET.get("after") or None, before=request.GET.get("before") or None
    )
    context.update(
        page=result.page,
        count=result.count,
        estimated=result.estimated,
        sort=result.sort,
        descending=result.descending,
    )
    return render(request, template, context)


@require_GET
@admin_required
def delivery_row(request: HtmxRequest, pk: int) -> HttpResponse:
    """One row of the log, polled while a retry is in flight."""
    delivery = get_object_or_404(Delivery.objects.for_log(), pk=pk)
    return render(request, ROW, {"delivery": delivery})
