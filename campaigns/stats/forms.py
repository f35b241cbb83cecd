"""The campaign stats page's query string: the webhook stats pages' windows, plus the
campaign's whole life (the default)."""

from datetime import datetime, timedelta

from django import forms

from deliveries.stats.forms import MAX_CUSTOM_DAYS, RANGE_LABELS, StatsWindowForm
from deliveries.stats.windows import HOUR, Window, hour_floor

WHOLE = "all"
CAMPAIGN_RANGES = {WHOLE: "Whole campaign", **RANGE_LABELS}


class CampaignStatsForm(StatsWindowForm):
    """``range=all`` (the default) is the campaign's whole life: from the hour of its
    first activity (``start``) to the end of the current hour."""

    range_labels = CAMPAIGN_RANGES
    default_range = WHOLE

    range = forms.ChoiceField(label="Window", choices=list(CAMPAIGN_RANGES.items()), required=False)

    def __init__(self, data, start: datetime, **kwargs):
        super().__init__(data, **kwargs)
        self.start = start

    def named_window(self, name: str, now: datetime) -> Window:
        if name != WHOLE:
            return super().named_window(name, now)
        end = hour_floor(now) + HOUR
        # Older figures are purged with their deliveries (retention) anyway.
        start = max(hour_floor(self.start), end - timedelta(days=MAX_CUSTOM_DAYS))
        return Window(min(start, end - HOUR), end)

    @property
    def whole(self) -> bool:
        return self.cleaned_data.get("range") == WHOLE
