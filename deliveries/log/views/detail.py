"""One delivery: /admin/webhook-deliveries/<id>, and its Retry and Skip actions."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from config.web import HtmxRequest, admin_required, is_partial
from deliveries.engine import RetryRefused, skip, start_retry
from deliveries.log.presenting import delivery_detail_context
from deliveries.log.views.log import ROW
from deliveries.models import Delivery

DETAIL = "deliveries/log/detail.html"


@require_GET
@admin_required
@vary_on_headers("HX-Request")
def delivery_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(
        Delivery.objects.select_related("webhook", "event", "event_type", "campaign"), pk=pk
    )
    context = {**delivery_detail_context(delivery), "nav": "deliveries"}
    if is_partial(request) and request.GET.get("part") == "status":
        return render(request, f"{DETAIL}#live", context)
    return render(request, DETAIL, context)


@require_POST
@admin_required
def delivery_retry(request: HtmxRequest, pk: int) -> HttpResponse:
    """Send the delivery again, next in its endpoint's line. htmx gets the updated row
    (409 with the reason when refused); a plain form post goes back to the detail view."""
    delivery = get_object_or_404(Delivery.objects.select_related("webhook"), pk=pk)
    notice, status = None, 200
    try:
        start_retry(delivery, request.user, replay=request.POST.get("replay") == "1")
    except RetryRefused as refused:
        notice, status = str(refused), 409
    if not request.htmx:
        if notice:
            messages.error(request, notice)
        else:
            messages.success(
                request,
                "Retry queued: it is sent as soon as the endpoint has a free slot, and the "
                "result appears in the timeline.",
            )
        return redirect("deliveries:detail", pk=pk)
    row = get_object_or_404(Delivery.objects.for_log(), pk=pk)
    return render(request, ROW, {"delivery": row, "notice": notice}, status=status)


@require_POST
@admin_required
def delivery_skip(request: HtmxRequest, pk: int) -> HttpResponse:
    """Give up the head of an ordered line so the next in it is sent; back to its page."""
    delivery = get_object_or_404(Delivery.objects.select_related("webhook"), pk=pk)
    try:
        skip(delivery, request.user)
    except RetryRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, "Skipped: the next delivery in its line is sent now.")
    return redirect("deliveries:detail", pk=pk)
