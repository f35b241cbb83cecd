from django.contrib import messages
from django.db import transaction
from django.db.models import Count, Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.web import HtmxRequest, admin_required
from webhooks.forms import EventTypeForm, WebhookForm, header_formset
from webhooks.models import ActivityEntry, EventType, Health, Webhook


@require_GET
@admin_required
def webhook_list(request: HtmxRequest) -> HttpResponse:
    webhooks = Webhook.objects.prefetch_related(
        Prefetch("event_types", queryset=EventType.objects.order_by("name"))
    )
    return render(request, "webhooks/list.html", {"webhooks": webhooks, "nav": "webhooks"})


def _save_webhook(request: HtmxRequest, webhook: Webhook | None) -> HttpResponse:
    form = WebhookForm(request.POST or None, instance=webhook)
    headers = header_formset(request.POST or None, webhook)
    if request.method == "POST":
        if form.is_valid() and headers.is_valid():
            with transaction.atomic():
                saved = form.save(commit=False)
                saved.custom_headers = headers.headers()
                saved.save()
                form.save_m2m()
                verb = "created" if webhook is None else "updated"
                ActivityEntry.record(
                    f"webhook.{verb}", f"Webhook “{saved.name}” {verb}", request.user
                )
            messages.success(request, f"Webhook “{saved.name}” {verb}.")
            back = _back_url(request)
            if back:
                return redirect(f"{back}{'&' if '?' in back else '?'}webhook={saved.pk}")
            return redirect("webhooks:list")
        status = 422
    else:
        status = 200
    context = {
        "form": form,
        "headers": headers,
        "webhook": webhook,
        "nav": "webhooks",
        "back": _back_url(request),
    }
    return render(request, "webhooks/form.html", context, status=status)


def _back_url(request: HtmxRequest) -> str:
    """Where to return with the new webhook (a campaign's webhook step sends people
    here), when it is a page of this site."""
    back = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return back if safe and back.startswith("/") else ""


# Every field of the webhook form may carry a credential (the password, header values):
# none is shown on Django's error pages or in error reports.
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
@admin_required
def webhook_create(request: HtmxRequest) -> HttpResponse:
    return _save_webhook(request, None)


@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
@admin_required
def webhook_edit(request: HtmxRequest, pk: int) -> HttpResponse:
    return _save_webhook(request, get_object_or_404(Webhook, pk=pk))


@require_POST
@admin_required
def webhook_enable(request: HtmxRequest, pk: int) -> HttpResponse:
    """Resume sending to an endpoint the sender held back (failing or disabled)."""
    webhook = get_object_or_404(Webhook, pk=pk)
    if webhook.health == Health.HEALTHY:
        messages.info(request, f"Webhook “{webhook.name}” is already healthy.")
    else:
        webhook.enable(request.user)
        messages.success(
            request, f"Webhook “{webhook.name}” re-enabled; the deliveries that waited are sent."
        )
    return redirect("webhooks:edit", pk=webhook.pk)


@require_http_methods(["GET", "POST"])
@admin_required
def webhook_delete(request: HtmxRequest, pk: int) -> HttpResponse:
    webhook = get_object_or_404(Webhook.objects.annotate(delivery_count=Count("deliveries")), pk=pk)
    if request.method == "POST":
        name = webhook.name
        webhook.delete()
        ActivityEntry.record("webhook.deleted", f"Webhook “{name}” deleted", request.user)
        messages.success(request, f"Webhook “{name}” deleted.")
        return redirect("webhooks:list")
    return render(request, "webhooks/delete.html", {"webhook": webhook, "nav": "webhooks"})


@require_POST
@admin_required
def secret_reveal(request: HtmxRequest, pk: int) -> HttpResponse:
    """Show the full secret once, on an explicit POST, and note who looked."""
    webhook = get_object_or_404(Webhook, pk=pk)
    ActivityEntry.record(
        "webhook.secret_revealed", f"Secret of webhook “{webhook.name}” revealed", request.user
    )
    return render(request, "webhooks/form.html#secret", {"webhook": webhook, "revealed": True})


@require_POST
@admin_required
def secret_rotate(request: HtmxRequest, pk: int) -> HttpResponse:
    webhook = get_object_or_404(Webhook, pk=pk)
    webhook.rotate_secret()
    ActivityEntry.record(
        "webhook.secret_rotated", f"Secret of webhook “{webhook.name}” rotated", request.user
    )
    messages.success(
        request,
        "A new secret was issued. The previous one keeps signing deliveries for 24 hours.",
    )
    return redirect("webhooks:edit", pk=webhook.pk)


@require_http_methods(["GET", "POST"])
@admin_required
def event_type_list(request: HtmxRequest) -> HttpResponse:
    form = EventTypeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        event_type = form.save()
        ActivityEntry.record(
            "event_type.created", f"Event type “{event_type.name}” added", request.user
        )
        messages.success(request, f"Event type “{event_type.name}” added.")
        return redirect("webhooks:event_types")
    return _render_catalog(request, form, status=422 if form.is_bound else 200)


def _render_catalog(request, form, editing=None, status=200):
    event_types = EventType.objects.annotate(
        webhook_count=Count("webhooks", distinct=True)
    ).order_by("category", "name")
    context = {
        "event_types": event_types,
        "categories": sorted({e.category for e in event_types}),
        "form": form,
        "editing": editing,
        "nav": "webhooks",
    }
    return render(request, "webhooks/event_types.html", context, status=status)


@require_http_methods(["GET", "POST"])
@admin_required
def event_type_edit(request: HtmxRequest, pk: int) -> HttpResponse:
    event_type = get_object_or_404(EventType, pk=pk)
    form = EventTypeForm(request.POST or None, instance=event_type)
    if request.method == "POST" and form.is_valid():
        form.save()
        ActivityEntry.record(
            "event_type.updated", f"Event type “{event_type.name}” updated", request.user
        )
        messages.success(request, f"Event type “{event_type.name}” updated.")
        return redirect("webhooks:event_types")
    return _render_catalog(request, form, editing=event_type, status=422 if form.is_bound else 200)


@require_POST
@admin_required
def event_type_delete(request: HtmxRequest, pk: int) -> HttpResponse:
    event_type = get_object_or_404(EventType, pk=pk)
    if event_type.events.exists():
        messages.error(
            request,
            f"“{event_type.name}” has recorded events and cannot be deleted; "
            "unsubscribe webhooks from it instead.",
        )
        return redirect("webhooks:event_types")
    event_type.delete()
    ActivityEntry.record(
        "event_type.deleted", f"Event type “{event_type.name}” deleted", request.user
    )
    messages.success(request, f"Event type “{event_type.name}” deleted.")
    return redirect("webhooks:event_types")
