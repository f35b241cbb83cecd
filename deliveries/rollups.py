"""Keep the stats rollups in step with the attempts and deliveries tables.

- ``AttemptRollup`` and ``DailyAttemptRollup``: attempts per hour and per day (UTC),
  webhook, campaign and outcome, with counts, duration sum, max and histogram.
  ``add_attempts`` upserts both in the transaction that writes the attempts;
  ``remove_attempts`` recounts the hours (and days) a purge takes attempts from.
- ``DeliveryStatusCount``: deliveries per creation hour, webhook, campaign and status,
  written by database triggers (migration 0003) as +n/-n rows; ``compact`` merges them.

``rebuild`` recomputes all three from the tables in bulk SQL: the seeder calls it, and it
is the repair tool (``manage.py rebuild_rollups``).
"""

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Case, CharField, Count, F, Max, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, Greatest, TruncDay, TruncHour

from deliveries.models import (
    DURATION_EDGES,
    HISTOGRAM_FIELDS,
    AttemptRollup,
    DailyAttemptRollup,
    Delivery,
    DeliveryAttempt,
    DeliveryStatusCount,
)

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
KEY_FIELDS = ("bucket", "webhook_id", "campaign_id", "success", "failure_reason", "code_class")
SUM_FIELDS = ("count", "duration_sum", *HISTOGRAM_FIELDS)
MAX_FIELDS = ("duration_max", "last_attempt_at")
ROLLUP_COLUMNS = (*KEY_FIELDS, *SUM_FIELDS, *MAX_FIELDS)


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


def code_class(response_code: int | None) -> str:
    """ "2xx", "4xx", "5xx", ... for a response code; "" when there was no response."""
    if response_code is None or not 100 <= response_code <= 999:
        return ""
    return f"{response_code // 100}xx"


def histogram_index(duration_ms: int) -> int:
    """Which histogram bucket (an index into HISTOGRAM_FIELDS) a duration counts in."""
    for index, edge in enumerate(DURATION_EDGES):
        if duration_ms <= edge:
            return index
    return len(DURATION_EDGES)


# --- Attempts -------------------------------------------------------------------------


def add_attempts(attempts: Iterable[DeliveryAttempt]) -> None:
    """Add newly written attempts to the rollups.

    Call it in the transaction that writes them, after the other writes, so the rollup
    rows stay locked only until the commit. Rows are upserted in key order, so two
    transactions adding to the same rows queue up instead of deadlocking.
    """
    attempts = list(attempts)
    if not attempts:
        return
    campaigns = _campaign_ids(attempts)
    hours: dict[tuple, dict] = {}
    for attempt in attempts:
        key = (
            hour_floor(attempt.attempted_at),
            attempt.webhook_id,
            campaigns[attempt.delivery_id],
            bool(attempt.success),
            attempt.failure_reason or "",
            code_class(attempt.response_code),
        )
        row = hours.get(key)
        if row is None:
            row = hours[key] = dict.fromkeys(SUM_FIELDS, 0)
            row.update(duration_max=0, last_attempt_at=attempt.attempted_at)
        row["count"] += 1
        row["last_attempt_at"] = max(row["last_attempt_at"], attempt.attempted_at)
        if attempt.duration_ms is not None:
            row["duration_sum"] += attempt.duration_ms
            row["duration_max"] = max(row["duration_max"], attempt.duration_ms)
            row[HISTOGRAM_FIELDS[histogram_index(attempt.duration_ms)]] += 1
    days: dict[tuple, dict] = {}
    for (hour, *rest), row in hours.items():
        key = (hour.replace(hour=0), *rest)
        day = days.get(key)
        if day is None:
            days[key] = dict(row)
            continue
        for name in SUM_FIELDS:
            day[name] += row[name]
        for name in MAX_FIELDS:
            day[name] = max(day[name], row[name])
    # Hours first, then days, each in key order: every writer locks rows in one order.
    upsert = _upsert_postgresql if connection.vendor == "postgresql" else _upsert_portable
    upsert(AttemptRollup, sorted(hours.items(), key=lambda item: _sort_key(item[0])))
    upsert(DailyAttemptRollup, sorted(days.items(), key=lambda item: _sort_key(item[0])))


