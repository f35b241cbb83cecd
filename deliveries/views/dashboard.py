"""The dashboard at /admin/: delivery stats of the whole workspace over a time window."""

from django.db.models import Count, Q
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from config.web import HtmxRequest, admin_required, is_partial
from deliveries.views.stats import StatsWindowForm, render_stats
from webhooks.models import Webhook


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
    return render_stats(request, "deliveries/dashboard.html", form, extra)
