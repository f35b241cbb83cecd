"""Retention: what is older than the retention period goes, a whole UTC day at a time; one
purge at a time, whichever beat started it.

On PostgreSQL a day's attempts go with their partition (``partitions.drop_before``), in
one short statement and without leaving dead rows; the attempts of deliveries still
unsettled are kept. What else is left (the default partition's rows, SQLite's table) and
the deliveries and events are deleted in small batches, so no statement holds locks on
the log tables for long, and the tables they left dead rows in are vacuumed after."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from config import advisory
from config.vacuum import vacuum_analyze
from deliveries.engine import partitions
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from deliveries.stats import recount
from deliveries.stats.windows import day_floor
from webhooks.models import ActivityEntry, Event, SystemSettings

logger = logging.getLogger(__name__)

TERMINAL = [DeliveryStatus.SUCCESS, DeliveryStatus.FAILED, DeliveryStatus.NOT_TRIGGERED]


def _delete_in_batches(queryset, order: str, batch_size: int) -> int:
    """Delete the rows of ``queryset`` by ``(order, id)``, a batch per transaction.

    Each batch is looked for after the last one's key, not from the start of the index
    again (where the entries of the rows already deleted wait for a vacuum: a purge of
    millions slowed down batch by batch). Nothing refers to the rows any more (the
    queryset says so: no attempts left for a delivery, no delivery for an event), so
    they go by plain DELETE, without Django collecting what might.
    """
    model = queryset.model
    deleted, after = 0, None
    while True:
        page = queryset.order_by(order, "id")
        if after is not None:
            page = page.filter(
                Q((f"{order}__gt", after[0])) | Q((order, after[0]), id__gt=after[1])
            )
        rows = list(page.values_list(order, "id")[:batch_size])
        if not rows:
            return deleted
        ids = [id for _, id in rows]
        with transaction.atomic():
            if model is DeliveryAttempt:
                recount.remove_attempts(ids)  # recounts their hours before they go
            _delete(model, ids)
        deleted += len(ids)
        after = rows[-1]


def _delete(model, ids: list[int]) -> None:
    with connection.cursor() as cursor:
        marks = ", ".join(["%s"] * len(ids))
        cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE id IN ({marks})", ids)


# Its advisory lock: two purges at once (two beats started by mistake) would pick the
# same rows, and the second fail on the rollups the first had just recounted.
PURGE_LOCK = (advisory.MAINTENANCE, 1)


def purge_expired(now=None) -> int:
    """Delete what is older than the retention period; return how many attempts went
    (0, at once, while another purge runs)."""
    with advisory.alone(*PURGE_LOCK) as only:
        if not only:
            logger.info("purge_expired: another purge is running; skipped")
            return 0
        return _purge(now)


def _purge(now=None) -> int:
    now = now or timezone.now()
    batch = settings.DELIVERIES_PURGE_BATCH
    # Whole days only: a day goes once all of it is past the retention period.
    cutoff = day_floor(now - timedelta(days=SystemSettings.load().retention_days))
    dropped = partitions.drop_before(cutoff.date())
    settled = ~Q(delivery__in=Delivery.objects.filter(partitions.UNSETTLED).values("id"))
    row_by_row = _delete_in_batches(
        DeliveryAttempt.objects.filter(settled, attempted_at__lt=partitions.rows_before(cutoff)),
        "attempted_at",
        batch,
    )
    attempts = sum(day.attempts for day in dropped) + row_by_row
    # A delivery goes once it is finished, older than the cutoff and has no attempt left.
    # Its attempts were all made by its last (so only the old days' are looked for).
    old_deliveries = (
        Delivery.objects.filter(created_at__lt=cutoff, status__in=TERMINAL)
        .filter(next_attempt_at__isnull=True, manual_requested_at__isnull=True)
        .filter(Q(last_attempt_at__lt=cutoff) | Q(last_attempt_at__isnull=True))
        .exclude(
            Exists(DeliveryAttempt.objects.filter(delivery=OuterRef("pk"), attempted_at__lt=cutoff))
        )
    )
    deliveries = _delete_in_batches(old_deliveries, "created_at", batch)
    # By id, which follows creation (events have no index on their time).
    events = _delete_in_batches(
        Event.objects.filter(created_at__lt=cutoff).exclude(
            Exists(Delivery.objects.filter(event=OuterRef("pk")))
        ),
        "id",
        batch,
    )
    # What went row by row left dead rows: vacuumed now, their space is reused by the
    # next days' rows and the tables stop growing (autovacuum would come to it later,
    # after the log's queries had read past them for a while).
    purged = [
        (partitions.row_deleted_table(), row_by_row),
        (Delivery._meta.db_table, deliveries),
        (Event._meta.db_table, events),
    ]
    vacuum_analyze(*(table for table, count in purged if count))
    if attempts or deliveries or events:
        ActivityEntry.record(
            "job.retention_purge",
            f"Retention purge removed {attempts} attempts, {deliveries} deliveries "
            f"and {events} events older than {cutoff:%Y-%m-%d %H:%M} UTC",
            count=attempts,
        )
    logger.info(
        "purge_expired: %s attempts, %s deliveries, %s events", attempts, deliveries, events
    )
    return attempts
