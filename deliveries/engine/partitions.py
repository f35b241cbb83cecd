"""Attempts partitioned by UTC day on PostgreSQL: made ahead, dropped whole when past
retention.

Migration 0018 turns the attempts table into a range-partitioned one: a partition per
UTC day (``<table>_pYYYYMMDD``) and a default partition for whatever falls outside them
(attempts of unsettled deliveries kept past their day, tests' odd dates). SQLite keeps a
plain table and every function here does nothing there.

Why a day: retention works in whole partitions, so a day keeps at most one day more than
the setting says (a week would keep up to six); 30 days of partitions cost the log's
queries about a tenth of a millisecond of planning; and a day at 5M attempts is a few GB,
dropped in one statement. Why by hand rather than pg_partman or django-postgres-extra:
pg_partman is an extension most hosted PostgreSQL services do not offer, and
django-postgres-extra needs its own database backend and model base class and cannot
convert a table that exists; what we need is the few statements below.

Locks: creating a partition builds it apart and attaches it (SHARE UPDATE EXCLUSIVE on
the table: reads and writes go on). Dropping one detaches it in a short transaction that
holds the table's ACCESS EXCLUSIVE lock for milliseconds (with a lock timeout, so it
never queues in front of a long read), then drops it unattached.
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic

from django.db import OperationalError, connection, transaction
from django.db.models import Q

from config import advisory
from deliveries.choices import WAITING_STATUSES, DeliveryStatus
from deliveries.models import Delivery, DeliveryAttempt
from deliveries.stats import recount

logger = logging.getLogger(__name__)

TABLE = DeliveryAttempt._meta.db_table
DEFAULT = f"{TABLE}_default"
# Days made ahead of today: beat makes them hourly, so a week covers a beat that was down.
AHEAD_DAYS = 7
# How long a partition's detach may wait for the table's lock before giving up until the
# next purge (a detach waiting in the lock queue would stop every read behind it).
LOCK_TIMEOUT = "2s"
MAKE_LOCK = (advisory.MAINTENANCE, 2)
_NAME = re.compile(rf"^{TABLE}_p(\d{{8}})$")

# A delivery whose attempts must outlive their partition: not sent yet, being sent,
# retrying, or asked for by an admin.
UNSETTLED = (
    Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.IN_PROGRESS])
    | Q(status__in=WAITING_STATUSES, next_attempt_at__isnull=False)
    | Q(manual_requested_at__isnull=False)
)


def enabled() -> bool:
    """Whether the attempts table is partitioned (PostgreSQL after migration 0018)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def name_of(day: date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def days() -> list[date]:
    """The days that have a partition, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = (_NAME.match(name) for name in names)
    return sorted(datetime.strptime(m[1], "%Y%m%d").date() for m in found if m)


def ensure(first: date, last: date) -> int:
    """Make the partitions of the days from ``first`` to ``last`` that are missing, moving
    their rows out of the default partition; return how many were made. One caller at a
    time (two beats): the second waits for the first and finds them made."""
    if not enabled():
        return 0
    with advisory.alone(*MAKE_LOCK, wait=True):
        missing = _days_between(first, last) - set(days())
        for day in sorted(missing):
            _make(day)
    return len(missing)


def _days_between(first: date, last: date) -> set[date]:
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}


def ensure_ahead(today: date | None = None) -> int:
    """Make today's partition and the next ``AHEAD_DAYS`` days' (beat, hourly)."""
    today = today or datetime.now(UTC).date()
    return ensure(today, today + timedelta(days=AHEAD_DAYS))


def _make(day: date) -> None:
    """Build one day's partition apart, fill it from the default partition if that holds
    rows of the day, and attach it."""
    name, start, end = name_of(day), _start(day), _start(day + timedelta(days=1))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute(
            f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        in_day = "attempted_at >= %s AND attempted_at < %s"
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {DEFAULT} WHERE {in_day})", [start, end])
        if cursor.fetchone()[0]:
            cursor.execute(f"LOCK TABLE {DEFAULT} IN EXCLUSIVE MODE")
            cursor.execute(
                f"INSERT INTO {name} SELECT * FROM {DEFAULT} WHERE {in_day}", [start, end]
            )
            cursor.execute(f"DELETE FROM {DEFAULT} WHERE {in_day}", [start, end])
            logger.info("partitions: %s attempts of %s left the default", cursor.rowcount, day)
        # The range as a check first, so that attaching need not scan the new table.
        cursor.execute(
            f"ALTER TABLE {name} ADD CONSTRAINT {name}_range CHECK ({in_day})", [start, end]
        )
        cursor.execute(
            f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)",
            [start, end],
        )
        cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range")


@dataclass
class Dropped:
    day: date
    attempts: int  # that went with the partition
    kept: int  # of unsettled deliveries, moved to the default partition
    locked: float = 0.0  # seconds the table's lock was asked for or held
    unlinked: float = 0.0  # seconds the detached partition took to drop (no table lock)

    def __str__(self) -> str:
        return (
            f"dropped {self.day} ({self.attempts} attempts, {self.kept} kept; "
            f"table locked {self.locked * 1000:.0f} ms, dropped in {self.unlinked:.2f} s)"
        )


def drop_before(cutoff: date) -> list[Dropped]:
    """Drop every day's partition that ends by ``cutoff``, keeping the attempts of
    deliveries that are not settled; their hours' rollups are recounted with the drop.
    A partition whose lock could not be had in time stays for the next purge."""
    if not enabled():
        return []
    _drop_detached()
    dropped = []
    for day in days():
        if day + timedelta(days=1) > cutoff:
            break
        try:
            dropped.append(_drop(day))
        except OperationalError as error:  # the lock timeout: a long read held the table
            logger.warning("partitions: %s stays until the next purge: %s", day, error)
    return dropped


def rows_before(cutoff: datetime) -> datetime:
    """The time before which attempts past retention go row by row: ``cutoff``, or the
    start of the first old day whose partition is still there (its drop was refused a
    lock; it waits for the next purge rather than turning into millions of deletes)."""
    if not enabled():
        return cutoff
    old = [day for day in days() if _start(day) < cutoff]
    return min(cutoff, _start(old[0])) if old else cutoff


def row_deleted_table() -> str:
    """The table whose attempts go row by row: the default partition where there are
    partitions (only it holds rows a drop leaves), the attempts table elsewhere."""
    return DEFAULT if enabled() else TABLE


def _drop_detached() -> None:
    """Drop the day tables an earlier purge detached but could not drop (its connection
    went between the two): nothing reads them any more."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname LIKE %s "
            "AND NOT c.relispartition AND c.relnamespace = current_schema()::regnamespace",
            [f"{TABLE}_p%"],
        )
        leftovers = [name for (name,) in cursor.fetchall() if _NAME.match(name)]
    for name in leftovers:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {name}")
        logger.info("partitions: dropped %s, left detached by an earlier purge", name)


def _drop(day: date) -> Dropped:
    name, start, end = name_of(day), _start(day), _start(day + timedelta(days=1))
    # Counted and looked up before the lock: nothing is written to a day past retention
    # (a manual retry writes its attempt today). The deliveries that may have attempts
    # in the day were made before its end.
    unsettled = Delivery.objects.filter(UNSETTLED, created_at__lt=end).values("id")
    subquery, params = unsettled.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {name}")
        attempts = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT DISTINCT delivery_id FROM {name} WHERE delivery_id IN ({subquery})", params
        )
        keep = [row[0] for row in cursor.fetchall()]
    asked = monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        # Deferred checks of rows written earlier in an enclosing transaction (a test's)
        # would refuse the detach; outside one there are none.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {name}")
        kept = 0
        if keep:
            cursor.execute(
                f"INSERT INTO {TABLE} SELECT * FROM {name} WHERE delivery_id = ANY(%s)", [keep]
            )
            kept = cursor.rowcount
        recount.recount_span(start, end)
    locked = monotonic() - asked  # the table's lock, from asking to the commit
    dropping = monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {name}")
    dropped = Dropped(day, attempts - kept, kept, locked, monotonic() - dropping)
    logger.info("partitions: %s", dropped)
    return dropped
