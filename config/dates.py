"""The calendar every date a user types must fall in: years 2000 to 2999.

Dates near the calendar's ends overflow arithmetic (9999-12-31 plus a day, or in a zone
west of UTC), and no webhook or campaign is about a year outside these. Forms, the API
and stored rules all bound dates with ``in_bounds`` and say so with ``OUT_OF_BOUNDS``.
"""

from datetime import date

EARLIEST_YEAR, LATEST_YEAR = 2000, 2999
OUT_OF_BOUNDS = f"Choose a date between the years {EARLIEST_YEAR} and {LATEST_YEAR}."


def in_bounds(value: date | None) -> bool:
    """True for None and for a date or datetime whose year is within the bounds."""
    return value is None or EARLIEST_YEAR <= value.year <= LATEST_YEAR
