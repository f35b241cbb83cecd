"""Campaign pages: the list (sortable, keyset pages, each campaign's delivery figures
from the rollups), one campaign with its runs (polled while one runs), and the pause,
resume and stop actions."""

from datetime import timedelta

from django.contrib import messages
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from campaigns import sending
from campaigns.models import Campaign, CampaignStatus, DeliveryType, RunStatus
from campaigns.pages import queries
from campaigns.pages.filters import CampaignFilterSet
from campaigns.summaries import audience, badged, key_value_rows, when
from campaigns.wizard import steps
from config.counts import bounded_count
from config.keyset import paginate
from config.web import HtmxRequest, admin_required, is_partial
from deliveries.models import Delivery, DeliveryStatus
from webhooks.models import ActivityEntry

LIST = "campaigns/list.html"
DETAIL = "campaigns/detail.html"
PROGRESS = f"{DETAIL}#progress"
PER_PAGE = 50
RUNS_SHOWN = 50
SOON = timedelta(minutes=15)


@require_GET
@admin_required
@vary_on_headers("HX-Request")
def campaign_list(request: HtmxRequest) -> HttpResponse:
    campaigns = Campaign.objects.select_related("webhook").annotate(
        profiles_sent=Coalesce(Sum("runs__targets"), 0)
    )
    filters = CampaignFilterSet(request.GET, queryset=campaigns)
    context = {"filters": filters, "nav": "campaigns", "filtered": False}
    template = f"{LIST}#results" if is_partial(request) else LIST
    if not filters.is_valid():
        return render(request, template, context, status=422)
    sort, descending = filters.ordering
    page = paginate(
        filters.qs,
        key=queries.sort_key(sort, descending),
        time_field="created_at",
        descending=descending,
        after=request.GET.get("after") or None,
        before=request.GET.get("before") or None,
        per_page=PER_PAGE,
    )
    count, estimated = bounded_count(filters.qs)
    context |= {
        "page": page,
        "rows": [(badged(c), when(c), figures) for c, figures in queries.with_figures(page.rows)],
        "count": count,
        "estimated": estimated,
        "sort": sort,
        "descending": descending,
        "filtered": filters.active,
    }
    return render(request, template, context)


@require_GET
@admin_required
def campaign_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("webhook", "segment"), pk=pk)
    context = {
        "campaign": badged(campaign),
        "nav": "campaigns",
        "when": when(campaign),
        "audience": audience(campaign),
        "key_values": key_value_rows(campaign.key_values),
        "can_pause": sending.can("pause", campaign),
        "can_resume": sending.can("resume", campaign),
        "can_stop": sending.can("stop", campaign),
        "edit_step": steps.resume_step(campaign),
        "skipped_while_paused": sending.skipped_while_paused(campaign)
        if campaign.delivery_type == DeliveryType.LIVE
        else 0,
    } | progress_context(campaign)
    return render(request, DETAIL, context)


@require_GET
@admin_required
@vary_on_headers("HX-Request")
def campaign_progress(request: HtmxRequest, pk: int) -> HttpResponse:
    """The runs section alone; polled every 2 s while a run is sending. The answer that
    finds nothing sending any more has no trigger, and tells htmx to stop (286)."""
    campaign = get_object_or_404(Campaign, pk=pk)
    context = {"campaign": campaign} | progress_context(campaign)
    if context["polling"] or not is_partial(request):
        return render(request, PROGRESS, context)
    return HttpResponseStopPolling(render_to_string(PROGRESS, context, request))


