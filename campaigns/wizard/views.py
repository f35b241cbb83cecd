"""The create-campaign page: one step at a time, each saved as a draft when posted.

Steps (``steps.STEPS``): delivery, webhook, goal, who (with the ad-hoc audience
builder on its own page), what (with the live preview and the test send) and the
overview, which publishes. A campaign that is sending keeps what its runs read locked
(``steps.locked_reason``); the page says why.
"""

from types import SimpleNamespace

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import trigger_client_event

from campaigns import sending
from campaigns.content import template
from campaigns.models import Campaign, CampaignStatus
from campaigns.segments import vocabulary
from campaigns.segments.builder import Builder
from campaigns.segments.views import render_builder, time_zones
from campaigns.summaries import audience, key_value_rows, when
from campaigns.wizard import forms, samples, steps, what
from config.web import HtmxRequest, admin_required
from webhooks.models import ActivityEntry

STEP_TEMPLATE = "campaigns/wizard/step.html"
FORMS = {
    "delivery": forms.DeliveryForm,
    "webhook": forms.WebhookChoiceForm,
    "goal": forms.GoalForm,
    "who": forms.WhoForm,
    "what": what.WhatForm,
}


@require_http_methods(["GET", "POST"])
@admin_required
def campaign_new(request: HtmxRequest) -> HttpResponse:
    """The first step; posting it creates the draft the other steps fill in."""
    draft = Campaign(timezone=settings.TIME_ZONE)
    form = forms.DeliveryForm(request.POST or None, instance=draft)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            campaign = form.save()
            _record("created", campaign, request)
        messages.success(request, f"Draft “{campaign.name}” saved. Next: where it goes.")
        return redirect("campaigns:step", campaign.pk, "webhook")
    status = 422 if form.is_bound else 200
    return _render_step(request, draft, steps.STEPS[0], form, status)


@require_http_methods(["GET", "POST"])
@admin_required
def campaign_step(request: HtmxRequest, pk: int, step: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("webhook", "segment"), pk=pk)
    if step not in steps.SLUGS:
        raise Http404("No such step.")
    current = steps.STEPS[steps.SLUGS.index(step)]
    if step == "overview":
        return _render_step(request, campaign, current, None)
    locked = steps.locked_reason(campaign, step)
    form_class = FORMS[step]
    data = request.POST if request.method == "POST" else None
    initial = _initial(request, step)
    form = form_class(data, instance=campaign, initial=initial)
    if request.method == "POST":
        if locked:
            messages.error(request, locked)
            return redirect("campaigns:step", pk, step)
        if form.is_valid():
            with transaction.atomic():
                form.save()
                if campaign.status != CampaignStatus.DRAFT:
                    _record("edited", campaign, request)
            if step == "who" and campaign.segment_id is None and not campaign.rule:
                return redirect("campaigns:audience", pk)  # build or check the ad-hoc rule
            if "stay" in request.POST:
                messages.success(request, "Saved.")
                return redirect("campaigns:step", pk, step)
            return redirect("campaigns:step", pk, steps.next_step(step))
        return _render_step(request, campaign, current, form, 422)
    return _render_step(request, campaign, current, form)


@require_http_methods(["GET", "POST"])
@admin_required
def campaign_audience(request: HtmxRequest, pk: int) -> HttpResponse:
    """The campaign's ad-hoc audience: the segment builder, saving into the campaign."""
    campaign = get_object_or_404(Campaign, pk=pk)
    action_url = reverse("campaigns:audience", args=[pk])
    if request.method == "GET":
        holder = SimpleNamespace(name=campaign.name, description="", rule=campaign.rule or {})
        builder = (
            Builder.from_segment(holder) if campaign.rule else Builder(timezone=campaign.timezone)
        )
        return render_builder(request, builder, campaign=campaign, action_url=action_url)
    builder = Builder.from_post(request.POST)
    edit = request.POST.get("edit", "")
    if edit or "refresh" in request.POST:
        builder.apply(edit)
        response = render_builder(request, builder, campaign=campaign, action_url=action_url)
        return trigger_client_event(response, "refresh-preview")
    locked = steps.locked_reason(campaign, "who")
    if locked:
        builder.errors.setdefault("rule", []).append(locked)
    rule = builder.validate_rule()
    if rule is None or locked:
        return render_builder(
            request, builder, campaign=campaign, action_url=action_url, status=422
        )
    with transaction.atomic():
        campaign.rule = rule.model_dump(mode="json", exclude_defaults=False)
        campaign.segment = None
        campaign.save(update_fields=["rule", "segment", "updated_at"])
        if campaign.status != CampaignStatus.DRAFT:
            _record("edited", campaign, request)
    messages.success(request, "Audience saved with the campaign.")
    return redirect("campaigns:step", pk, "who")


