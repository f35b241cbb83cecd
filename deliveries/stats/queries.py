"""Delivery stats read from the rollups, for the stats API and the stats pages alike.

No query here reads the attempts or deliveries tables. The status breakdown counts
deliveries created in the window, by their status now.
"""

from collections import defaultdict
from datetime import UTC, datetime, tzinfo

from django.db import connection
from django.db.models import Max, Q, QuerySet, Sum, Value

from deliveries.models import (
    HISTOGRAM_FIELDS,
    AttemptRollup,
    DailyAttemptRollup,
    DeliveryStatus,
    DeliveryStatusCount,
)
from deliveries.stats.figures import (
    Breakdown,
    ErrorKind,
    Figures,
    TrendPoint,
    error_kind,
    group_errors,
)
from deliveries.stats.windows import DAY, Window, day_floor, next_period, period_start

# --- Attempt figures ------------------------------------------------------------------


def _sums() -> dict:
    return {
        "count": Sum("count"),
        "duration_sum": Sum("duration_sum"),
        "duration_max": Max("duration_max"),
        "last_attempt_at": Max("last_attempt_at"),
        **{name: Sum(name) for name in HISTOGRAM_FIELDS},
    }


def _parts(
    window: Window, webhook_id: int | None, campaign_id: int | None, hourly: bool = False
) -> list[QuerySet]:
    """The rollup rows that cover the window once: daily rows for the whole UTC days in
    it, hourly rows for the rest (only hourly rows if ``hourly``)."""
    first = window.start and (
        window.start if window.start == day_floor(window.start) else day_floor(window.start) + DAY
    )
    last = window.end and day_floor(window.end)
    if hourly or (first and last and first >= last):
        parts = [AttemptRollup.objects.filter(window.q())]
    else:
        parts = [DailyAttemptRollup.objects.filter(Window(first, last).q())]
        # The partial days at either end, each its own index range (an OR of the two
        # inside the window's range made PostgreSQL read every hour of the window).
        if first:
            parts.append(AttemptRollup.objects.filter(Window(window.start, first).q()))
        if last:
            parts.append(AttemptRollup.objects.filter(Window(last, window.end).q()))
    if webhook_id is not None:
        parts = [part.filter(webhook_id=webhook_id) for part in parts]
    if campaign_id is not None:
        parts = [part.filter(campaign_id=campaign_id) for part in parts]
    return parts


def _grouped(parts: list[QuerySet], keys: tuple[str, ...], **aggregates) -> list[dict]:
    """Each part grouped by ``keys`` with ``aggregates``, in one UNION ALL query. No
    keys: one row in all (``values()`` without fields would group by every column, a
    row per rollup row).

    On PostgreSQL the parts' groups are merged in the same query, and read without the
    ORM's per-value converters: the dashboard's breakdown was hundreds of rows, a group
    per part, and their conversion was a fifth of the page's time. Elsewhere (SQLite)
    a group may come once per part; callers add them up either way."""
    if not keys:
        parts = [part.annotate(whole=Value(True)) for part in parts]
        keys = ("whole",)
    grouped = [part.values(*keys).annotate(**aggregates).order_by() for part in parts]
    combined = grouped[0].union(*grouped[1:], all=True) if len(grouped) > 1 else grouped[0]
    if connection.vendor != "postgresql":
        return list(combined)
    quote = connection.ops.quote_name
    merged = [quote(key) for key in keys]
    for name, aggregate in aggregates.items():
        merged.append(f"{MERGE[type(aggregate)].format(quote(name))} AS {quote(name)}")
    sql, params = combined.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(merged)} FROM ({sql}) AS parts "
            f"GROUP BY {', '.join(quote(key) for key in keys)}",
            params,
        )
        return [dict(zip((*keys, *aggregates), row, strict=True)) for row in cursor.fetchall()]


# How the groups of several parts merge: sums of counts and durations (bigint, as the
# ORM gives them: a sum of bigints is numeric in PostgreSQL), and maxima.
MERGE = {Sum: "SUM({})::bigint", Max: "MAX({})"}


def summary(
    window: Window, webhook_id: int | None = None, campaign_id: int | None = None
) -> Figures:
    """Attempt figures over the window, for one webhook or campaign or all (one query)."""
    figures = Figures()
    for row in _grouped(_parts(window, webhook_id, campaign_id), ("success",), **_sums()):
        row["success_count"] = row["count"] if row["success"] else 0
        figures.add(row)
    return figures


def attempt_count(
    window: Window,
    webhook_id: int | None = None,
    success: bool | None = None,
    failure_reason: str | None = None,
    code_class: str | None = None,
    campaign_id: int | None = None,
) -> int:
    """How many attempts the window holds, narrowed like the attempts log (one query):
    the number every attempt figure of the stats pages is a sum of."""
    parts = _parts(window, webhook_id, campaign_id)
    narrowing = {}
    if success is not None:
        narrowing["success"] = success
    if failure_reason is not None:
        narrowing["failure_reason"] = failure_reason
    if code_class is not None:
        narrowing["code_class"] = code_class
    rows = _grouped([part.filter(**narrowing) for part in parts], (), total=Sum("count"))
    return sum(row["total"] or 0 for row in rows)


