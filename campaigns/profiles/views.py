"""The audience's pages: /admin/profiles (prefix search, keyset pages) and one profile."""

import json
from dataclasses import dataclass

from django import forms
from django.db.models import Count, F, Max, Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from pydantic import ValidationError

from campaigns.models import Profile, ProfileEvent, Segment
from campaigns.segments import evaluate, rules
from config.counts import COUNT_LIMIT, bounded_count
from config.keyset import SortKey, paginate
from config.web import HtmxRequest, admin_required, is_partial

LIST = "campaigns/profiles/list.html"
DETAIL = "campaigns/profiles/detail.html"
PER_PAGE = 50
RECENT_EVENTS = 50

# A-Z by identity, the unique index's order: a page at any depth reads ~51 index entries
# (identities are unique, so created_at and id only complete the keyset cursor). Newest
# first would sort all profiles on every page: created_at has no index.
BY_IDENTITY = SortKey('{t}."identity"', lambda: F("identity"))


class ProfileSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, strip=True)


def search(q: str) -> QuerySet:
    """Profiles whose identity, or e-mail (stored lower-case), starts with ``q``.

    Few matches: a BitmapOr of the two prefix indexes. Many: PostgreSQL walks the identity
    index in page order and filters, which is slowest (~250 ms at 1M profiles) when the
    matches sit late in that order, e.g. a broad identity prefix; later pages start at the
    cursor and are fast."""
    profiles = Profile.objects.all()
    if q:
        profiles = profiles.filter(Q(identity__startswith=q) | Q(email__startswith=q.lower()))
    return profiles


def _with_activity(rows: list[Profile]) -> list[Profile]:
    """The page's profiles with ``event_count`` and ``last_seen``, in one query over just
    their events (the (profile, name, occurred_at) index), never per row."""
    activity = {
        row["profile_id"]: row
        for row in ProfileEvent.objects.filter(profile_id__in=[p.pk for p in rows])
        .values("profile_id")
        .annotate(count=Count("profile_id"), last=Max("occurred_at"))
        .order_by()
    }
    for profile in rows:
        found = activity.get(profile.pk, {})
        profile.event_count = found.get("count", 0)
        profile.last_seen = found.get("last")
    return rows


@require_GET
@admin_required
@vary_on_headers("HX-Request")
def profile_list(request: HtmxRequest) -> HttpResponse:
    form = ProfileSearchForm(request.GET)
    template = f"{LIST}#results" if is_partial(request) else LIST
    context = {"form": form, "nav": "profiles", "count_limit": COUNT_LIMIT}
    if not form.is_valid():
        return render(request, template, context, status=422)
    q = form.cleaned_data["q"]
    profiles = search(q)
    page = paginate(
        profiles,
        key=BY_IDENTITY,
        descending=False,
        after=request.GET.get("after") or None,
        before=request.GET.get("before") or None,
        per_page=PER_PAGE,
    )
    _with_activity(page.rows)
    count, estimated = bounded_count(profiles)
    context.update(page=page, q=q, count=count, estimated=estimated)
    return render(request, template, context)


@dataclass
class Membership:
    segment: Segment
    member: bool
    error: str = ""


def memberships(profile: Profile) -> list[Membership]:
    """Every saved segment and whether ``profile`` is in it: one EXISTS query each. A
    segment whose rule no longer parses is listed with the reason, not evaluated."""
    found = []
    for segment in Segment.objects.order_by("name"):
        try:
            rule = rules.parse(segment.rule)
        except ValidationError as error:
            reasons = "; ".join(e["msg"] for e in error.errors()[:3])
            found.append(Membership(segment, False, reasons))
            continue
        member = evaluate.members(rule).filter(pk=profile.pk).exists()
        found.append(Membership(segment, member))
    return found


def mask_token(token: str) -> str:
    """A push token as its first and last 4 characters; a short one (where 8 characters
    would give most of it away) not at all."""
    if not token:
        return ""
    if len(token) < 16:
        return "•" * 8
    return f"{token[:4]}…{token[-4:]}"


def shown(value) -> str:
    """A JSON property value as text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _properties(values) -> list[tuple[str, str]]:
    """(name, value) rows by name; properties that are not an object show as one row."""
    if not isinstance(values, dict):
        return [("(value)", shown(values))] if values not in (None, "", []) else []
    return [(str(k), shown(v)) for k, v in sorted(values.items())]


@require_GET
@admin_required
def profile_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(Profile, pk=pk)
    events = list(profile.events.order_by("-occurred_at", "-id")[:RECENT_EVENTS])
    for event in events:
        event.shown_properties = _properties(event.properties)
    found = memberships(profile)
    context = {
        "profile": profile,
        "nav": "profiles",
        "push_token": mask_token(profile.push_token),
        "properties": _properties(profile.properties),
        "events": events,
        "event_count": profile.events.count() if len(events) == RECENT_EVENTS else len(events),
        "memberships": [m for m in found if m.member],
        "unreadable": [m for m in found if m.error],
        "segment_count": len(found),
    }
    return render(request, DETAIL, context)