@require_GET
@admin_required
def campaign_held_out(request: HtmxRequest, pk: int) -> HttpResponse:
    """How many members a run starting now would hold out, loaded after the Who step
    and the overview (counting a big audience takes a while). The Who step sends its
    form as it stands, so the figure follows the segment, cap and percent before they
    are saved; anything the form refuses falls back to what is saved."""
    campaign = get_object_or_404(Campaign.objects.select_related("segment"), pk=pk)
    if "control_percent" in request.GET:
        form = forms.WhoForm(request.GET, instance=campaign)
        if form.is_valid():
            form.save(commit=False)  # on this instance only: nothing is written
        else:
            campaign.refresh_from_db()
    try:
        held = sending.held_out(campaign)
    except (sending.NothingToSend, ValueError):
        held = None
    context = {"campaign": campaign, "held": held, "too_few": sending.TOO_FEW}
    return render(request, "campaigns/wizard/_held_out.html", context)


def _initial(request: HtmxRequest, step: str) -> dict:
    """Coming back from creating a webhook (``?webhook=<id>``) preselects it."""
    if step == "webhook" and request.GET.get("webhook", "").isdigit():
        return {"webhook": request.GET["webhook"]}
    return {}


def _render_step(request, campaign, current, form, status: int = 200) -> HttpResponse:
    done = steps.done(campaign) if campaign.pk else {}
    context = {
        "nav": "campaigns",
        "campaign": campaign,
        "step": current,
        "steps": [(s, done.get(s.slug, False)) for s in steps.STEPS],
        "form": form,
        "locked": steps.locked_reason(campaign, current.slug) if campaign.pk else "",
    }
    context |= _step_context(campaign, current.slug)
    return render(request, STEP_TEMPLATE, context, status=status)


def _step_context(campaign: Campaign, slug: str) -> dict:
    if slug == "delivery":
        return {"event_names": vocabulary.event_names(), "time_zones": time_zones()}
    if slug == "webhook":
        next_url = reverse("campaigns:step", args=[campaign.pk, "webhook"])
        return {"new_webhook_url": f"{reverse('webhooks:create')}?next={next_url}"}
    if slug == "who":
        return {"audience_summary": audience(campaign).get("rule")}
    if slug == "goal":
        return {"event_names": vocabulary.event_names()}
    if slug == "what":
        properties = vocabulary.profile_properties()
        events = vocabulary.event_properties()
        variables = template.variables_for(
            properties, (campaign.key_values or {}).keys(), _linked_names(campaign)
        )
        variables += [f"profile.Event_properties.{name}" for name in events if name.isidentifier()]
        return {
            "profile_properties": properties,
            "liquid_variables": variables,
            "can_test": campaign.webhook_id is not None,
        }
    if slug == "overview":
        try:
            problems = sending.problems(campaign)
        except ValueError as error:
            problems = [str(error)]
        if not problems and campaign.status == CampaignStatus.DRAFT:
            problems = samples.problems(campaign)  # every delivery like it would fail
        return {
            "problems": problems,
            "when": when(campaign),
            "audience": audience(campaign),
            "key_values": key_value_rows(campaign.key_values),
            "published": campaign.status != CampaignStatus.DRAFT,
        }
    return {}


def _linked_names(campaign: Campaign) -> list[str]:
    return [s.get("name", "") for s in campaign.linked_content or [] if isinstance(s, dict)]


def _record(verb: str, campaign: Campaign, request: HtmxRequest) -> None:
    ActivityEntry.record(f"campaign.{verb}", f"Campaign “{campaign.name}” {verb}", request.user)
