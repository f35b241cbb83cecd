"""What a campaign's stats page shows for a window, each figure with the page that lists
it: delivery figures from the delivery rollups (``deliveries.stats``), audience figures
from the campaign's runs and recipients (``campaigns.stats.queries``)."""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.urls import reverse

from campaigns.models import Campaign
from campaigns.stats import queries
from campaigns.stats.forms import CampaignStatsForm
from deliveries.stats import queries as delivery_stats
from deliveries.stats.pages import (
    FAILED,
    attempts_url,
    error_rows,
    log_url,
    status_rows,
    trend_context,
    window_context,
)


def whole_start(campaign: Campaign, first_attempt: datetime | None) -> datetime:
    """Where the campaign's whole life starts: its publication (its creation if never
    published), or its first attempt (``delivery_stats.first_activity``) if earlier."""
    start = campaign.published_at or campaign.created_at
    return min(start, first_attempt) if first_attempt else start


def has_sent(campaign: Campaign, first_attempt: datetime | None) -> bool:
    """Whether the campaign sent anything: an attempt, a run, or a delivery written (one
    query at most for a campaign that did, two for one that did not)."""
    return (
        first_attempt is not None
        or campaign.runs.exists()
        or bool(delivery_stats.deliveries_by_campaign([campaign.pk]))
    )


def runs_window(form: CampaignStatsForm):
    """The window audience figures are counted over: none for the whole campaign (every
    run, however long ago), else the runs started in the form's window."""
    return None if form.whole else form.cleaned_data["window"]


def stats_context(campaign: Campaign, form: CampaignStatsForm) -> dict:
    """Everything the page shows but the recipients' figures (``audience_context``):
    payloads, attempts, durations, trend, errors and statuses, and the runs' counters."""
    window = form.cleaned_data["window"]
    # Every log link keeps the campaign and the window.
    scope = (("campaign", str(campaign.pk)), *form.window_params().items())
    result = delivery_stats.breakdown(window, campaign_id=campaign.pk)
    counts = delivery_stats.delivery_statuses(window, campaign_id=campaign.pk)
    return {
        **window_context(form),
        "figures": result.figures,
        "errors": error_rows(result, scope),
        "statuses": status_rows(counts, scope),
        "deliveries": sum(counts.values()),
        "streamed_url": log_url(*scope),
        "all_url": attempts_url(*scope),
        "failed_url": attempts_url(*scope, FAILED),
        "runs": queries.audience(queries.runs_in(campaign, runs_window(form))),
        "audience_url": audience_url(campaign, form),
        **trend_context(form, campaign_id=campaign.pk),
    }


def audience_url(campaign: Campaign, form: CampaignStatsForm) -> str:
    query = {k: v for k, v in form.data.items() if k in ("range", "since", "until") and v}
    url = reverse("campaigns:stats_audience", args=[campaign.pk])
    return f"{url}?{urlencode(query)}" if query else url


@dataclass
class Counted:
    """A recipients figure, or why it is missing."""

    value: object = None
    too_slow: bool = False


def audience_context(campaign: Campaign, form: CampaignStatsForm) -> dict:
    """The figures read from the recipients (three queries, each cut off after
    ``queries.QUERY_TIMEOUT_MS``): profiles reached, and goal conversions of the targets
    against the control group."""
    window = runs_window(form)
    runs = queries.audience(queries.runs_in(campaign, window))
    context = {
        "runs": runs,
        "reached": _counted(queries.reached, campaign, window),
        "conversions": Counted(),
    }
    if campaign.goal_event:
        context["conversions"] = _counted(queries.conversions, campaign, window, runs)
    return context


def _counted(count, *args) -> Counted:
    try:
        return Counted(queries.bounded(count, *args))
    except queries.TooSlow:
        return Counted(too_slow=True)
