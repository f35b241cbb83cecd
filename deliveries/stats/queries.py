"""Delivery stats read from the rollups, for the stats API and the stats pages alike.

No query here reads the attempts or deliveries tables. The status breakdown counts
deliveries created in the window, by their status now.
"""

from collections import defaultdict
from datetime import UTC, datetime, tzinfo

from deliveries.models import AttemptRollup, DeliveryStatus
from deliveries.stats.figures import (
    Breakdown,
    ErrorKind,
    Figures,
    TrendPoint,
    error_kind,
    group_errors,
)
from deliveries.stats.parts import (
    ATTEMPTS,
    FIGURES,
    STATUSES,
    Part,
    grouped,
    latest,
    parts,
    total,
)
from deliveries.stats.windows import Window, next_period, period_start

# --- Attempt figures ------------------------------------------------------------------


def _scope(webhook_id: int | None, campaign_id: int | None) -> tuple[tuple[str, int], ...]:
    """The filters of one webhook's or one campaign's rows (none: the workspace's)."""
    scope = ()
    if webhook_id is not None:
        scope += (("webhook_id", webhook_id),)
    if campaign_id is not None:
        scope += (("campaign_id", campaign_id),)
    return scope


def summary(
    window: Window, webhook_id: int | None = None, campaign_id: int | None = None
) -> Figures:
    """Attempt figures over the window, for one webhook or campaign or all (one query)."""
    figures = Figures()
    rows = grouped(parts(window), ("success",), FIGURES, _scope(webhook_id, campaign_id))
    for row in rows:
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
    narrowing = _scope(webhook_id, campaign_id)
    if success is not None:
        narrowing += (("success", success),)
    if failure_reason is not None:
        narrowing += (("failure_reason", failure_reason),)
    if code_class is not None:
        narrowing += (("code_class", code_class),)
    rows = grouped(parts(window), (), (total("total"),), narrowing)
    return sum(row["total"] or 0 for row in rows)


def failure_reasons(
    webhook_id: int, since: datetime
) -> list[tuple[ErrorKind, int, datetime | None]]:
    """A webhook's failed attempts since the hour of ``since``, by kind of error (most
    first), each with its count and the time of the latest (one query)."""
    rows = grouped(
        parts(Window.covering(since)),
        ("failure_reason", "code_class"),
        (total("count"), latest("last", "last_attempt_at")),
        (("webhook_id", webhook_id), ("success", False)),
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
    rows = grouped(
        parts(window),
        ("webhook_id", "success", "failure_reason", "code_class"),
        FIGURES,
        _scope(webhook_id, campaign_id),
    )
    by_webhook: dict[int, Figures] = defaultdict(Figures)
    errors: dict[ErrorKind, int] = defaultdict(int)
    for row in rows:
        row["success_count"] = row["count"] if row["success"] else 0
        by_webhook[row["webhook_id"]].add(row)
        if not row["success"]:
            errors[error_kind(row["failure_reason"], row["code_class"])] += row["count"]
    # The whole from its webhooks: a merge per webhook instead of an add per row.
    figures = Figures()
    for part in by_webhook.values():
        figures.merge(part)
    return Breakdown(figures, dict(by_webhook), group_errors(errors))


# --- Campaigns -----------------------------------------------------------------------


def by_campaign(campaign_ids: list[int]) -> dict[int, Figures]:
    """All the attempt figures each campaign has (within retention), one query over the
    daily rollups (always the sum of the hourly ones); campaigns without attempts are
    left out."""
    figures: dict[int, Figures] = defaultdict(Figures)
    if not campaign_ids:
        return {}
    rows = grouped(
        [Part(ATTEMPTS.daily, None, None)],
        ("campaign_id", "success"),
        FIGURES,
        (("campaign_id", list(campaign_ids)),),
    )
    for row in rows:
        row["success_count"] = row["count"] if row["success"] else 0
        figures[row["campaign_id"]].add(row)
    return dict(figures)


def deliveries_by_campaign(campaign_ids: list[int]) -> dict[int, int]:
    """How many deliveries each campaign has (within retention, whatever their status):
    one query over the daily status counts (always the sum of the hourly ones);
    campaigns without any are left out."""
    if not campaign_ids:
        return {}
    rows = grouped(
        [Part(STATUSES.daily, None, None)],
        ("campaign_id",),
        (total("total"),),
        (("campaign_id", list(campaign_ids)),),
    )
    return {row["campaign_id"]: row["total"] for row in rows if row["total"]}


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

TREND = (
    total("delivered", "CASE WHEN success THEN count ELSE 0 END"),
    total("failed", "CASE WHEN success THEN 0 ELSE count END"),
)
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
    rows = grouped(
        parts(window, hourly=hourly),
        ("bucket",),
        TREND,
        _scope(webhook_id, campaign_id),
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
    """Deliveries created in the window by their status now, every status present (one
    query: the daily status counts of its whole days, the hourly ones of the rest)."""
    rows = grouped(
        parts(window, STATUSES), ("status",), (total("total"),), _scope(webhook_id, campaign_id)
    )
    counts = {row["status"]: row["total"] or 0 for row in rows}
    return {status: counts.get(status, 0) for status in DeliveryStatus.values}