def _campaign_ids(attempts: list[DeliveryAttempt]) -> dict[int, int | None]:
    """The campaign of each attempt's delivery, from the delivery objects the attempts
    carry (as ``dispatch.record`` builds them) or, for the others, one query."""
    campaigns = {}
    for attempt in attempts:
        if DeliveryAttempt.delivery.is_cached(attempt):
            campaigns[attempt.delivery_id] = attempt.delivery.campaign_id
    missing = {a.delivery_id for a in attempts} - campaigns.keys()
    if missing:
        campaigns.update(Delivery.objects.filter(id__in=missing).values_list("id", "campaign_id"))
    return campaigns


def _sort_key(key: tuple) -> tuple:
    bucket, webhook_id, campaign_id, success, reason, code = key
    return (bucket, webhook_id, campaign_id or 0, success, reason, code)


def _upsert_postgresql(model, ordered: list[tuple[tuple, dict]]) -> None:
    table = model._meta.db_table
    columns = ", ".join(ROLLUP_COLUMNS)
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(ROLLUP_COLUMNS)) + ")"] * len(ordered))
    updates = [f"{name} = r.{name} + EXCLUDED.{name}" for name in SUM_FIELDS]
    updates += [f"{name} = GREATEST(r.{name}, EXCLUDED.{name})" for name in MAX_FIELDS]
    params = []
    for key, row in ordered:
        params += [*key, *(row[name] for name in SUM_FIELDS), *(row[n] for n in MAX_FIELDS)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} AS r ({columns}) VALUES {placeholders}
            ON CONFLICT (bucket, webhook_id, (COALESCE(campaign_id, 0)), success,
                failure_reason, code_class) DO UPDATE SET {", ".join(updates)}""",
            params,
        )


def _upsert_portable(model, ordered: list[tuple[tuple, dict]]) -> None:
    # SQLite (make run): one writer at a time, so update-or-create cannot race.
    with transaction.atomic():
        for key, row in ordered:
            lookup = dict(zip(KEY_FIELDS, key, strict=True))
            if lookup["campaign_id"] is None:
                lookup["campaign_id__isnull"] = True
                del lookup["campaign_id"]
            changes = {name: F(name) + row[name] for name in SUM_FIELDS}
            changes["duration_max"] = Greatest("duration_max", Value(row["duration_max"]))
            changes["last_attempt_at"] = Greatest(
                Coalesce("last_attempt_at", Value(row["last_attempt_at"])),
                Value(row["last_attempt_at"]),
            )
            if not model.objects.filter(**lookup).update(**changes):
                model.objects.create(**dict(zip(KEY_FIELDS, key, strict=True)), **row)


def remove_attempts(rows: QuerySet | Iterable) -> int:
    """Take attempts about to be deleted out of the rollups; return how many hours were
    recounted.

    ``rows`` is a queryset of attempts, or attempts or their ids. Call it before deleting
    them, in the same transaction. It recounts each hour the rows fall in from the
    attempts of that hour that stay, so maxima and the histogram stay exact, then those
    days from their hours.
    """
    if isinstance(rows, QuerySet) and rows.query.is_sliced:
        rows = list(rows.values_list("id", flat=True))
    if not isinstance(rows, QuerySet):
        ids = [row if isinstance(row, int) else row.pk for row in rows]
        rows = DeliveryAttempt.objects.filter(id__in=ids)
    hours = sorted(
        rows.order_by()
        .annotate(hour=TruncHour("attempted_at", tzinfo=UTC))
        .values_list("hour", flat=True)
        .distinct()
    )
    if not hours:
        return 0
    buckets, attempted = Q(), Q()
    for start, end in _ranges(hours, HOUR):
        buckets |= Q(bucket__gte=start, bucket__lt=end)
        attempted |= Q(attempted_at__gte=start, attempted_at__lt=end)
    days = Q()
    for start, end in _ranges(sorted({day_floor(hour) for hour in hours}), DAY):
        days |= Q(bucket__gte=start, bucket__lt=end)
    with transaction.atomic():
        AttemptRollup.objects.filter(buckets).delete()
        staying = DeliveryAttempt.objects.filter(attempted).exclude(id__in=rows.values("id"))
        _insert_grouped(staying)
        DailyAttemptRollup.objects.filter(days).delete()
        _insert_days(AttemptRollup.objects.filter(days))
    return len(hours)


def _ranges(starts: list[datetime], step: timedelta) -> list[tuple[datetime, datetime]]:
    """Runs of consecutive buckets (sorted starts, ``step`` long) as [start, end) ranges."""
    ranges: list[list[datetime]] = []
    for start in starts:
        if ranges and ranges[-1][1] == start:
            ranges[-1][1] = start + step
        else:
            ranges.append([start, start + step])
    return [(start, end) for start, end in ranges]


def _grouped(attempts: QuerySet) -> QuerySet:
    """The attempts aggregated into rollup rows (one per key), as a values queryset."""
    histogram = {}
    lower = None
    for name, edge in zip(HISTOGRAM_FIELDS, (*DURATION_EDGES, None), strict=True):
        bounds = Q()
        if lower is not None:
            bounds &= Q(duration_ms__gt=lower)
        bounds &= Q(duration_ms__lte=edge) if edge is not None else Q(duration_ms__isnull=False)
        histogram[name] = Count("id", filter=bounds)
        lower = edge
    return (
        attempts.order_by()
        .annotate(
            rollup_bucket=TruncHour("attempted_at", tzinfo=UTC),
            rollup_campaign=F("delivery__campaign_id"),
            rollup_code=_code_class_sql(),
        )
        .values(
            "rollup_bucket",
            "webhook_id",
            "rollup_campaign",
            "success",
            "failure_reason",
            "rollup_code",
        )
        .annotate(
            count=Count("id"),
            duration_sum=Coalesce(Sum("duration_ms"), 0),
            duration_max=Coalesce(Max("duration_ms"), 0),
            last_attempt_at=Max("attempted_at"),
            **histogram,
        )
    )


def _code_class_sql() -> Case:
    whens = [
        When(response_code__gte=hundred * 100, response_code__lt=hundred * 100 + 100,
             then=Value(f"{hundred}xx"))
        for hundred in range(1, 10)
    ]  # fmt: skip
    return Case(*whens, default=Value(""), output_field=CharField())


def _insert_grouped(attempts: QuerySet) -> int:
    """INSERT ... SELECT the grouped attempts into the rollup table; return rows written."""
    select, params = _grouped(attempts).query.sql_with_params()
    # Name the columns from the subquery, whatever order Django put them in.
    picked = [
        "rollup_bucket",
        "webhook_id",
        "rollup_campaign",
        "success",
        "failure_reason",
        "rollup_code",
        *SUM_FIELDS,
        *MAX_FIELDS,
    ]
    return _insert_select(AttemptRollup, picked, select, params)


def _insert_days(hours: QuerySet) -> int:
    """INSERT ... SELECT hourly rollup rows summed per UTC day into the daily table."""
    grouped = (
        hours.order_by()
        .annotate(day=TruncDay("bucket", tzinfo=UTC))
        .values("day", "webhook_id", "campaign_id", "success", "failure_reason", "code_class")
        .annotate(
            day_count=Sum("count"),
            day_duration_sum=Sum("duration_sum"),
            day_duration_max=Max("duration_max"),
            day_last_attempt_at=Max("last_attempt_at"),
            **{f"day_{name}": Sum(name) for name in HISTOGRAM_FIELDS},
        )
    )
    select, params = grouped.query.sql_with_params()
    picked = ["day", *KEY_FIELDS[1:], *(f"day_{name}" for name in (*SUM_FIELDS, *MAX_FIELDS))]
    return _insert_select(DailyAttemptRollup, picked, select, params)


def _insert_select(model, picked: list[str], select: str, params) -> int:
    """INSERT the ``picked`` columns of the grouped ``select`` into ``model``'s table."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(ROLLUP_COLUMNS)}) "
            f"SELECT {', '.join('g.' + name for name in picked)} FROM ({select}) g",
            params,
        )
        return cursor.rowcount


