"""The delivery log's reads: one page of rows and a count that never scans millions."""

from dataclasses import dataclass

from django.db.models import F, Value
from django.db.models.functions import Coalesce

from config.counts import bounded_count
from config.keyset import Page, SortKey, paginate
from deliveries.log.filtersets import DeliveryFilterSet

PER_PAGE = 50

# The log's sorts beyond time; each runs over an index ending in (created_at, id).
# The "Attempted At" column: the latest attempt, or the creation of a delivery not tried
# yet. Every sort of the log ends with it (and the id), as its indexes do.
ACTIVITY = SortKey(
    'COALESCE({t}."last_attempt_at", {t}."created_at")',
    lambda: Coalesce("last_attempt_at", "created_at"),
)

SORT_KEYS = {
    "time": None,
    "status": SortKey('{t}."status"', lambda: F("status")),
    # Deliveries without a response sort as code 0 (see the delivery_log_code index).
    "code": SortKey(
        'COALESCE({t}."last_response_code", 0)',
        lambda: Coalesce("last_response_code", Value(0)),
        kind=int,
    ),
}


@dataclass
class LogPage:
    page: Page
    count: int
    estimated: bool
    sort: str
    descending: bool


def log_page(filterset: DeliveryFilterSet, after: str | None, before: str | None) -> LogPage:
    """The page of a valid filterset's deliveries after or before a cursor, with the
    count of all its matches. Raises ``config.keyset.InvalidCursor``."""
    sort, descending = filterset.ordering
    page = paginate(
        filterset.qs,
        key=SORT_KEYS[sort],
        time_field=ACTIVITY,
        descending=descending,
        after=after,
        before=before,
        per_page=PER_PAGE,
    )
    count, estimated = bounded_count(filterset.qs)
    return LogPage(page, count, estimated, sort, descending)
