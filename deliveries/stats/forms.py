"""The stats pages' query string: which window, and how the trend is grouped."""

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone

from config.dates import OUT_OF_BOUNDS, in_bounds
from deliveries.stats.windows import CUSTOM, GRANULARITIES, RANGES, Window

# The windows the stats pages offer, as their switch shows them.
STATS_RANGES = ("24h", "7d", "30d")
RANGE_LABELS = {**{name: RANGES[name].short for name in STATS_RANGES}, CUSTOM: "Custom"}
DEFAULT_RANGE = "7d"
MAX_CUSTOM_DAYS = 400
# Hourly bars beyond a week would be too thin to point at.
MAX_HOURLY_HOURS = 7 * 24


class StatsWindowForm(forms.Form):
    """The stats pages' query string: ``range`` (24h, 7d, 30d) or ``since``/``until``
    (ISO dates or datetimes; a date-only ``until`` includes that day), and the trend's
    ``granularity``. ``cleaned_data`` gains ``window`` (a ``Window``).

    A page with other named windows (a campaign's whole life) overrides ``range``,
    ``range_labels``, ``default_range`` and ``named_window``."""

    range_labels = RANGE_LABELS
    default_range = DEFAULT_RANGE

    range = forms.ChoiceField(label="Window", choices=list(RANGE_LABELS.items()), required=False)
    since = forms.DateTimeField(label="From", required=False)
    until = forms.DateTimeField(label="To", required=False)
    granularity = forms.ChoiceField(
        label="Trend",
        choices=[(name, name.title()) for name in GRANULARITIES],
        required=False,
    )

    def clean(self) -> dict:
        data = super().clean()
        for name in ("since", "until"):
            moment = data.get(name)
            if not in_bounds(moment):
                # Far dates overflow the window arithmetic: a form error, not a 500.
                self.add_error(name, OUT_OF_BOUNDS)
        if self.errors:
            return data
        since, until = data.get("since"), data.get("until")
        chosen = data.get("range") or (CUSTOM if since or until else self.default_range)
        if chosen == CUSTOM:
            if since is None:
                self.add_error("since", "Choose when the window starts.")
                return data
            if until is None:
                until = timezone.now()
            elif len(self.data.get("until", "").strip()) == len("2025-01-31"):
                until += timedelta(days=1)  # a date means up to the end of that day
            if since >= until:
                self.add_error("until", "The end must be after the start.")
                return data
            window = Window.covering(since, until)
            if window.hours > MAX_CUSTOM_DAYS * 24:
                self.add_error("until", f"Choose at most {MAX_CUSTOM_DAYS} days.")
                return data
        else:
            window = self.named_window(chosen, timezone.now())
        granularity = data.get("granularity") or ("hourly" if window.hours <= 48 else "daily")
        if granularity == "hourly" and window.hours > MAX_HOURLY_HOURS:
            granularity = "daily"
        data.update(range=chosen, window=window, granularity=granularity)
        return data

    def named_window(self, name: str, now: datetime) -> Window:
        """The window a named range (``range=7d``) stands for, at ``now``."""
        return Window.last(RANGES[name].hours, now)

    def window_params(self) -> dict[str, str]:
        """The delivery log's parameters for the same window."""
        data = self.cleaned_data
        if data["range"] in STATS_RANGES:
            return {"range": data["range"]}
        window = data["window"]
        return {"since": window.start.isoformat(), "until": window.end.isoformat()}