# --- Delivery statuses ----------------------------------------------------------------


def compact() -> int:
    """Merge the +n/-n rows the triggers wrote into one row per key (dropping keys that
    sum to zero); return how many rows were merged. Figures do not change: they are sums
    over a key's rows either way. Safe to run concurrently with writes and with itself."""
    table = DeliveryStatusCount._meta.db_table
    if connection.vendor == "postgresql":
        # Rows inserted after this statement's snapshot stay as they are; a row another
        # compact() deleted first is skipped by DELETE and summed by that one.
        sql = f"""
            WITH keys AS (
                SELECT DISTINCT bucket, webhook_id, campaign_id, status
                FROM {table} WHERE NOT compacted
            ), merged AS (
                DELETE FROM {table} c USING keys
                WHERE c.bucket = keys.bucket AND c.webhook_id = keys.webhook_id
                    AND c.campaign_id IS NOT DISTINCT FROM keys.campaign_id
                    AND c.status = keys.status
                RETURNING c.bucket, c.webhook_id, c.campaign_id, c.status, c.count
            ), inserted AS (
                INSERT INTO {table} (bucket, webhook_id, campaign_id, status, count, compacted)
                SELECT bucket, webhook_id, campaign_id, status, SUM(count), true
                FROM merged GROUP BY bucket, webhook_id, campaign_id, status
                HAVING SUM(count) <> 0
            )
            SELECT COUNT(*) FROM merged"""
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]
    with transaction.atomic():
        buckets = list(
            DeliveryStatusCount.objects.filter(compacted=False)
            .values_list("bucket", flat=True)
            .distinct()
        )
        if not buckets:
            return 0
        rows = DeliveryStatusCount.objects.filter(bucket__in=buckets)
        sums = list(
            rows.values("bucket", "webhook_id", "campaign_id", "status")
            .annotate(total=Sum("count"))
            .order_by()
        )
        merged, _ = rows.delete()
        DeliveryStatusCount.objects.bulk_create(
            DeliveryStatusCount(
                bucket=s["bucket"],
                webhook_id=s["webhook_id"],
                campaign_id=s["campaign_id"],
                status=s["status"],
                count=s["total"],
                compacted=True,
            )
            for s in sums
            if s["total"]
        )
        return merged


