"""Add newly written attempts to the stats rollups, as the engine records them.

- ``AttemptRollup`` and ``DailyAttemptRollup``: attempts per hour and per day (UTC),
  webhook, campaign and outcome, with counts, duration sum, max and histogram.
  ``add_attempts`` upserts both in the transaction that writes the attempts.
- ``DeliveryStatusCount``: deliveries per creation hour, webhook, campaign and status,
  written by database triggers (migration 0003) as +n/-n rows, and added to their day
  (``DailyDeliveryStatusCount``) by a trigger on that table (migration 0019).

Taking attempts out again (the retention purge), merging the status rows and rebuilding
everything from the tables is ``deliveries.stats.recount``.
"""

from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest

from deliveries.models import (
    DURATION_EDGES,
    HISTOGRAM_FIELDS,
    AttemptRollup,
    DailyAttemptRollup,
    Delivery,
    DeliveryAttempt,
)
from deliveries.stats.windows import hour_floor

KEY_FIELDS = ("bucket", "webhook_id", "campaign_id", "success", "failure_reason", "code_class")
SUM_FIELDS = ("count", "duration_sum", *HISTOGRAM_FIELDS)
MAX_FIELDS = ("duration_max", "last_attempt_at")
ROLLUP_COLUMNS = (*KEY_FIELDS, *SUM_FIELDS, *MAX_FIELDS)


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
    carry (as ``deliveries.engine.record`` builds them) or, for the others, one query."""
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
