from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from config.web import HtmxRequest, admin_required
from deliveries.models import Delivery, DeliveryStatus
from webhooks.models import EventType, Webhook


@require_GET
@admin_required
def dashboard(request: HtmxRequest) -> HttpResponse:
    by_status = dict(Delivery.objects.values_list("status").annotate(n=Count("id")).order_by())
    context = {
        "nav": "dashboard",
        "webhook_count": Webhook.objects.count(),
        "active_webhook_count": Webhook.objects.filter(is_active=True).count(),
        "event_type_count": EventType.objects.count(),
        "statuses": [(status, by_status.get(status.value, 0)) for status in DeliveryStatus],
    }
    return render(request, "deliveries/dashboard.html", context)
