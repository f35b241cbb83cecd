"""Delivery stats read from the rollups, for the stats API and the stats pages alike.

Attempt figures (``total`` and everything derived from it) count attempts: every HTTP try,
automatic or manual. ``success_rate`` is a fraction from 0 to 1. Durations are whole
milliseconds over the attempts that have one. The status breakdown counts deliveries
created in the window. Windows are whole UTC hours, since the rollups are hourly.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from django.db.models import Max, Q, QuerySet, Sum

from deliveries.models import (
    DURATION_EDGES,
    HISTOGRAM_FIELDS,
    AttemptRollup,
    DailyAttemptRollup,
    DeliveryStatus,
    DeliveryStatusCount,
    FailureReason,
)
from deliveries.rollups import DAY, HOUR, day_floor, hour_ceil, hour_floor

# --- Windows --------------------------------------------------------------------------


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


# --- Attempt figures ------------------------------------------------------------------


def rounded_ratio(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up to an integer (0 when nothing to divide)."""
    if not denominator:
        return 0
    return (2 * numerator + denominator) // (2 * denominator)


def percentile(histogram: list[int], fraction: float, maximum: int) -> int:
    """The duration under which ``fraction`` of the attempts fall, to the histogram bucket:
    the upper edge of the bucket holding the nearest-rank attempt, capped at the maximum
    (which is also the answer for the open-ended last bucket). 0 with no durations."""
    count = sum(histogram)
    if not count:
        return 0
    # Nearest rank, ceil(fraction * count), in integers to stay clear of float error.
    rank = -(-round(fraction * 1000) * count // 1000)
    seen = 0
    for index, in_bucket in enumerate(histogram):
        seen += in_bucket
        if seen >= rank:
            if index < len(DURATION_EDGES):
                return min(DURATION_EDGES[index], maximum)
            return maximum
    return maximum


@dataclass
class Figures:
    """Attempt figures added up from rollup rows."""

    total: int = 0
    success_count: int = 0
    duration_sum: int = 0
    max_duration_ms: int = 0
    last_delivery_at: datetime | None = None
    histogram: list[int] = field(default_factory=lambda: [0] * len(HISTOGRAM_FIELDS))

    def add(self, row: dict) -> None:
        """Add one rollup row or aggregate of rows: ``count``, ``success_count``,
        ``duration_sum``, ``duration_max``, ``last_attempt_at`` and the histogram."""
        self.total += row["count"] or 0
        self.success_count += row["success_count"] or 0
        self.duration_sum += row["duration_sum"] or 0
        self.max_duration_ms = max(self.max_duration_ms, row["duration_max"] or 0)
        last = row["last_attempt_at"]
        if last is not None and (self.last_delivery_at is None or last > self.last_delivery_at):
            self.last_delivery_at = last
        for index, name in enumerate(HISTOGRAM_FIELDS):
            self.histogram[index] += row[name] or 0

    @property
    def failed_count(self) -> int:
        return self.total - self.success_count

    @property
    def success_rate(self) -> float:
        """Successful attempts as a fraction from 0 to 1; 0.0 when there were none."""
        return self.success_count / self.total if self.total else 0.0

    @property
    def success_percent(self) -> str:
        """The success rate for pages: "97.3%", or "–" when there were no attempts."""
        return f"{self.success_rate:.1%}" if self.total else "–"

    @property
    def avg_duration_ms(self) -> int:
        return rounded_ratio(self.duration_sum, sum(self.histogram))

    @property
    def p95_duration_ms(self) -> int:
        return percentile(self.histogram, 0.95, self.max_duration_ms)


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
    """Each part grouped by ``keys`` with ``aggregates``, in one UNION ALL query; a group
    may come once per part."""
    grouped = [part.values(*keys).annotate(**aggregates).order_by() for part in parts]
    if len(grouped) == 1:
        return list(grouped[0])
    return list(grouped[0].union(*grouped[1:], all=True))


def summary(
    window: Window, webhook_id: int | None = None, campaign_id: int | None = None
) -> Figures:
    """Attempt figures over the window, for one webhook or campaign or all (one query)."""
    figures = Figures()
    for row in _grouped(_parts(window, webhook_id, campaign_id), ("success",), **_sums()):
        row["success_count"] = row["count"] if row["success"] else 0
        figures.add(row)
    return figures


# --- Errors ---------------------------------------------------------------------------

DISPATCH_ERROR = "Webhook dispatch error"


@dataclass(frozen=True)
class ErrorKind:
    group: str
    label: str
    # The delivery log's filter parameters for these errors.
    params: tuple[tuple[str, str], ...]


def error_kind(failure_reason: str, code_class: str) -> ErrorKind:
    """How the errors panel names a failed attempt, grouped as the seeds do."""
    if failure_reason == FailureReason.INVALID_URL:
        return ErrorKind(
            "Invalid Webhook URL", "Invalid Webhook URL", (("reason", failure_reason),)
        )
    if failure_reason == FailureReason.BLOCKED_DESTINATION:
        return ErrorKind(
            "Blocked destination", "Blocked destination", (("reason", failure_reason),)
        )
    if failure_reason == FailureReason.HTTP_ERROR:
        label = {
            "5xx": "HTTP 5xx (server error)",
            "4xx": "HTTP 4xx (client error)",
            "3xx": "HTTP 3xx (redirect not followed)",
        }.get(code_class, f"HTTP {code_class or 'error'}")
        params = (
            (("reason", failure_reason), ("code", code_class))
            if code_class
            else (("reason", failure_reason),)
        )
        return ErrorKind(DISPATCH_ERROR, label, params)
    if failure_reason in FailureReason.values:
        label = FailureReason(failure_reason).label
        return ErrorKind(DISPATCH_ERROR, label, (("reason", failure_reason),))
    return ErrorKind(DISPATCH_ERROR, "Other failure", (("status", DeliveryStatus.FAILED),))


GROUP_ORDER = [DISPATCH_ERROR, "Invalid Webhook URL", "Blocked destination"]


@dataclass
class ErrorGroup:
    label: str
    count: int = 0
    kinds: list[tuple[ErrorKind, int]] = field(default_factory=list)


def group_errors(counts: dict[ErrorKind, int]) -> list[ErrorGroup]:
    """Error counts by group, each with its kinds, largest first; empty groups left out."""
    groups = {label: ErrorGroup(label) for label in GROUP_ORDER}
    for kind, count in counts.items():
        group = groups.setdefault(kind.group, ErrorGroup(kind.group))
        group.count += count
        group.kinds.append((kind, count))
    for group in groups.values():
        group.kinds.sort(key=lambda item: (-item[1], item[0].label))
    return [group for group in groups.values() if group.count]


# --- The dashboard's breakdown --------------------------------------------------------


@dataclass
class Breakdown:
    figures: Figures
    by_webhook: dict[int, Figures]
    errors: list[ErrorGroup]


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


# --- Trend ----------------------------------------------------------------------------

GRANULARITIES = ("hourly", "daily", "weekly", "monthly")


@dataclass
class TrendPoint:
    start: datetime
    delivered: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.delivered + self.failed


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
