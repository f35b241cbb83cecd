from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from campaigns.sending.schedule import (
    Recurrence,
    live_occurrence_key,
    local_to_utc,
    next_occurrence,
    occurrence_key,
    one_time_occurrence,
    validate_send_at,
)

BERLIN = ZoneInfo("Europe/Berlin")
# Europe/Berlin in 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def occurrences(recurrence, after, count, zone=BERLIN):
    found = []
    for _ in range(count):
        after = next_occurrence(recurrence, zone, after)
        found.append(after)
    return found


def test_monthly_on_the_7th_keeps_10_00_berlin_across_both_dst_changes():
    seventh = Recurrence("monthly", time(10), day=7)
    assert occurrences(seventh, utc(2026, 2, 10), 9) == [
        utc(2026, 3, 7, 9),  # winter, UTC+1
        utc(2026, 4, 7, 8),  # summer, UTC+2
        utc(2026, 5, 7, 8),
        utc(2026, 6, 7, 8),
        utc(2026, 7, 7, 8),
        utc(2026, 8, 7, 8),
        utc(2026, 9, 7, 8),
        utc(2026, 10, 7, 8),
        utc(2026, 11, 7, 9),  # winter again
    ]


def test_next_occurrence_is_strictly_after():
    seventh = Recurrence("monthly", time(10), day=7)
    assert next_occurrence(seventh, BERLIN, utc(2026, 12, 7, 8, 59)) == utc(2026, 12, 7, 9)
    assert next_occurrence(seventh, BERLIN, utc(2026, 12, 7, 9)) == utc(2027, 1, 7, 9)


def test_next_occurrence_accepts_after_in_any_zone():
    seventh = Recurrence("monthly", time(10), day=7)
    tokyo_after = datetime(2026, 12, 7, 17, 59, tzinfo=ZoneInfo("Asia/Tokyo"))  # 08:59 UTC
    assert next_occurrence(seventh, BERLIN, tokyo_after) == utc(2026, 12, 7, 9)


def test_weekly_on_monday_across_spring_forward():
    mondays = Recurrence("weekly", time(10), weekday=0)
    # Wednesday 18 March 2026.
    assert occurrences(mondays, utc(2026, 3, 18, 12), 3) == [
        utc(2026, 3, 23, 9),
        utc(2026, 3, 30, 8),
        utc(2026, 4, 6, 8),
    ]


def test_weekly_on_the_same_day_later_that_day():
    mondays = Recurrence("weekly", time(10), weekday=0)
    assert next_occurrence(mondays, BERLIN, utc(2026, 3, 23, 7)) == utc(2026, 3, 23, 9)


def test_daily_across_fall_back():
    daily = Recurrence("daily", time(10))
    assert occurrences(daily, utc(2026, 10, 23, 12), 3) == [
        utc(2026, 10, 24, 8),
        utc(2026, 10, 25, 9),
        utc(2026, 10, 26, 9),
    ]


def test_0230_on_spring_forward_day_sends_when_the_clocks_jump_to_0300():
    daily = Recurrence("daily", time(2, 30))
    assert occurrences(daily, utc(2026, 3, 28), 3) == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 0),  # 02:30 does not exist: 03:00 CEST
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]
    sent = next_occurrence(daily, BERLIN, utc(2026, 3, 28, 12))
    assert sent.astimezone(BERLIN).time() == time(3, 0)


def test_ambiguous_0230_in_october_sends_once_at_the_first_0230():
    daily = Recurrence("daily", time(2, 30))
    assert occurrences(daily, utc(2026, 10, 24, 12), 2) == [
        utc(2026, 10, 25, 0, 30),  # the first 02:30, still CEST
        utc(2026, 10, 26, 1, 30),  # not the second 02:30 (01:30 UTC on the 25th)
    ]


def test_a_skipped_local_day_has_no_occurrence():
    apia = ZoneInfo("Pacific/Apia")  # jumped from 29 to 31 December 2011
    daily = Recurrence("daily", time(10))
    found = occurrences(daily, datetime(2011, 12, 29, 12, tzinfo=apia), 2, zone=apia)
    assert [o.astimezone(apia).date() for o in found] == [date(2011, 12, 31), date(2012, 1, 1)]


