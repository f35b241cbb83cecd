"""Segment pages: the list, the builder (with its live preview) and deletion."""

import functools
import time
import zoneinfo

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from campaigns.models import Segment
from campaigns.segments import conditions, evaluate, rules, vocabulary
from campaigns.segments.builder import Builder
from campaigns.segments.checks import never_matches
from campaigns.segments.describe import describe
from config.web import HtmxRequest, admin_required, is_partial
from webhooks.models import ActivityEntry

SAMPLE_SIZE = 10
VALUE_TYPES = [
    ("auto", "as typed"),
    ("text", "as text"),
    ("number", "as number"),
    ("date", "as date"),
    ("boolean", "as yes/no"),
]
DATE_WHENS = [
    ("days_ago", "was exactly … days ago"),
    ("at_least_days_ago", "was at least … days ago"),
    ("today", "is today"),
    ("anniversary", "has its anniversary today (any year)"),
]


@functools.cache
def time_zones() -> list[str]:
    # Read from the tz database once, when a builder page first needs it.
    return sorted(zoneinfo.available_timezones())


@require_GET
@admin_required
def segment_list(request: HtmxRequest) -> HttpResponse:
    segments = []
    for segment in Segment.objects.all():
        try:
            summary = describe(rules.parse(segment.rule))
        except ValueError:
            summary = None
        segments.append((segment, summary))
    return render(
        request, "campaigns/segments/list.html", {"segments": segments, "nav": "segments"}
    )


@require_GET
@admin_required
def segment_count(request: HtmxRequest, pk: int) -> HttpResponse:
    """One saved segment's member count, loaded after the list (each is a query)."""
    segment = get_object_or_404(Segment, pk=pk)
    try:
        members = evaluate.count(rules.parse(segment.rule))
    except ValueError:
        members = None
    return render(
        request,
        "campaigns/segments/list.html#count",
        {"segment": segment, "members": members},
    )


@require_http_methods(["GET", "POST"])
@admin_required
def segment_builder(request: HtmxRequest, pk: int | None = None) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk) if pk is not None else None
    if request.method == "GET":
        builder = Builder.from_segment(segment) if segment else Builder()
        return render_builder(request, builder, segment)
    builder = Builder.from_post(request.POST)
    edit = request.POST.get("edit", "")
    if edit or "refresh" in request.POST:
        # An add/remove button or a change of category: show the form again, unsaved.
        builder.apply(edit)
        response = render_builder(request, builder, segment)
        return trigger_client_event(response, "refresh-preview")
    rule = builder.validate()
    name = builder.name.strip()
    # Only a valid name is looked up: PostgreSQL refuses a NUL even in a query.
    duplicate = rule is not None and Segment.objects.filter(name=name).exclude(pk=pk).exists()
    if duplicate:
        builder.errors.setdefault("name", []).append("Another segment has this name.")
    if rule is None or duplicate:
        return render_builder(request, builder, segment, status=422)
    with transaction.atomic():
        segment = segment or Segment()
        created = segment.pk is None
        segment.name = name
        segment.description = builder.description.strip()[:300]
        segment.rule = rule.model_dump(mode="json", exclude_defaults=False)
        segment.save()
        verb = "created" if created else "updated"
        ActivityEntry.record(f"segment.{verb}", f"Segment “{name}” {verb}", request.user)
    messages.success(request, f"Segment “{name}” {verb}.")
    return redirect("campaigns:segment", segment.pk)


@require_POST
@admin_required
def segment_preview(request: HtmxRequest) -> HttpResponse:
    """The count and a sample of members of the rule being built (htmx, debounced)."""
    builder = Builder.from_post(request.POST)
    rule = builder.validate_rule()
    context = {"builder": builder, "rule": rule}
    if rule is not None:
        started = time.monotonic()
        context |= {
            "count": evaluate.count(rule),
            "sample": evaluate.sample(rule, SAMPLE_SIZE),
            "summary": describe(rule),
            "impossible": never_matches(rule),
            "took_ms": round((time.monotonic() - started) * 1000),
        }
    return render(request, "campaigns/segments/builder.html#preview", context)


@require_POST
@admin_required
def segment_delete(request: HtmxRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    with transaction.atomic():
        segment.delete()
        ActivityEntry.record("segment.deleted", f"Segment “{segment.name}” deleted", request.user)
    messages.success(request, f"Segment “{segment.name}” deleted.")
    return redirect("campaigns:segments")


def render_builder(
    request: HtmxRequest,
    builder: Builder,
    segment: Segment | None = None,
    status: int = 200,
    *,
    campaign=None,
    action_url: str = "",
) -> HttpResponse:
    """The builder page: for a saved segment, or (``campaign``) a campaign's ad-hoc
    audience, which has no name and posts to ``action_url``."""
    if not action_url:
        action_url = (
            reverse("campaigns:segment", args=[segment.pk])
            if segment
            else reverse("campaigns:segment_new")
        )
    context = {
        "builder": builder,
        "segment": segment,
        "campaign": campaign,
        "nav": "campaigns" if campaign else "segments",
        "categories": rules.CATEGORIES,
        "operators": conditions.OPERATOR_LABELS,
        "value_types": VALUE_TYPES,
        "within_units": ["minutes", "hours", "days"],
        "date_whens": DATE_WHENS,
        "action_url": action_url,
    }
    template = "campaigns/segments/builder.html"
    if is_partial(request) and request.method == "POST":
        template += "#form"  # the suggestions (datalists) stay on the page, outside it
    else:
        context |= {
            "event_names": vocabulary.event_names(),
            "profile_properties": vocabulary.profile_properties(),
            "event_properties": vocabulary.event_properties(),
            "time_zones": time_zones(),
        }
    return render(request, template, context, status=status)
