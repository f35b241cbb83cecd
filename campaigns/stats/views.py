"""A campaign's stats page: /admin/campaigns/<pk>/stats.

The page renders at once from the rollups and the runs' counters; the figures read from
the recipients (profiles reached, goal conversions) arrive in a second request
(``campaign_audience``, fetched by htmx on load), since a campaign of a million
recipients takes about half a second to count. Without JavaScript that URL is the whole
page with them. An htmx request for the page itself renders only the trend.
"""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from campaigns.models import Campaign
from campaigns.stats import pages
from campaigns.stats.forms import CampaignStatsForm
from campaigns.summaries import badged, when
from config.web import HtmxRequest, admin_required, is_partial
from deliveries.stats import queries as delivery_stats
from deliveries.stats.pages import trend_context

STATS = "campaigns/stats.html"
TREND = "deliveries/stats/partials/stats_trend.html"
AUDIENCE = f"{STATS}#campaign-audience"


def _campaign(pk: int) -> Campaign:
    return badged(get_object_or_404(Campaign.objects.select_related("webhook"), pk=pk))


def _page(request: HtmxRequest, pk: int, inline: bool) -> HttpResponse:
    """The whole page; ``inline``: with the recipients' figures instead of fetching them."""
    campaign = _campaign(pk)
    first_attempt = delivery_stats.first_activity(campaign.pk)
    form = CampaignStatsForm(request.GET, start=pages.whole_start(campaign, first_attempt))
    context = {"campaign": campaign, "nav": "campaigns", "form": form, "when": when(campaign)}
    if not form.is_valid():
        context |= {"ranges": form.range_labels, "range": ""}
        return render(request, STATS, context, status=422)
    context["sent"] = pages.has_sent(campaign, first_attempt)
    if context["sent"]:
        context |= pages.stats_context(campaign, form)
        if inline:
            context |= pages.audience_context(campaign, form) | {"inline": True}
    return render(request, STATS, context)


def _fragment_form(request: HtmxRequest, campaign: Campaign) -> CampaignStatsForm:
    first_attempt = delivery_stats.first_activity(campaign.pk)
    return CampaignStatsForm(request.GET, start=pages.whole_start(campaign, first_attempt))


@require_GET
@admin_required
@vary_on_headers("HX-Request")
def campaign_stats(request: HtmxRequest, pk: int) -> HttpResponse:
    if not is_partial(request):
        return _page(request, pk, inline=False)
    campaign = _campaign(pk)
    form = _fragment_form(request, campaign)
    if not form.is_valid():
        return render(request, TREND, {"form": form}, status=422)
    return render(request, TREND, trend_context(form, campaign_id=campaign.pk))


@require_GET
@admin_required
@vary_on_headers("HX-Request")
def campaign_audience(request: HtmxRequest, pk: int) -> HttpResponse:
    """Profiles reached and goal conversions (``#campaign-audience``, with the reached
    card out of band); the whole page for a request that is not htmx's."""
    if not is_partial(request):
        return _page(request, pk, inline=True)
    campaign = _campaign(pk)
    form = _fragment_form(request, campaign)
    if not form.is_valid():
        return render(request, AUDIENCE, {"campaign": campaign, "form": form}, status=422)
    context = {"campaign": campaign, "form": form, "oob": True}
    return render(request, AUDIENCE, context | pages.audience_context(campaign, form))