def _insert_status_counts(deliveries: QuerySet) -> int:
    grouped = (
        deliveries.order_by()
        .annotate(count_bucket=TruncHour("created_at", tzinfo=UTC))
        .values("count_bucket", "webhook_id", "campaign_id", "status")
        .annotate(count_total=Count("id"))
    )
    select, params = grouped.query.sql_with_params()
    table = DeliveryStatusCount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (bucket, webhook_id, campaign_id, status, count, compacted) "
            "SELECT g.count_bucket, g.webhook_id, g.campaign_id, g.status, g.count_total, %s "
            f"FROM ({select}) g",
            (True, *params),
        )
        return cursor.rowcount


# --- Both -----------------------------------------------------------------------------


def rebuild(since: datetime | None = None) -> tuple[int, int]:
    """Recompute the rollups from the attempts and deliveries tables, for everything or
    from the hour of ``since`` on; return (attempt rollup rows, status count rows).

    Concurrent writers wait for it (the rollup tables are locked), and what they commit
    afterwards is added on top, so nothing is counted twice or missed.
    """
    start = hour_floor(since) if since else None
    with transaction.atomic():
        if connection.vendor == "postgresql":
            tables = ", ".join(
                model._meta.db_table
                for model in (AttemptRollup, DailyAttemptRollup, DeliveryStatusCount)
            )
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
        hours = AttemptRollup.objects.all()
        days = DailyAttemptRollup.objects.all()
        counts = DeliveryStatusCount.objects.all()
        attempts = DeliveryAttempt.objects.all()
        deliveries = Delivery.objects.all()
        if start:
            hours = hours.filter(bucket__gte=start)
            days = days.filter(bucket__gte=day_floor(start))
            counts = counts.filter(bucket__gte=start)
            attempts = attempts.filter(attempted_at__gte=start)
            deliveries = deliveries.filter(created_at__gte=start)
        hours.delete()
        days.delete()
        counts.delete()
        written = _insert_grouped(attempts), _insert_status_counts(deliveries)
        # Days from their hours, the hours before ``start`` in its day included.
        source = AttemptRollup.objects.all()
        if start:
            source = source.filter(bucket__gte=day_floor(start))
        _insert_days(source)
    logger.info("rebuild: %s attempt rollups, %s status counts", *written)
    return written