@require_POST
@admin_required
def campaign_pause(request: HtmxRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    with transaction.atomic():
        was_sending = sending.can("pause", campaign)
        sending.pause(campaign)
        campaign.refresh_from_db(fields=["status"])
        done = was_sending and campaign.status == CampaignStatus.PAUSED
        if done:
            _record("paused", campaign, request)
    if done:
        messages.success(request, f"“{campaign.name}” paused: it sends nothing until resumed.")
    else:
        messages.error(
            request,
            f"“{campaign.name}” is {campaign.get_status_display().lower()}, so it can’t be paused.",
        )
    return redirect("campaigns:detail", campaign.pk)


@require_POST
@admin_required
def campaign_resume(request: HtmxRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    with transaction.atomic():
        was_paused = sending.can("resume", campaign)
        unfinished = sending.resume(campaign)
        sending.queue_runs(unfinished)
        if was_paused:
            _record("resumed", campaign, request)
    if was_paused:
        n = len(unfinished)
        carried = f" It carries on with {n} unfinished run{'s' if n != 1 else ''}." if n else ""
        messages.success(request, f"“{campaign.name}” resumed.{carried}")
    else:
        messages.error(
            request, f"“{campaign.name}” is {campaign.get_status_display().lower()}, not paused."
        )
    return redirect("campaigns:detail", campaign.pk)


@require_POST
@admin_required
def campaign_stop(request: HtmxRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    with transaction.atomic():
        stoppable = sending.can("stop", campaign)
        if stoppable:
            sending.stop(campaign)
            _record("stopped", campaign, request)
    if stoppable:
        messages.success(request, f"“{campaign.name}” stopped: it sends nothing more.")
    else:
        messages.error(
            request,
            f"“{campaign.name}” is {campaign.get_status_display().lower()}: nothing to stop.",
        )
    return redirect("campaigns:detail", campaign.pk)


def progress_context(campaign: Campaign) -> dict:
    """The runs section: the latest runs, those sending now, and the campaign's
    deliveries by outcome (one aggregate query)."""
    runs = campaign.runs.all()
    live = campaign.delivery_type == DeliveryType.LIVE
    triggers = {}
    if live:
        # One run per triggering event: most find the user gone from the audience by
        # the send time (the point of "inaction within time"). Count those, list the rest.
        triggers = campaign.runs.aggregate(
            events=Count("pk"), matched=Count("pk", filter=Q(members__gt=0))
        )
        runs = runs.filter(members__gt=0)
    runs = list(runs[: RUNS_SHOWN + 1])
    running = [run for run in runs if run.status == RunStatus.RUNNING]
    for run in runs:
        badged(run)
    for run in running:
        run.percent = min(100, round(100 * run.streamed / run.members)) if run.members else 0
    deliveries = Delivery.objects.filter(campaign=campaign).aggregate(
        delivered=Count("pk", filter=Q(status=DeliveryStatus.SUCCESS)),
        failed=Count("pk", filter=Q(status=DeliveryStatus.FAILED)),
        pending=Count("pk", filter=Q(status=DeliveryStatus.PENDING)),
        sending=Count("pk", filter=Q(status=DeliveryStatus.IN_PROGRESS)),
        not_triggered=Count("pk", filter=Q(status=DeliveryStatus.NOT_TRIGGERED)),
    )
    return {
        "runs": runs[:RUNS_SHOWN],
        "more_runs": len(runs) > RUNS_SHOWN,
        "sending": running,
        "deliveries": deliveries,
        "triggers": triggers,
        # A paused or stopped campaign's unfinished run does not move: no need to poll.
        # A live campaign that listens gets new runs at any time: poll, more slowly.
        "polling": (bool(running) and campaign.status in sending.SENDING)
        or (live and campaign.status == CampaignStatus.RUNNING)
        or _starting_soon(campaign),
        "poll_every": "2s" if running else "10s",
    }


def _starting_soon(campaign: Campaign) -> bool:
    """A scheduled run due within minutes: poll, so its progress shows when it starts."""
    upcoming = campaign.next_run_at
    return (
        campaign.status in sending.SENDING
        and upcoming is not None
        and upcoming <= timezone.now() + SOON
    )


def _record(verb: str, campaign: Campaign, request: HtmxRequest) -> None:
    ActivityEntry.record(f"campaign.{verb}", f"Campaign “{campaign.name}” {verb}", request.user)
