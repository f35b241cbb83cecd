"""What the create-campaign page does besides saving steps: the live preview of the
body, the test send and publishing."""

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from campaigns import scheduling
from campaigns.content import compose
from campaigns.models import Campaign, CampaignStatus, DeliveryType, Profile, ProfileEvent
from campaigns.segments import evaluate, rules
from campaigns.test_send import TestSendRefused, send_test
from campaigns.wizard import forms, steps
from config.web import HtmxRequest, admin_required
from webhooks.models import ActivityEntry

PREVIEW = "campaigns/wizard/preview.html"
TEST_RESULT = "campaigns/wizard/test_result.html"


@require_POST
@admin_required
def body_preview(request: HtmxRequest, pk: int) -> HttpResponse:
    """The What step's payload for a sample member, as typed (nothing is saved)."""
    campaign = get_object_or_404(Campaign.objects.select_related("webhook", "segment"), pk=pk)
    form = forms.WhatForm(request.POST, instance=campaign)
    if steps.locked_reason(campaign, "what"):
        draft = campaign  # the inputs are disabled: show what it sends
    elif form.is_valid():
        draft = form.save(commit=False)
    else:
        draft = _as_typed(form, campaign)
    profile, note = sample_member(draft, request.POST.get("sample", ""))
    preview = compose.preview(draft, [profile], sample_event(draft, profile))
    context = {"preview": preview, "profile": profile, "note": note, "form": form}
    return render(request, PREVIEW, context)


@require_POST
@admin_required
def test_send(request: HtmxRequest, pk: int) -> HttpResponse:
    """Save the What step as typed, then send it to the webhook once, for one member."""
    campaign = get_object_or_404(Campaign.objects.select_related("webhook", "segment"), pk=pk)
    form = forms.WhatForm(request.POST, instance=campaign)
    context = {"campaign": campaign}
    locked = steps.locked_reason(campaign, "what")
    if not locked and not form.is_valid():
        context["error"] = "Fix the form's errors first: " + "; ".join(
            str(e) for errors in form.errors.values() for e in errors
        )
        return render(request, TEST_RESULT, context, status=422)
    if not locked:
        form.save()
    profile, note = sample_member(campaign, request.POST.get("sample", ""))
    try:
        delivery = send_test(campaign, profile, request.user)
    except TestSendRefused as refused:
        context["error"] = str(refused)
        return render(request, TEST_RESULT, context, status=422)
    attempt = delivery.attempts.order_by("-number").first()
    context |= {"delivery": delivery, "attempt": attempt, "profile": profile, "note": note}
    return render(request, TEST_RESULT, context)


@require_POST
@admin_required
def publish(request: HtmxRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("webhook"), pk=pk)
    if campaign.status != CampaignStatus.DRAFT:
        messages.info(request, "This campaign is already published.")
        return redirect("campaigns:detail", pk)
    try:
        with transaction.atomic():
            scheduling.publish(campaign)
            ActivityEntry.record(
                "campaign.published", f"Campaign “{campaign.name}” published", request.user
            )
    except scheduling.PublishRefused as refused:
        for problem in refused.problems:
            messages.error(request, problem)
        return redirect("campaigns:step", pk, "overview")
    messages.success(request, f"“{campaign.name}” is published.")
    return redirect("campaigns:detail", pk)


def sample_member(campaign: Campaign, identity: str = "") -> tuple[Profile, str]:
    """The profile a preview or test uses, and a note saying which one it is."""
    identity = identity.strip()
    if identity:
        profile = Profile.objects.filter(identity=identity).first()
        if profile:
            return profile, f"Profile “{profile.identity}”."
        note = f"No profile “{identity}”; "
    else:
        note = ""
    data = campaign.segment.rule if campaign.segment_id else campaign.rule
    if data:
        try:
            found = evaluate.sample(rules.parse(data), 1)
        except ValueError:
            found = []
        if found:
            return found[0], note + f"the audience's first member, “{found[0].identity}”."
    profile = Profile.objects.order_by("identity").first()
    if profile:
        return profile, note + f"no audience member yet: profile “{profile.identity}”."
    sample = Profile(identity="sample-user", email="sample@example.com", object_id="sample")
    return sample, note + "there are no profiles yet: an example profile."


def _as_typed(form: forms.WhatForm, campaign: Campaign) -> Campaign:
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


def sample_event(campaign: Campaign, profile: Profile) -> dict | None:
    """A live campaign's preview shows a triggering event's properties: the member's
    latest such event, or anyone's."""
    if campaign.delivery_type != DeliveryType.LIVE or not campaign.trigger_event:
        return None
    events = ProfileEvent.objects.filter(name=campaign.trigger_event).order_by("-occurred_at")
    event = (events.filter(profile_id=profile.pk).first() if profile.pk else None) or (
        events.first()
    )
    return event.properties if event else {}