def failure_reasons(
    webhook_id: int, since: datetime
) -> list[tuple[ErrorKind, int, datetime | None]]:
    """A webhook's failed attempts since the hour of ``since``, by kind of error (most
    first), each with its count and the time of the latest (one query)."""
    rows = _grouped(
        [
            part.filter(success=False)
            for part in _parts(Window.covering(since), webhook_id, campaign_id=None)
        ],
        ("failure_reason", "code_class"),
        count=Sum("count"),
        last=Max("last_attempt_at"),
    )
    kinds: dict[ErrorKind, list] = {}
    for row in rows:
        seen = kinds.setdefault(error_kind(row["failure_reason"], row["code_class"]), [0, None])
        seen[0] += row["count"]
        if row["last"] and (seen[1] is None or row["last"] > seen[1]):
            seen[1] = row["last"]
    return sorted(
        ((kind, count, last) for kind, (count, last) in kinds.items() if count),
        key=lambda item: (-item[1], item[0].label),
    )


# --- The dashboard's breakdown --------------------------------------------------------


def breakdown(
    window: Window, webhook_id: int | None = None, campaign_id: int | None = None
) -> Breakdown:
    """Attempt figures over the window in total, by webhook and by error (one query)."""
    rows = _grouped(
        _parts(window, webhook_id, campaign_id),
        ("webhook_id", "success", "failure_reason", "code_class"),
        **_sums(),
    )
    figures = Figures()
    by_webhook: dict[int, Figures] = defaultdict(Figures)
    errors: dict[ErrorKind, int] = defaultdict(int)
    for row in rows:
        row["success_count"] = row["count"] if row["success"] else 0
        figures.add(row)
        by_webhook[row["webhook_id"]].add(row)
        if not row["success"]:
            errors[error_kind(row["failure_reason"], row["code_class"])] += row["count"]
    return Breakdown(figures, dict(by_webhook), group_errors(errors))


# --- Campaigns -----------------------------------------------------------------------


def by_campaign(campaign_ids: list[int]) -> dict[int, Figures]:
    """All the attempt figures each campaign has (within retention), one query over the
    daily rollups (always the sum of the hourly ones); campaigns without attempts are
    left out."""
    figures: dict[int, Figures] = defaultdict(Figures)
    if not campaign_ids:
        return {}
    rows = _grouped(
        [DailyAttemptRollup.objects.filter(campaign_id__in=campaign_ids)],
        ("campaign_id", "success"),
        **_sums(),
    )
    for row in rows:
        row["success_count"] = row["count"] if row["success"] else 0
        figures[row["campaign_id"]].add(row)
    return dict(figures)


def deliveries_by_campaign(campaign_ids: list[int]) -> dict[int, int]:
    """How many deliveries each campaign has (within retention, whatever their status):
    one query over DeliveryStatusCount; campaigns without any are left out."""
    if not campaign_ids:
        return {}
    rows = (
        DeliveryStatusCount.objects.filter(campaign_id__in=campaign_ids)
        .values_list("campaign_id")
        .annotate(total=Sum("count"))
        .order_by()
    )
    return {campaign_id: total for campaign_id, total in rows if total}


def first_activity(campaign_id: int) -> datetime | None:
    """The first hour a campaign's attempts are counted in (None without any): one
    index probe (the rollups' (campaign, bucket) index)."""
    return (
        AttemptRollup.objects.filter(campaign_id=campaign_id)
        .order_by("bucket")
        .values_list("bucket", flat=True)
        .first()
    )


# --- Trend ----------------------------------------------------------------------------

UTC_ZONES = {UTC, "UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/Universal", "Universal", "Zulu"}


def trend(
    window: Window,
    granularity: str,
    zone: tzinfo,
    webhook_id: int | None = None,
    campaign_id: int | None = None,
) -> list[TrendPoint]:
    """Delivered (2xx) and failed attempts per period of the window, oldest first, with
    empty periods included (one query). The window needs a start and an end."""
    # Daily rows serve the periods only where local days are UTC days.
    hourly = granularity == "hourly" or getattr(zone, "key", zone) not in UTC_ZONES
    rows = _grouped(
        _parts(window, webhook_id, campaign_id, hourly=hourly),
        ("bucket",),
        delivered=Sum("count", filter=Q(success=True)),
        failed=Sum("count", filter=Q(success=False)),
    )
    points: dict[datetime, TrendPoint] = {}
    moment = period_start(window.start, granularity, zone)
    while moment < window.end:
        points[moment] = TrendPoint(moment)
        moment = next_period(moment, granularity, zone)
    for row in rows:
        start = period_start(row["bucket"], granularity, zone)
        point = points.setdefault(start, TrendPoint(start))
        point.delivered += row["delivered"] or 0
        point.failed += row["failed"] or 0
    return sorted(points.values(), key=lambda point: point.start)


# --- Delivery statuses ----------------------------------------------------------------


def delivery_statuses(
    window: Window, webhook_id: int | None = None, campaign_id: int | None = None
) -> dict[str, int]:
    """Deliveries created in the window by their status now, every status present
    (one query over DeliveryStatusCount)."""
    rows = DeliveryStatusCount.objects.filter(window.q())
    if webhook_id is not None:
        rows = rows.filter(webhook_id=webhook_id)
    if campaign_id is not None:
        rows = rows.filter(campaign_id=campaign_id)
    counts = dict(rows.values_list("status").annotate(total=Sum("count")).order_by())
    return {status: counts.get(status, 0) for status in DeliveryStatus.values}
