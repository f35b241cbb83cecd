"""What the create-campaign page does besides saving steps: the live preview of the
body, the test send and publishing."""

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from campaigns import sending
from campaigns.content import compose
from campaigns.models import Campaign, CampaignStatus
from campaigns.sending import TestSendRefused, send_test
from campaigns.wizard import samples, steps, what
from config.web import HtmxRequest, admin_required
from deliveries.models import Delivery, Source
from webhooks.models import ActivityEntry

PREVIEW = "campaigns/wizard/_preview.html"
TEST_RESULT = "campaigns/wizard/_test_result.html"


@require_POST
@admin_required
def body_preview(request: HtmxRequest, pk: int) -> HttpResponse:
    """The What step's payload for a sample member, as typed (nothing is saved)."""
    campaign = get_object_or_404(Campaign.objects.select_related("webhook", "segment"), pk=pk)
    form = what.WhatForm(request.POST, instance=campaign)
    if steps.locked_reason(campaign, "what"):
        draft = campaign  # the inputs are disabled: show what it sends
    elif form.is_valid():
        draft = form.save(commit=False)
    else:
        draft = _as_typed(form, campaign)
    profile, note = samples.member(draft, request.POST.get("sample", ""))
    preview = compose.preview(draft, [profile], samples.event(draft, profile))
    context = {"preview": preview, "profile": profile, "note": note, "form": form}
    return render(request, PREVIEW, context)


@require_POST
@admin_required
def test_send(request: HtmxRequest, pk: int) -> HttpResponse:
    """Save the What step as typed, then send it to the webhook once, for one member."""
    campaign = get_object_or_404(Campaign.objects.select_related("webhook", "segment"), pk=pk)
    form = what.WhatForm(request.POST, instance=campaign)
    context = {"campaign": campaign}
    locked = steps.locked_reason(campaign, "what")
    if not locked and not form.is_valid():
        context["error"] = "Fix the form's errors first: " + "; ".join(
            str(e) for errors in form.errors.values() for e in errors
        )
        return render(request, TEST_RESULT, context, status=422)
    if not locked:
        form.save()
    profile, note = samples.member(campaign, request.POST.get("sample", ""))
    try:
        delivery = send_test(campaign, profile, request.user)
    except TestSendRefused as refused:
        context["error"] = str(refused)
        return render(request, TEST_RESULT, context, status=422)
    context |= {"delivery": delivery, "note": note}
    return render(request, TEST_RESULT, context)


@require_GET
@admin_required
def test_result(request: HtmxRequest, pk: int, delivery_pk: int) -> HttpResponse:
    """A test send's result once its attempt is recorded (the page polls until then)."""
    campaign = get_object_or_404(Campaign, pk=pk)
    delivery = get_object_or_404(
        Delivery.objects.select_related("webhook"), pk=delivery_pk, source=Source.TEST
    )
    attempt = delivery.attempts.order_by("-number").first()
    context = {"campaign": campaign, "delivery": delivery, "attempt": attempt}
    return render(request, TEST_RESULT, context)


@require_POST
@admin_required
def publish(request: HtmxRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("webhook"), pk=pk)
    if campaign.status != CampaignStatus.DRAFT:
        messages.info(request, "This campaign is already published.")
        return redirect("campaigns:detail", pk)
    problems = samples.problems(campaign)
    if problems:
        for problem in problems:
            messages.error(request, problem)
        return redirect("campaigns:step", pk, "overview")
    try:
        with transaction.atomic():
            sending.publish(campaign)
            ActivityEntry.record(
                "campaign.published", f"Campaign “{campaign.name}” published", request.user
            )
    except sending.PublishRefused as refused:
        for problem in refused.problems:
            messages.error(request, problem)
        return redirect("campaigns:step", pk, "overview")
    messages.success(request, f"“{campaign.name}” is published.")
    return redirect("campaigns:detail", pk)


def _as_typed(form: what.WhatForm, campaign: Campaign) -> Campaign:
    """The campaign with what the form holds, even where the form is invalid, so the
    preview shows the template's problems as the author types."""
    post = form.data
    draft = Campaign.objects.get(pk=campaign.pk)
    draft.webhook, draft.segment = campaign.webhook, campaign.segment
    draft.body_mode = post.get("body_mode", draft.body_mode)
    draft.content_type = post.get("content_type", draft.content_type)
    draft.custom_body = post.get("custom_body", draft.custom_body)
    draft.profile_fields = post.getlist("profile_fields")
    draft.query_params = [list(p) for p in form.query_params]
    draft.key_values = dict(form.key_values)
    draft.linked_content = [{"name": n, "url": u} for n, u in form.linked]
    return draft