def test_local_to_utc_resolves_gaps_and_folds():
    assert local_to_utc(datetime(2026, 3, 29, 2, 30), BERLIN) == utc(2026, 3, 29, 1)
    assert local_to_utc(datetime(2026, 10, 25, 2, 30), BERLIN) == utc(2026, 10, 25, 0, 30)
    assert local_to_utc(datetime(2026, 7, 1, 12), BERLIN) == utc(2026, 7, 1, 10)


def test_day_31_runs_on_the_last_day_of_shorter_months():
    last = Recurrence("monthly", time(10), day=31)
    assert occurrences(last, utc(2026, 1, 1), 5) == [
        utc(2026, 1, 31, 9),
        utc(2026, 2, 28, 9),
        utc(2026, 3, 31, 8),
        utc(2026, 4, 30, 8),
        utc(2026, 5, 31, 8),
    ]


def test_day_30_in_a_leap_february_runs_on_the_29th():
    thirtieth = Recurrence("monthly", time(10), day=30)
    assert next_occurrence(thirtieth, BERLIN, utc(2028, 2, 1)) == utc(2028, 2, 29, 9)


def test_starts_in_the_future_sends_first_on_or_after_it():
    seventh = Recurrence("monthly", time(10), day=7, starts=date(2026, 6, 1))
    assert next_occurrence(seventh, BERLIN, utc(2026, 1, 1)) == utc(2026, 6, 7, 8)
    on_the_day = Recurrence("monthly", time(10), day=7, starts=date(2026, 6, 7))
    assert next_occurrence(on_the_day, BERLIN, utc(2026, 1, 1)) == utc(2026, 6, 7, 8)


def test_created_after_the_7th_waits_for_next_month():
    seventh = Recurrence("monthly", time(10), day=7)
    assert next_occurrence(seventh, BERLIN, utc(2026, 5, 9, 12)) == utc(2026, 6, 7, 8)


def test_ends_in_the_past_gives_none():
    ended = Recurrence("monthly", time(10), day=7, ends=date(2025, 12, 31))
    assert next_occurrence(ended, BERLIN, utc(2026, 1, 1)) is None


def test_ends_is_inclusive():
    until = Recurrence("monthly", time(10), day=7, ends=date(2026, 3, 7))
    assert next_occurrence(until, BERLIN, utc(2026, 3, 1)) == utc(2026, 3, 7, 9)
    assert next_occurrence(until, BERLIN, utc(2026, 3, 7, 9)) is None


