"""The Settings page (delivery defaults and API keys) and the activity log at /admin/logs."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from config.web import HtmxRequest, admin_required, is_partial
from webhooks.models import ActivityEntry, ApiKey, SystemSettings
from webhooks.settings_forms import (
    ActivityFilterForm,
    ApiKeyForm,
    Cursor,
    SystemSettingsForm,
    describe_changes,
    encode_cursor,
    format_duration,
    retry_schedule,
)

# Entries per page of the activity log.
PER_PAGE = 50


def _render_settings(
    request: HtmxRequest,
    form: SystemSettingsForm,
    key_form: ApiKeyForm | None = None,
    new_key: tuple[ApiKey, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    # The preview shows the saved values: after a failed POST the form's instance holds
    # a mix of saved and submitted ones, but ``initial`` still holds the saved row.
    max_retries = form.initial["max_retries"]
    window = form.initial["retry_window_seconds"]
    context = {
        "form": form,
        "key_form": key_form or ApiKeyForm(),
        "new_key": new_key,
        "window_hint": f"{window} s" if window < 60 else f"{window} s = {format_duration(window)}",
        "window_text": format_duration(window),
        "schedule": retry_schedule(max_retries, window),
        # The hash never leaves the database, not even into a template.
        "api_keys": ApiKey.objects.select_related("created_by").defer("key_hash"),
        "nav": "settings",
    }
    return render(request, "webhooks/settings.html", context, status=status)


@require_http_methods(["GET", "POST"])
@admin_required
def settings_page(request: HtmxRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else None
    form = SystemSettingsForm(data, instance=SystemSettings.load())
    if not form.is_bound:
        return _render_settings(request, form)
    if not form.is_valid():
        return _render_settings(request, form, status=422)
    changes = form.changes()
    if not changes:
        messages.info(request, "Nothing changed.")
        return redirect("settings")
    with transaction.atomic():
        form.save(commit=False).save(
            update_fields=[name for name, _, _ in changes] + ["updated_at"]
        )
        ActivityEntry.record("settings.updated", describe_changes(changes), request.user)
    messages.success(request, "Settings saved. New deliveries use them from now on.")
    return redirect("settings")


@require_POST
@admin_required
def api_key_create(request: HtmxRequest) -> HttpResponse:
    """Issue a key and show it in this response only: it is not stored, redirected or
    put in the session, so it cannot be shown again."""
    settings_form = SystemSettingsForm(instance=SystemSettings.load())
    key_form = ApiKeyForm(request.POST)
    if not key_form.is_valid():
        return _render_settings(request, settings_form, key_form=key_form, status=422)
    with transaction.atomic():
        key, raw_key = ApiKey.issue(key_form.cleaned_data["name"], created_by=request.user)
        ActivityEntry.record(
            "api_key.created", f"API key “{key.name}” ({key.prefix}…) created", request.user
        )
    response = _render_settings(request, settings_form, new_key=(key, raw_key))
    # Keep the page with the key out of the browser's cache and the back button.
    add_never_cache_headers(response)
    return response


@require_POST
@admin_required
def api_key_revoke(request: HtmxRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey.objects.defer("key_hash"), pk=pk)
    with transaction.atomic():
        # Conditional, so two admins revoking at once log it once.
        revoked = ApiKey.objects.filter(pk=key.pk, revoked_at=None).update(
            revoked_at=timezone.now()
        )
        if revoked:
            ActivityEntry.record(
                "api_key.revoked", f"API key “{key.name}” ({key.prefix}…) revoked", request.user
            )
    if revoked:
        messages.success(
            request, f"API key “{key.name}” revoked. Requests that use it are refused now."
        )
    else:
        messages.info(request, f"API key “{key.name}” was already revoked.")
    return redirect("settings")


@dataclass(frozen=True)
class ActivityPage:
    entries: list[ActivityEntry]
    older: str | None
    newer: str | None


def _older_than(rows: QuerySet, created_at: datetime, pk: int) -> QuerySet:
    # The plain created_at bound lets PostgreSQL walk the activity_recent index; the OR
    # only orders entries written in the same microsecond.
    return rows.filter(created_at__lte=created_at).filter(
        Q(created_at__lt=created_at) | Q(id__lt=pk)
    )


def _newer_than(rows: QuerySet, created_at: datetime, pk: int) -> QuerySet:
    return rows.filter(created_at__gte=created_at).filter(
        Q(created_at__gt=created_at) | Q(id__gt=pk)
    )


def activity_page(
    action: str, before: Cursor | None, after: Cursor | None, per_page: int
) -> ActivityPage:
    """One page of the activity log, newest first, with cursors for the neighbouring pages.

    Keyset pagination on ``(created_at, id)``: it reads ``per_page + 1`` rows and never
    counts the table. ``action`` keeps only actions in that group (``api_key`` matches
    ``api_key.created``).
    """
    rows = ActivityEntry.objects.select_related("actor")
    if action:
        rows = rows.filter(action__startswith=f"{action}.")
    if after is not None:
        page = list(_newer_than(rows, *after).order_by("created_at", "id")[: per_page + 1])
        has_newer = len(page) > per_page
        entries = page[:per_page][::-1]
        has_older = bool(entries) and _older_than(rows, *_key(entries[-1])).exists()
    else:
        newest_first = _older_than(rows, *before) if before is not None else rows
        page = list(newest_first.order_by("-created_at", "-id")[: per_page + 1])
        has_older = len(page) > per_page
        entries = page[:per_page]
        has_newer = (
            before is not None and bool(entries) and _newer_than(rows, *_key(entries[0])).exists()
        )
    return ActivityPage(
        entries=entries,
        older=encode_cursor(*_key(entries[-1])) if has_older else None,
        newer=encode_cursor(*_key(entries[0])) if has_newer else None,
    )


def _key(entry: ActivityEntry) -> Cursor:
    return entry.created_at, entry.pk


@require_GET
@admin_required
@vary_on_headers("HX-Request")
def activity_log(request: HtmxRequest) -> HttpResponse:
    filters = ActivityFilterForm(request.GET)
    template = "webhooks/activity_log.html"
    if is_partial(request):
        template += "#activity-table"
    context = {"filters": filters, "nav": "logs"}
    if not filters.is_valid():
        return render(request, template, context, status=400)
    cleaned = filters.cleaned_data
    context["page"] = activity_page(
        cleaned["action"], cleaned["before"], cleaned["after"], per_page=PER_PAGE
    )
    context["paged"] = bool(cleaned["before"] or cleaned["after"])
    context["group"] = dict(filters.fields["action"].choices).get(cleaned["action"])
    return render(request, template, context)
