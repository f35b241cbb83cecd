"""Campaign pages: the list, one campaign with its runs (polled while one runs), and the
pause, resume and stop actions."""

import json
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import django_filters
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from campaigns import scheduling
from campaigns.models import Campaign, CampaignStatus, DeliveryType, RunStatus
from campaigns.segments import rules
from campaigns.segments.views import describe
from campaigns.tasks import run_occurrence
from config.web import HtmxRequest, admin_required, is_partial
from deliveries.models import Delivery, DeliveryStatus
from webhooks.models import ActivityEntry

LIST = "campaigns/list.html"
DETAIL = "campaigns/detail.html"
PROGRESS = "campaigns/partials/progress.html"
PER_PAGE = 50
RUNS_SHOWN = 50
# What each action may start from (the scheduling functions refuse the others too).
PAUSABLE = {CampaignStatus.SCHEDULED, CampaignStatus.RUNNING}
STOPPABLE = {CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED}
# The portal's badge colours (static/css/portal.css) for campaign and run statuses.
BADGES = {
    "scheduled": "on",
    "running": "in_progress",
    "paused": "pending",
    "completed": "success",
    "failed": "failed",
}


class CampaignFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=CampaignStatus.choices, empty_label="Any status")
    delivery_type = django_filters.ChoiceFilter(
        choices=DeliveryType.choices, empty_label="Any type", label="Delivery type"
    )

    class Meta:
        model = Campaign
        fields = []

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(name__icontains=value) if value else queryset


@require_GET
@admin_required
@vary_on_headers("HX-Request")
def campaign_list(request: HtmxRequest) -> HttpResponse:
    campaigns = Campaign.objects.select_related("webhook").annotate(
        profiles_sent=Coalesce(Sum("runs__targets"), 0),
        payloads_sent=Coalesce(Sum("runs__payloads"), 0),
    )
    filters = CampaignFilterSet(request.GET, queryset=campaigns.order_by("-created_at", "-id"))
    context = {"filters": filters, "nav": "campaigns", "filtered": False}
    status = 200
    if filters.is_valid():
        page = Paginator(filters.qs, PER_PAGE).get_page(request.GET.get("page"))
        context |= {
            "page": page,
            "rows": [(_badged(c), when(c)) for c in page.object_list],
            "filtered": any(filters.form.cleaned_data.values()),
        }
    else:
        status = 422
    template = f"{LIST}#results" if is_partial(request) else LIST
    return render(request, template, context, status=status)


@require_GET
@admin_required
def campaign_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("webhook", "segment"), pk=pk)
    context = {
        "campaign": _badged(campaign),
        "nav": "campaigns",
        "when": when(campaign),
        "audience": audience(campaign),
        "key_values": key_value_rows(campaign.key_values),
        "can_pause": campaign.status in PAUSABLE,
        "can_resume": campaign.status == CampaignStatus.PAUSED,
        "can_stop": campaign.status in STOPPABLE,
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
        was_sending = campaign.status in PAUSABLE
        scheduling.pause(campaign)
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
        was_paused = campaign.status == CampaignStatus.PAUSED
        unfinished = scheduling.resume(campaign)
        for campaign_id, occurrence in unfinished:
            run_occurrence.delay_on_commit(campaign_id, occurrence)
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
        stoppable = campaign.status in STOPPABLE
        if stoppable:
            scheduling.stop(campaign)
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
    runs = list(campaign.runs.all()[: RUNS_SHOWN + 1])
    sending = [run for run in runs if run.status == RunStatus.RUNNING]
    for run in runs:
        _badged(run)
    for run in sending:
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
        "sending": sending,
        "deliveries": deliveries,
        # A paused or stopped campaign's unfinished run does not move: no need to poll.
        "polling": bool(sending) and campaign.status in PAUSABLE,
    }


def when(campaign: Campaign) -> str:
    """When the campaign sends, in a phrase."""
    try:
        zone = ZoneInfo(campaign.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    if campaign.delivery_type == DeliveryType.LIVE:
        if not campaign.trigger_event:
            return "Live, on an event not chosen yet"
        text = f"on {campaign.trigger_event}"
        if campaign.trigger_delay_minutes:
            text += f", {campaign.trigger_delay_minutes} min later"
        return text
    if campaign.delivery_type == DeliveryType.RECURRING:
        try:
            return scheduling.recurrence_of(campaign).describe(zone)
        except (ValueError, TypeError, KeyError):
            return "Recurrence not set yet"
    if campaign.send_at is None:
        return "Send time not set yet"
    return f"{campaign.send_at.astimezone(zone):%b %-d, %Y %H:%M} ({zone.key})"


def audience(campaign: Campaign) -> dict:
    if campaign.segment_id:
        return {"segment": campaign.segment}
    if campaign.rule:
        try:
            return {"rule": describe(rules.parse(campaign.rule))}
        except ValueError:
            return {"rule": None}
    return {}


def key_value_rows(key_values) -> list[tuple[str, str]]:
    """Key/value pairs for display; non-text values as JSON (the template escapes all)."""
    if not isinstance(key_values, dict):
        return [("", json.dumps(key_values))] if key_values else []
    return [
        (str(key), value if isinstance(value, str) else json.dumps(value))
        for key, value in key_values.items()
    ]


def _badged(obj):
    obj.badge = BADGES.get(obj.status, "")
    return obj


def _record(verb: str, campaign: Campaign, request: HtmxRequest) -> None:
    ActivityEntry.record(f"campaign.{verb}", f"Campaign “{campaign.name}” {verb}", request.user)
