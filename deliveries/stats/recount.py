"""Recount the rollups from the attempts and deliveries tables in bulk SQL.

``remove_attempts`` and ``recount_span`` serve the retention purge (they recount the
hours and days it takes attempts from, row by row or a day's partition at once),
``rebuild`` is the repair tool (``manage.py rebuild_rollups``, also run by the seeder) and
``compact`` merges the +n/-n rows the delivery-status triggers write.
"""

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Case, CharField, Count, F, Max, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDay, TruncHour

from config.vacuum import vacuum_analyze
from deliveries.models import (
    DURATION_EDGES,
    HISTOGRAM_FIELDS,
    AttemptRollup,
    DailyAttemptRollup,
    Delivery,
    DeliveryAttempt,
    DeliveryStatusCount,
)
from deliveries.rollup_tables import DailyDeliveryStatusCount
from deliveries.stats.rollups import KEY_FIELDS, MAX_FIELDS, ROLLUP_COLUMNS, SUM_FIELDS
from deliveries.stats.windows import DAY, HOUR, day_floor, hour_floor

logger = logging.getLogger(__name__)


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


def recount_span(start: datetime, end: datetime) -> None:
    """Recount the rollups of the whole UTC days from ``start`` to ``end`` from the
    attempts there now: after the retention purge dropped the days' partition and kept
    only the attempts of unsettled deliveries."""
    with transaction.atomic():
        AttemptRollup.objects.filter(bucket__gte=start, bucket__lt=end).delete()
        _insert_grouped(
            DeliveryAttempt.objects.filter(attempted_at__gte=start, attempted_at__lt=end)
        )
        days = Q(bucket__gte=start, bucket__lt=end)
        DailyAttemptRollup.objects.filter(days).delete()
        _insert_days(AttemptRollup.objects.filter(days))


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
    sum to zero), hourly and daily; return how many rows were merged. Figures do not
    change: they are sums over a key's rows either way. Safe to run concurrently with
    writes and with itself."""
    return sum(_compact(model) for model in (DeliveryStatusCount, DailyDeliveryStatusCount))


def _compact(model) -> int:
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        # Rows inserted after this statement's snapshot stay as they are; a row another
        # compact() deleted first is skipped by DELETE and summed by that one. The
        # merged rows are written compacted, so the trigger that adds hourly rows to
        # their day leaves them out: the day already counts them.
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
            model.objects.filter(compacted=False).values_list("bucket", flat=True).distinct()
        )
        if not buckets:
            return 0
        rows = model.objects.filter(bucket__in=buckets)
        sums = list(
            rows.values("bucket", "webhook_id", "campaign_id", "status")
            .annotate(total=Sum("count"))
            .order_by()
        )
        merged, _ = rows.delete()
        model.objects.bulk_create(
            model(
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
    return _insert_compacted_counts(DeliveryStatusCount, "count_bucket", grouped)


def _insert_status_days(hours: QuerySet) -> int:
    """INSERT ... SELECT hourly status counts summed per UTC day into the daily table,
    written compacted (the trigger that adds hourly rows to their day is not involved)."""
    grouped = (
        hours.order_by()
        .annotate(count_day=TruncDay("bucket", tzinfo=UTC))
        .values("count_day", "webhook_id", "campaign_id", "status")
        .annotate(count_total=Sum("count"))
        .exclude(count_total=0)
    )
    return _insert_compacted_counts(DailyDeliveryStatusCount, "count_day", grouped)


def _insert_compacted_counts(model, bucket: str, grouped: QuerySet) -> int:
    """INSERT ... SELECT the ``grouped`` status counts (their bucket named ``bucket``, their
    sum ``count_total``) into ``model``'s table as merged rows."""
    select, params = grouped.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {model._meta.db_table} "
            "(bucket, webhook_id, campaign_id, status, count, compacted) "
            f"SELECT g.{bucket}, g.webhook_id, g.campaign_id, g.status, g.count_total, %s "
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
    models = (AttemptRollup, DailyAttemptRollup, DeliveryStatusCount, DailyDeliveryStatusCount)
    tables = ", ".join(model._meta.db_table for model in models)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
        hours = AttemptRollup.objects.all()
        days = DailyAttemptRollup.objects.all()
        counts = DeliveryStatusCount.objects.all()
        count_days = DailyDeliveryStatusCount.objects.all()
        attempts = DeliveryAttempt.objects.all()
        deliveries = Delivery.objects.all()
        if start:
            hours = hours.filter(bucket__gte=start)
            days = days.filter(bucket__gte=day_floor(start))
            counts = counts.filter(bucket__gte=start)
            count_days = count_days.filter(bucket__gte=day_floor(start))
            attempts = attempts.filter(attempted_at__gte=start)
            deliveries = deliveries.filter(created_at__gte=start)
        hours.delete()
        days.delete()
        counts.delete()
        count_days.delete()
        written = _insert_grouped(attempts), _insert_status_counts(deliveries)
        # Days from their hours, the hours before ``start`` in its day included.
        source = AttemptRollup.objects.all()
        if start:
            source = source.filter(bucket__gte=day_floor(start))
        _insert_days(source)
        count_hours = DeliveryStatusCount.objects.all()
        if start:
            count_hours = count_hours.filter(bucket__gte=day_floor(start))
        _insert_status_days(count_hours)
    # The tables were replaced: without fresh statistics the planner kept the old rows'
    # (28 rows for 7,772 after a seed), and read the dashboard's month with a parallel
    # sort that took twice as long. VACUUM too where it may run (not in a transaction):
    # the replaced rows left the daily status counts at 70,070 dead rows to 3,072 live
    # after a 20M seed, and their month read 612 pages.
    vacuum_analyze(*(model._meta.db_table for model in models))
    logger.info("rebuild: %s attempt rollups, %s status counts", *written)
    return written
