"""The delivery log: /admin/webhook-deliveries."""

import json

from django.db import connection
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from config.web import HtmxRequest, admin_required, is_partial
from deliveries.filtersets import DeliveryFilterSet
from deliveries.keyset import paginate
from deliveries.models import Delivery

PER_PAGE = 50
# Up to this many matching rows are counted exactly; above it the log shows the
# planner's estimate ("about 17,000"), never a COUNT(*) over millions of rows.
COUNT_LIMIT = 1_000

LIST_FIELDS = [
    "id",
    "status",
    "source",
    "created_at",
    "last_attempt_at",
    "last_response_code",
    "last_failure_reason",
    "attempt_count",
    "webhook__id",
    "webhook__name",
    "webhook__url",
    "webhook__is_active",
    "event_type__id",
    "event_type__name",
]


def log_queryset():
    return Delivery.objects.select_related("webhook", "event_type").only(*LIST_FIELDS)


def bounded_count(queryset) -> tuple[int, bool]:
    """(count, estimated): exact up to ``COUNT_LIMIT``; beyond it the database's estimate
    of the row count (at least ``COUNT_LIMIT``), or ``COUNT_LIMIT`` where there is none."""
    count = queryset.order_by()[: COUNT_LIMIT + 1].count()
    if count <= COUNT_LIMIT:
        return count, False
    return max(estimate_count(queryset), COUNT_LIMIT), True


def estimate_count(queryset) -> int:
    """The planner's row estimate for ``queryset`` on PostgreSQL (0 elsewhere)."""
    if connection.vendor != "postgresql":
        return 0
    sql, params = queryset.order_by().values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


@require_GET
@admin_required
def delivery_log(request: HtmxRequest) -> HttpResponse:
    filterset = DeliveryFilterSet(request.GET, queryset=log_queryset())
    context = {"filterset": filterset, "nav": "deliveries", "live": request.GET.get("live") == "1"}
    status = 200
    if filterset.is_valid():
        sort, descending = filterset.ordering
        page = paginate(
            filterset.qs,
            sort,
            descending,
            after=request.GET.get("after") or None,
            before=request.GET.get("before") or None,
            per_page=PER_PAGE,
        )
        count, estimated = bounded_count(filterset.qs)
        context.update(
            page=page, count=count, estimated=estimated, sort=sort, descending=descending
        )
    else:
        status = 422
    template = "deliveries/log.html#results" if is_partial(request) else "deliveries/log.html"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@admin_required
def delivery_row(request: HtmxRequest, pk: int) -> HttpResponse:
    """One row of the log, polled while a retry is in flight."""
    delivery = get_object_or_404(log_queryset(), pk=pk)
    return render(request, "deliveries/_row.html", {"delivery": delivery})
