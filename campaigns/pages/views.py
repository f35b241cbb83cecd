"""Campaign pages: the list (sortable, keyset pages, each campaign's delivery figures
from the rollups), one campaign with its runs (polled while one runs), and the pause,
resume and stop actions."""

from dataclasses import dataclass
from datetime import timedelta

import django_filters
from django.contrib import messages
from django.db import connection, transaction
from django.db.models import BigIntegerField, Count, F, Q, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from campaigns import live_triggers, scheduling
from campaigns.models import Campaign, CampaignStatus, DeliveryType, RunStatus
from campaigns.summaries import audience, key_value_rows, when
from campaigns.tasks import run_occurrence
from campaigns.wizard import steps
from config.counts import bounded_count
from config.keyset import SortKey, paginate
from config.web import HtmxRequest, admin_required, is_partial
from deliveries.models import Delivery, DeliveryStatus
from deliveries.stats import queries as delivery_stats
from deliveries.stats.figures import Figures
from webhooks.models import ActivityEntry

LIST = "campaigns/list.html"
DETAIL = "campaigns/detail.html"
PROGRESS = "campaigns/partials/progress.html"
PER_PAGE = 50
RUNS_SHOWN = 50
SOON = timedelta(minutes=15)
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


SORT_CHOICES = [
    (f"{direction}{key}", f"{label} ({'descending' if direction else 'ascending'})")
    for key, label in (
        ("created", "Created"),
        ("name", "Name"),
        ("status", "Status"),
        ("type", "Delivery type"),
        ("next_run", "Next run"),
    )
    for direction in ("-", "")
]
# The epoch second of the next run, per database: an integer cursor value on both. A
# campaign without a next run sorts last either way (NO_RUN is chosen per direction).
EPOCH_SQL = {
    "postgresql": 'CAST(EXTRACT(EPOCH FROM {t}."next_run_at") AS BIGINT)',
    "sqlite": 'CAST((julianday({t}."next_run_at") - 2440587.5) * 86400 AS INTEGER)',
}
NO_RUN = {False: 2**62, True: -1}  # ascending, descending


def sort_key(sort: str, descending: bool) -> SortKey | None:
    """The keyset's leading column for a sort; ``created`` (the time column alone) has
    none. Every sort ends with (created_at, id), so equal keys keep a stable order."""
    if sort == "name":
        return SortKey('{t}."name"', lambda: F("name"))
    if sort == "status":
        return SortKey('{t}."status"', lambda: F("status"))
    if sort == "type":
        return SortKey('{t}."delivery_type"', lambda: F("delivery_type"))
    if sort == "next_run":
        sql = f"COALESCE({EPOCH_SQL[connection.vendor]}, {NO_RUN[descending]})"
        table = f'"{Campaign._meta.db_table}"'
        return SortKey(
            sql, lambda: RawSQL(sql.format(t=table), [], output_field=BigIntegerField()), kind=int
        )
    return None


class CampaignFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=CampaignStatus.choices, empty_label="Any status")
    delivery_type = django_filters.ChoiceFilter(
        choices=DeliveryType.choices, empty_label="Any type", label="Delivery type"
    )
    # Applied by the keyset paginator, declared here so a bad value is a form error.
    sort = django_filters.ChoiceFilter(choices=SORT_CHOICES, method="keep", empty_label=None)

    class Meta:
        model = Campaign
        fields = []

    def keep(self, queryset, name, value):
        return queryset

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(name__icontains=value) if value else queryset

    @property
    def active(self) -> bool:
        """Whether any filter or search narrows the list."""
        data = self.form.cleaned_data
        return any(v not in (None, "") for k, v in data.items() if k != "sort")

    @property
    def ordering(self) -> tuple[str, bool]:
        """(sort key, descending), newest first unless asked otherwise."""
        value = self.form.cleaned_data.get("sort") or "-created"
        return value.lstrip("-"), value.startswith("-")


@dataclass
class CampaignFigures:
    """A list row's delivery figures, all the campaign's (within retention): from the
    rollups, never the deliveries or attempts tables."""

    streamed: int
    attempts: Figures


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
        key=sort_key(sort, descending),
        time_field="created_at",
        descending=descending,
        after=request.GET.get("after") or None,
        before=request.GET.get("before") or None,
        per_page=PER_PAGE,
    )
    count, estimated = bounded_count(filters.qs)
    context |= {
        "page": page,
        "rows": [(_badged(c), when(c), figures) for c, figures in _with_figures(page.rows)],
        "count": count,
        "estimated": estimated,
        "sort": sort,
        "descending": descending,
        "filtered": filters.active,
    }
    return render(request, template, context)


def _with_figures(campaigns: list[Campaign]) -> list[tuple[Campaign, CampaignFigures]]:
    """Each campaign of a page with its figures: two grouped queries for the page."""
    ids = [c.pk for c in campaigns]
    streamed = delivery_stats.deliveries_by_campaign(ids)
    attempts = delivery_stats.by_campaign(ids)
    return [
        (c, CampaignFigures(streamed.get(c.pk, 0), attempts.get(c.pk) or Figures()))
        for c in campaigns
    ]


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
        "edit_step": steps.resume_step(campaign),
        "skipped_while_paused": live_triggers.skipped_while_paused(campaign)
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
        "triggers": triggers,
        # A paused or stopped campaign's unfinished run does not move: no need to poll.
        # A live campaign that listens gets new runs at any time: poll, more slowly.
        "polling": (bool(sending) and campaign.status in PAUSABLE)
        or (live and campaign.status == CampaignStatus.RUNNING)
        or _starting_soon(campaign),
        "poll_every": "2s" if sending else "10s",
    }


def _starting_soon(campaign: Campaign) -> bool:
    """A scheduled run due within minutes: poll, so its progress shows when it starts."""
    upcoming = campaign.next_run_at
    return (
        campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)
        and upcoming is not None
        and upcoming <= timezone.now() + SOON
    )


def _badged(obj):
    obj.badge = BADGES.get(obj.status, "")
    return obj


def _record(verb: str, campaign: Campaign, request: HtmxRequest) -> None:
    ActivityEntry.record(f"campaign.{verb}", f"Campaign “{campaign.name}” {verb}", request.user)
