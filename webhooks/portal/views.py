"""The Settings page (delivery defaults and API keys) and the activity log at /admin/logs."""

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from config import keyset
from config.web import HtmxRequest, admin_required, is_partial
from webhooks.models import ActivityEntry, ApiKey, SystemSettings
from webhooks.portal.forms import (
    ActivityFilterForm,
    ApiKeyForm,
    SystemSettingsForm,
    describe_changes,
)
from webhooks.retry_policy import format_duration, retry_schedule

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
    strategy = form.initial["retry_strategy"]
    context = {
        "form": form,
        "key_form": key_form or ApiKeyForm(),
        "new_key": new_key,
        "window_hint": f"{window} s" if window < 60 else f"{window} s = {format_duration(window)}",
        "window_text": format_duration(window),
        "schedule": retry_schedule(max_retries, window, strategy),
        "strategy": strategy,
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
        return redirect("portal:settings")
    with transaction.atomic():
        form.save(commit=False).save(
            update_fields=[name for name, _, _ in changes] + ["updated_at"]
        )
        ActivityEntry.record("settings.updated", describe_changes(changes), request.user)
    messages.success(request, "Settings saved. New deliveries use them from now on.")
    return redirect("portal:settings")


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
    return redirect("portal:settings")


def activity_page(action: str, after: str | None, before: str | None) -> keyset.Page:
    """One page of the activity log, newest first (``after``: older entries, ``before``:
    newer). ``action`` keeps only actions in that group (``api_key`` matches
    ``api_key.created``)."""
    rows = ActivityEntry.objects.select_related("actor")
    if action:
        rows = rows.filter(action__startswith=f"{action}.")
    return keyset.paginate(rows, after=after, before=before, per_page=PER_PAGE)


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
        cleaned["action"], after=cleaned["after"], before=cleaned["before"]
    )
    context["paged"] = bool(cleaned["before"] or cleaned["after"])
    context["group"] = dict(filters.fields["action"].choices).get(cleaned["action"])
    return render(request, template, context)
