"""Bulk recovery pages: confirm, start, and watch the progress."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from config.web import HtmxRequest, admin_required, is_partial
from deliveries.log import bulk
from deliveries.log.tasks import run_bulk_retry
from deliveries.models import BulkRetry

CONFIRM = "deliveries/log/bulk_confirm.html"
PROGRESS = "deliveries/log/bulk_progress.html"


@require_http_methods(["GET", "POST"])
@admin_required
def bulk_retry(request: HtmxRequest) -> HttpResponse:
    """GET: how many failed deliveries the filters match, and a confirm button.
    POST: start the job and go to its progress page."""
    query = request.POST.get("query", "") if request.method == "POST" else request.GET.urlencode()
    query = bulk.clean_query(query)
    try:
        matching = bulk.failed_matching(query)
    except ValueError as error:
        context = {"error": str(error), "query": query, "nav": "deliveries"}
        return render(request, CONFIRM, context, status=422)
    if request.method == "POST":
        job = bulk.start(query, request.user)
        run_bulk_retry.delay_on_commit(job.pk)
        return redirect("deliveries:bulk_progress", pk=job.pk)
    context = {"count": matching.count(), "query": query, "nav": "deliveries"}
    return render(request, CONFIRM, context)


@require_GET
@admin_required
@vary_on_headers("HX-Request")
def bulk_progress(request: HtmxRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(BulkRetry.objects.select_related("created_by"), pk=pk)
    context = {"job": bulk.with_results(job), "nav": "deliveries"}
    template = f"{PROGRESS}#progress" if is_partial(request) else PROGRESS
    return render(request, template, context)
