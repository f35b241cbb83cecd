"""When a webhook campaign sends: pure schedule arithmetic, no models, no I/O.

A campaign is one-time (a fixed instant), recurring (a `Recurrence` read in the
campaign's time zone) or live (one send per triggering event). Recurring times are
wall-clock times: "10:00 Europe/Berlin" is 09:00 UTC in winter and 08:00 UTC in summer.

Rules a marketer can rely on:

- A local time that does not exist (the spring-forward gap, e.g. 02:30 in Berlin on
  the last Sunday of March) sends at the first valid wall time after the gap, the
  moment the clocks jump (03:00 in Berlin). A local date that does not exist at all
  (Samoa skipped 30 December 2011) has no occurrence.
- A local time that happens twice (the fall-back hour) sends once, at the first of
  the two (fold=0, still on summer time).
- Monthly on day 29-31 sends on the last day of shorter months (the 31st becomes
  30 April and 28 or 29 February): "end of the month" campaigns never lose a month.
- Nothing is ever sent for a time already past: an occurrence more than
  `DEFAULT_GRACE` late is not sent (`runs.due_runs` records it as missed).
"""

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Frequency = Literal["daily", "weekly", "monthly"]
FREQUENCIES: tuple[Frequency, ...] = ("daily", "weekly", "monthly")

# Spelled out rather than calendar.day_name, which follows the process locale.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Beat ticks every minute, so an occurrence is normally seconds late; an hour covers a
# worker restart or a deploy without replaying yesterday's send after a long outage.
DEFAULT_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class Recurrence:
    """A repeating send time, in the campaign's local wall time.

    `weekday` (0 = Monday) is required for weekly and `day` (1-31) for monthly; each
    is refused for the other frequencies. `starts` and `ends` are inclusive local dates.
    Raises ValueError with a message fit for the campaign form.
    """

    every: Frequency
    at: time
    weekday: int | None = None
    day: int | None = None
    starts: date | None = None
    ends: date | None = None

    def __post_init__(self) -> None:
        if self.every not in FREQUENCIES:
            raise ValueError("Choose how often the campaign repeats: daily, weekly or monthly.")
        if not isinstance(self.at, time) or self.at.tzinfo is not None:
            raise ValueError("Give the send time as a local time of day, without a time zone.")
        if self.at.second or self.at.microsecond:
            raise ValueError("Choose a send time in whole minutes.")
        if self.every == "weekly":
            if not _is_int_in(self.weekday, 0, 6):
                raise ValueError("Choose the day of the week a weekly campaign sends on.")
        elif self.weekday is not None:
            raise ValueError("Only weekly campaigns take a day of the week.")
        if self.every == "monthly":
            if not _is_int_in(self.day, 1, 31):
                raise ValueError("Choose a day of the month between 1 and 31.")
        elif self.day is not None:
            raise ValueError("Only monthly campaigns take a day of the month.")
        if self.starts and self.ends and self.ends < self.starts:
            raise ValueError("The end date must be on or after the start date.")

    def describe(self, zone: ZoneInfo | None = None) -> str:
        """Return a one-line summary, e.g. "Every month on the 7th at 10:00 (Europe/Berlin)"."""
        at = f"{self.at:%H:%M}"
        if self.every == "daily":
            text = f"Every day at {at}"
        elif self.every == "weekly":
            text = f"Every {WEEKDAYS[self.weekday]} at {at}"
        else:
            text = f"Every month on the {_ordinal(self.day)}"
            if self.day > 28:
                text += " (the last day in shorter months)"
            text += f" at {at}"
        if zone is not None:
            text += f" ({zone.key})"
        if self.starts:
            text += f", from {self.starts.isoformat()}"
        if self.ends:
            text += f", until {self.ends.isoformat()}"
        return text


def local_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the aware UTC instant of naive local `wall` in `zone`.

    An ambiguous wall time takes its first instant; a nonexistent one (spring-forward
    gap) takes the moment the clocks jump, i.e. the first valid wall time after it.
    """
    if wall.tzinfo is not None:
        raise ValueError("wall must be a naive local datetime")
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # In a gap, fold=0 reads the wall time with the offset from before the jump and
    # fold=1 with the one after: the jump lies between those two instants, so bisect.
    early, late = wall.replace(tzinfo=zone, fold=1).astimezone(UTC), instant
    offset_before = early.astimezone(zone).utcoffset()
    while late - early > timedelta(seconds=1):
        mid = (early + (late - early) / 2).replace(microsecond=0)
        if mid.astimezone(zone).utcoffset() == offset_before:
            early = mid
        else:
            late = mid
    return late


def next_occurrence(recurrence: Recurrence, zone: ZoneInfo, after: datetime) -> datetime | None:
    """Return the first occurrence strictly after aware `after`, in UTC.

    Returns None when the recurrence has ended (no occurrence on or before `ends`).
    """
    _require_aware("after", after)
    first_day = after.astimezone(zone).date()
    if recurrence.starts and recurrence.starts > first_day:
        first_day = recurrence.starts
    for day in _candidate_days(recurrence, first_day):
        if recurrence.ends and day > recurrence.ends:
            return None
        instant = local_to_utc(datetime.combine(day, recurrence.at), zone)
        if instant.astimezone(zone).date() != day:
            continue  # the whole local day was skipped (Samoa, 30 December 2011)
        if instant > after:
            return instant
    raise AssertionError("unreachable: candidate days never run out")


def one_time_occurrence(send_at: datetime, now: datetime) -> datetime | None:
    """Return `send_at` in UTC while it is still ahead (or exactly `now`), else None."""
    _require_aware("send_at", send_at)
    _require_aware("now", now)
    return send_at.astimezone(UTC) if send_at >= now else None


def validate_send_at(send_at: datetime, now: datetime) -> None:
    """Raise ValueError, worded for the form, when a one-time send time has passed."""
    if one_time_occurrence(send_at, now) is None:
        raise ValueError(
            f"The send time {send_at:%Y-%m-%d %H:%M} ({send_at.tzname()}) has already "
            "passed. Choose a time in the future."
        )


def occurrence_key(when: datetime) -> str:
    """Return the idempotency key of a scheduled occurrence: its UTC minute,
    e.g. "2026-12-07T09:00Z". The same occurrence always gets the same key."""
    _require_aware("when", when)
    return f"{when.astimezone(UTC):%Y-%m-%dT%H:%M}Z"


def live_occurrence_key(event_id: int) -> str:
    """Return the idempotency key of a live send triggered by event `event_id`."""
    if not _is_int_in(event_id, 1, None):
        raise ValueError("event_id must be a positive integer")
    return f"event:{event_id}"


def _candidate_days(recurrence: Recurrence, first: date) -> Iterator[date]:
    """Yield the local dates on or after `first` the recurrence falls on, in order."""
    if recurrence.every == "daily":
        day, step = first, timedelta(days=1)
    elif recurrence.every == "weekly":
        day = first + timedelta(days=(recurrence.weekday - first.weekday()) % 7)
        step = timedelta(days=7)
    else:
        year, month = first.year, first.month
        while True:
            last = calendar.monthrange(year, month)[1]
            day = date(year, month, min(recurrence.day, last))
            if day >= first:
                yield day
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    while True:
        yield day
        day += step


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _is_int_in(value: object, low: int, high: int | None) -> bool:
    # bool is an int subclass; True must not pass as Tuesday or the 1st.
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return low <= value and (high is None or value <= high)


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