def test_next_occurrence_refuses_naive_after():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_occurrence(Recurrence("daily", time(10)), BERLIN, datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every": "hourly", "at": time(10)}, "daily, weekly or monthly"),
        ({"every": "daily", "at": "10:00"}, "local time of day"),
        ({"every": "daily", "at": time(10, tzinfo=UTC)}, "without a time zone"),
        ({"every": "daily", "at": time(10, 0, 30)}, "whole minutes"),
        ({"every": "weekly", "at": time(10)}, "day of the week"),
        ({"every": "weekly", "at": time(10), "weekday": 7}, "day of the week"),
        ({"every": "weekly", "at": time(10), "weekday": True}, "day of the week"),
        ({"every": "daily", "at": time(10), "weekday": 0}, "Only weekly"),
        ({"every": "monthly", "at": time(10)}, "between 1 and 31"),
        ({"every": "monthly", "at": time(10), "day": 0}, "between 1 and 31"),
        ({"every": "monthly", "at": time(10), "day": 32}, "between 1 and 31"),
        ({"every": "weekly", "at": time(10), "weekday": 0, "day": 7}, "Only monthly"),
        (
            {
                "every": "daily",
                "at": time(10),
                "starts": date(2026, 2, 1),
                "ends": date(2026, 1, 1),
            },
            "end date must be on or after",
        ),
    ],
)
def test_recurrence_refuses_invalid_fields(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Recurrence(**kwargs)


def test_recurrence_is_frozen():
    daily = Recurrence("daily", time(10))
    with pytest.raises(AttributeError):
        daily.at = time(11)


@pytest.mark.parametrize(
    ("recurrence", "text"),
    [
        (Recurrence("monthly", time(10), day=7), "Every month on the 7th at 10:00 (Europe/Berlin)"),
        (Recurrence("weekly", time(9, 5), weekday=0), "Every Monday at 09:05 (Europe/Berlin)"),
        (Recurrence("daily", time(18, 30)), "Every day at 18:30 (Europe/Berlin)"),
        (
            Recurrence("monthly", time(10), day=31),
            "Every month on the 31st (the last day in shorter months) at 10:00 (Europe/Berlin)",
        ),
        (
            Recurrence("daily", time(8), starts=date(2026, 1, 1), ends=date(2026, 6, 30)),
            "Every day at 08:00 (Europe/Berlin), from 2026-01-01, until 2026-06-30",
        ),
    ],
)
def test_describe(recurrence, text):
    assert recurrence.describe(BERLIN) == text


@pytest.mark.parametrize(
    ("day", "ordinal"),
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th")]
    + [(13, "13th"), (21, "21st"), (22, "22nd"), (23, "23rd"), (30, "30th")],
)
def test_describe_ordinals(day, ordinal):
    text = Recurrence("monthly", time(10), day=day).describe()
    assert text.startswith(f"Every month on the {ordinal} ")


def test_one_time_occurrence_in_the_future_is_returned_in_utc():
    send_at = datetime(2026, 12, 7, 10, tzinfo=BERLIN)
    assert one_time_occurrence(send_at, utc(2026, 12, 1)) == utc(2026, 12, 7, 9)
    assert one_time_occurrence(send_at, utc(2026, 12, 7, 9)) == utc(2026, 12, 7, 9)


def test_one_time_occurrence_already_past_is_none():
    send_at = datetime(2026, 12, 7, 10, tzinfo=BERLIN)
    assert one_time_occurrence(send_at, utc(2026, 12, 7, 9, 1)) is None


def test_validate_send_at_refuses_a_published_date_already_past():
    send_at = datetime(2026, 12, 7, 10, tzinfo=BERLIN)
    with pytest.raises(ValueError) as error:
        validate_send_at(send_at, utc(2026, 12, 8))
    assert str(error.value) == (
        "The send time 2026-12-07 10:00 (CET) has already passed. Choose a time in the future."
    )
    validate_send_at(send_at, utc(2026, 12, 6))


def test_validate_send_at_refuses_a_naive_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_send_at(datetime(2026, 12, 7, 10), utc(2026, 12, 1))


DAILY_10 = Recurrence("daily", time(10))  # 09:00 UTC in March before the 29th


def test_occurrence_key_is_the_utc_minute():
    assert occurrence_key(utc(2026, 12, 7, 9)) == "2026-12-07T09:00Z"


def test_occurrence_key_is_stable_for_the_same_occurrence():
    seventh = Recurrence("monthly", time(10), day=7)
    first = next_occurrence(seventh, BERLIN, utc(2026, 12, 1))
    again = next_occurrence(seventh, BERLIN, utc(2026, 12, 7, 8, 30))
    in_berlin = datetime(2026, 12, 7, 10, 0, 42, tzinfo=BERLIN)
    keys = {occurrence_key(first), occurrence_key(again), occurrence_key(in_berlin)}
    assert keys == {"2026-12-07T09:00Z"}


def test_occurrence_keys_differ_for_the_two_0230s_in_october():
    assert occurrence_key(utc(2026, 10, 25, 0, 30)) != occurrence_key(utc(2026, 10, 25, 1, 30))


def test_live_occurrence_key():
    assert live_occurrence_key(42) == "event:42"
    for bad in (0, -1, True, "42"):
        with pytest.raises(ValueError):
            live_occurrence_key(bad)
