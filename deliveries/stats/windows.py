"""The time windows of stats and the delivery log: one vocabulary for both.

A stats window is whole UTC hours, since the rollups are hourly. The named ranges
(``RANGES``) mean the same span on every page: the last 24 hours, 7 days, 30 days.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from django.db.models import Q

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Range:
    hours: int
    label: str  # in the delivery log's Time filter
    short: str  # on the stats pages' window switch


# The named windows, by the name they carry in a URL (``range=7d``).
RANGES = {
    "1h": Range(1, "Last hour", "1 h"),
    "24h": Range(24, "Last 24 hours", "24 h"),
    "7d": Range(7 * 24, "Last 7 days", "7 d"),
    "30d": Range(30 * 24, "Last 30 days", "30 d"),
}
# A window given by its start and end (``since``/``until``) instead.
CUSTOM = "custom"


def hour_floor(moment: datetime) -> datetime:
    """The start of the UTC hour ``moment`` falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_floor(moment: datetime) -> datetime:
    """The start of the UTC day ``moment`` falls in."""
    return hour_floor(moment).replace(hour=0)


def hour_ceil(moment: datetime) -> datetime:
    """The first UTC hour boundary at or after ``moment``."""
    floor = hour_floor(moment)
    return floor if floor == moment else floor + HOUR


@dataclass(frozen=True)
class Window:
    """A time range of whole UTC hours: ``start`` inclusive, ``end`` exclusive; None is
    open-ended."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def covering(cls, start: datetime | None = None, end: datetime | None = None) -> "Window":
        """The smallest window of whole hours that contains [start, end)."""
        try:
            end = hour_ceil(end) if end else None
        except OverflowError:  # within an hour of datetime.max
            end = None
        return cls(hour_floor(start) if start else None, end)

    @classmethod
    def last(cls, hours: int, now: datetime) -> "Window":
        """The last ``hours`` hours, the current (unfinished) hour included."""
        end = hour_floor(now) + HOUR
        return cls(end - timedelta(hours=hours), end)

    @property
    def hours(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start) / HOUR

    def q(self, field: str = "bucket") -> Q:
        condition = Q()
        if self.start is not None:
            condition &= Q(**{f"{field}__gte": self.start})
        if self.end is not None:
            condition &= Q(**{f"{field}__lt": self.end})
        return condition


# --- Trend periods ----------------------------------------------------------------------

GRANULARITIES = ("hourly", "daily", "weekly", "monthly")


def period_start(moment: datetime, granularity: str, zone: tzinfo) -> datetime:
    """The start, in ``zone``, of the period ``moment`` falls in."""
    local = moment.astimezone(zone)
    if granularity == "hourly":
        return local.replace(minute=0, second=0, microsecond=0)
    day = datetime(local.year, local.month, local.day, tzinfo=zone)
    if granularity == "weekly":
        return day - timedelta(days=day.weekday())
    if granularity == "monthly":
        return day.replace(day=1)
    return day


def next_period(start: datetime, granularity: str, zone: tzinfo) -> datetime:
    if granularity == "hourly":
        return (start + HOUR).astimezone(zone)
    if granularity == "weekly":
        return start + timedelta(days=7)  # wall-clock arithmetic: midnight stays midnight
    if granularity == "monthly":
        year, month = divmod(start.month, 12)
        return start.replace(year=start.year + year, month=month + 1)
    return start + timedelta(days=1)
