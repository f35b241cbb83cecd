"""Figures added up from rollup rows: attempt totals, durations, errors and the trend.

Attempt figures (``total`` and everything derived from it) count attempts: every HTTP try,
automatic or manual. ``success_rate`` is a fraction from 0 to 1. Durations are whole
milliseconds over the attempts that have one.
"""

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from deliveries.models import DURATION_EDGES, HISTOGRAM_FIELDS, DeliveryStatus, FailureReason


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
        self.histogram = [
            seen + (row[name] or 0)
            for seen, name in zip(self.histogram, HISTOGRAM_FIELDS, strict=True)
        ]

    def merge(self, other: "Figures") -> None:
        """Add figures added up elsewhere (another webhook's, say)."""
        self.total += other.total
        self.success_count += other.success_count
        self.duration_sum += other.duration_sum
        self.max_duration_ms = max(self.max_duration_ms, other.max_duration_ms)
        last = other.last_delivery_at
        if last is not None and (self.last_delivery_at is None or last > self.last_delivery_at):
            self.last_delivery_at = last
        self.histogram = [a + b for a, b in zip(self.histogram, other.histogram, strict=True)]

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


# --- Errors ---------------------------------------------------------------------------

DISPATCH_ERROR = "Webhook dispatch error"
CONTENT_ERROR = "Payload not built"


@dataclass(frozen=True)
class ErrorKind:
    group: str
    label: str
    # The delivery log's filter parameters for these errors.
    params: tuple[tuple[str, str], ...]


@cache
def error_kind(failure_reason: str, code_class: str) -> ErrorKind:
    """How the errors panel names a failed attempt, grouped as the seeds do. Cached:
    the dashboard asks for each of its hundreds of failed groups, and the answer
    depends on the two strings alone."""
    if failure_reason == FailureReason.INVALID_URL:
        return ErrorKind(
            "Invalid Webhook URL", "Invalid Webhook URL", (("reason", failure_reason),)
        )
    if failure_reason == FailureReason.BLOCKED_DESTINATION:
        return ErrorKind(
            "Blocked destination", "Blocked destination", (("reason", failure_reason),)
        )
    if failure_reason in (FailureReason.TEMPLATE_ERROR, FailureReason.LINKED_CONTENT_ERROR):
        # A campaign's body could not be built: nothing was sent, so not a dispatch error.
        label = FailureReason(failure_reason).label
        return ErrorKind(CONTENT_ERROR, label, (("reason", failure_reason),))
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


GROUP_ORDER = [DISPATCH_ERROR, "Invalid Webhook URL", "Blocked destination", CONTENT_ERROR]


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


@dataclass
class Breakdown:
    figures: Figures
    by_webhook: dict[int, Figures]
    errors: list[ErrorGroup]


@dataclass
class TrendPoint:
    start: datetime
    delivered: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.delivered + self.failed
