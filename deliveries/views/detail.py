"""One delivery: /admin/webhook-deliveries/<id>, and its Retry action."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from config.web import HtmxRequest, admin_required
from deliveries.manual import RetryRefused, start_retry
from deliveries.models import Delivery
from deliveries.presenting import present_attempt, pretty_json
from deliveries.views.log import log_queryset


@require_GET
@admin_required
def delivery_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(
        Delivery.objects.select_related("webhook", "event", "event_type", "campaign"), pk=pk
    )
    attempts = [
        present_attempt(a)
        for a in delivery.attempts.select_related("triggered_by").order_by("-number", "-id")
    ]
    payload = delivery.event.payload if delivery.event_id else delivery.payload
    context = {
        "delivery": delivery,
        "attempts": attempts,
        "latest": attempts[0] if attempts else None,
        "payload": pretty_json(payload),
        "nav": "deliveries",
    }
    if request.htmx and request.GET.get("part") == "status":
        return render(request, "deliveries/detail.html#live", context)
    return render(request, "deliveries/detail.html", context)


@require_POST
@admin_required
def delivery_retry(request: HtmxRequest, pk: int) -> HttpResponse:
    """Send the delivery again now. htmx gets the updated row (409 with the reason when
    refused); a plain form post goes back to the detail view."""
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
            messages.success(request, "Retry started; the result appears in the timeline.")
        return redirect("deliveries:detail", pk=pk)
    row = get_object_or_404(log_queryset(), pk=pk)
    return render(
        request, "deliveries/_row.html", {"delivery": row, "notice": notice}, status=status
    )
