"""Claiming: the one way a delivery becomes ``in_progress`` before a send.

Claiming counts the attempt about to be made and sets ``next_attempt_at`` to a lease: the
webhook's timeout plus ``DELIVERIES_LEASE_MARGIN``. If the worker dies mid-send, the lease
runs out and the dispatcher's query for due deliveries (``Delivery.objects.due()``) finds
the delivery again, so one query covers both new work and work a dead worker left behind.
A delivery whose lease ran out after its last allowed attempt is failed (``lease_expired``)
instead of being claimed again. Every send claims here: automatic ones, and those an
admin asked for (``manual.py``).

Two ways, one rule:

- ``claim_per_endpoint`` (PostgreSQL, the drain's): each endpoint's longest-due
  deliveries, locked, leased and read back with their webhook, event and event type in
  one ``UPDATE ... RETURNING`` statement;
- ``claim`` (any database, any candidates): the ORM's ``select_for_update``, an update and
  a read; SQLite and tests use it.
"""

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Model, QuerySet
from django.utils import timezone

from deliveries.engine.record import give_up
from deliveries.models import WAITING_STATUSES, Delivery, DeliveryStatus
from webhooks.models import Event, EventType, SystemSettings, Webhook


def claim(candidates: QuerySet, limit: int | None = None) -> list[Delivery]:
    """Claim the deliveries of ``candidates`` (up to ``limit``, in its order) that no
    other transaction holds, and return them with their webhook, event and event type.

    The rows are locked while they are claimed (``SKIP LOCKED``: concurrent claimers take
    other rows), and the update repeats the candidates' conditions, so a delivery that
    changed meanwhile is left alone.
    """
    locked = candidates.select_for_update(skip_locked=True, of=("self",)).values_list(*ROW_FIELDS)
    with transaction.atomic():
        return _claim_locked(list(locked[:limit] if limit is not None else locked), candidates)


# What claiming needs to know of a locked delivery.
ROW_FIELDS = ("id", "webhook__timeout_seconds", "status", "attempt_count", "webhook__max_retries")


def _claim_locked(rows: list[tuple], candidates: QuerySet) -> list[Delivery]:
    """Claim the locked ``rows`` that still are ``candidates`` (in the caller's
    transaction)."""
    now = timezone.now()
    margin = timedelta(seconds=settings.DELIVERIES_LEASE_MARGIN)
    spent = _spent(rows)
    if spent:
        give_up(list(Delivery.objects.filter(id__in=spent).select_related("webhook")), now)
    by_timeout: dict[int, list[int]] = {}
    for delivery_id, timeout, *_ in rows:
        if delivery_id not in spent:
            by_timeout.setdefault(timeout, []).append(delivery_id)
    # The rows are locked, so on PostgreSQL they are still what the claimer chose: update
    # them by key alone (repeating the conditions let the planner pick the churned partial
    # due index over the primary key, at 10 ms a claim). SQLite has no row locks: repeat.
    if connection.vendor == "postgresql":
        candidates = Delivery.objects.all()
    claimed: list[int] = []
    for timeout, ids in by_timeout.items():
        updated = candidates.filter(id__in=ids).update(
            status=DeliveryStatus.IN_PROGRESS,
            attempt_count=F("attempt_count") + 1,
            next_attempt_at=now + timedelta(seconds=timeout) + margin,
            updated_at=now,
        )
        if updated:
            claimed += ids
    if not claimed:
        return []
    return list(
        Delivery.objects.filter(id__in=claimed)
        .select_related("webhook", "event", "event_type")
        .order_by("id")
    )


def _spent(rows: list[tuple]) -> set[int]:
    """The in-progress deliveries among ``rows`` (their lease ran out) that have had every
    automatic attempt the retry policy allows: claiming them again would loop."""
    expired = [row for row in rows if row[2] == DeliveryStatus.IN_PROGRESS]
    if not expired:
        return set()
    default = SystemSettings.load().max_retries
    return {
        delivery_id
        for delivery_id, _, _, attempts, retries in expired
        if attempts >= 1 + (default if retries is None else retries)
    }


def claim_per_endpoint(counts: dict[int, int], now) -> list[Delivery]:
    """Claim up to ``counts[webhook_id]`` due deliveries of each endpoint, the longest due
    first, skipping rows another transaction holds (PostgreSQL only). Returns them in id
    order, each with its webhook, event and event type; those whose lease ran out with no
    automatic attempt left are failed instead (``give_up``), in the same transaction."""
    if not counts:
        return []
    params = {
        "webhooks": list(counts),
        "counts": list(counts.values()),
        "now": now,
        "margin": settings.DELIVERIES_LEASE_MARGIN,
    }
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(CLAIM_SQL, params)
            rows = cursor.fetchall()
        spent = [delivery_id for is_spent, delivery_id, *_ in rows if is_spent]
        if spent:
            give_up(list(Delivery.objects.filter(id__in=spent).select_related("webhook")), now)
    return _deliveries([row[2:] for row in rows if not row[0]])


class _Columns:
    """A model's concrete columns in a SELECT (``alias.column``, in field order), and the
    instance a row's slice of them makes, as the ORM would (``from_db``, with each field's
    converters: JSON is parsed)."""

    def __init__(self, model: type[Model], alias: str):
        self.model = model
        self.fields = model._meta.concrete_fields
        quote = connection.ops.quote_name
        self.sql = ", ".join(f"{alias}.{quote(field.column)}" for field in self.fields)
        self.names = [field.attname for field in self.fields]
        self._converters: list[tuple[int, list, object]] | None = None

    def __len__(self) -> int:
        return len(self.fields)

    def build(self, values) -> Model:
        if self._converters is None:
            self._converters = [
                (i, converters, field.get_col(self.model._meta.db_table))
                for i, field in enumerate(self.fields)
                if (converters := field.get_db_converters(connection))
            ]
        if self._converters:
            values = list(values)
            for i, converters, column in self._converters:
                for convert in converters:
                    values[i] = convert(values[i], column, connection)
        return self.model.from_db(connection.alias, self.names, values)


# A claimed row: the delivery, then its webhook, event and event type. Each of the last
# three comes once per claim, on the row of its first delivery (NULL on the others): a
# webhook's 27 columns read and parsed once, not once per delivery.
_PARTS = {
    "delivery": _Columns(Delivery, "f"),
    "webhook_id": _Columns(Webhook, "w"),
    "event_id": _Columns(Event, "e"),
    "event_type_id": _Columns(EventType, "t"),
}


def _deliveries(rows: list[tuple]) -> list[Delivery]:
    """The claimed deliveries of ``rows`` (see ``_PARTS``), in id order, each with its
    webhook, event and event type."""
    related: dict[str, dict[int, Model]] = {key: {} for key in _PARTS}
    deliveries = []
    for row in rows:
        start = 0
        for key, part in _PARTS.items():
            values = row[start : start + len(part)]
            start += len(part)
            if values[0] is None:
                continue
            built = part.build(values)
            if key == "delivery":
                deliveries.append(built)
            else:
                related[key][built.pk] = built
    for delivery in deliveries:
        for key, descriptor in RELATED.items():
            related_id = getattr(delivery, key)
            descriptor.field.set_cached_value(
                delivery, None if related_id is None else related[key][related_id]
            )
    return sorted(deliveries, key=lambda delivery: delivery.pk)


RELATED = {
    "webhook_id": Delivery.webhook,
    "event_id": Delivery.event,
    "event_type_id": Delivery.event_type,
}
_DEFAULT_RETRIES = SystemSettings._meta.get_field("max_retries").default


def _claim_sql() -> str:
    deliveries, webhooks = Delivery._meta.db_table, Webhook._meta.db_table
    waiting = ", ".join(f"'{status}'" for status in WAITING_STATUSES)
    selected = ", ".join(part.sql for part in _PARTS.values())
    return f"""
WITH locked AS (
    -- Per endpoint, its n longest-due deliveries that no other claimer holds (served by
    -- the delivery_due_webhook index); spent: its lease ran out after its last attempt.
    SELECT d.id, w.timeout_seconds,
        d.status = '{DeliveryStatus.IN_PROGRESS}' AND d.attempt_count >= 1 + COALESCE(
            w.max_retries,
            (SELECT max_retries FROM {SystemSettings._meta.db_table} WHERE id = 1),
            {_DEFAULT_RETRIES}
        ) AS spent
    FROM unnest(%(webhooks)s::bigint[], %(counts)s::int[]) AS g(webhook_id, n)
    JOIN {webhooks} w ON w.id = g.webhook_id
    CROSS JOIN LATERAL (
        SELECT id, status, attempt_count FROM {deliveries} d
        WHERE d.webhook_id = g.webhook_id
          AND d.status IN ({waiting})
          AND d.next_attempt_at <= %(now)s
        ORDER BY d.next_attempt_at
        LIMIT g.n
        FOR UPDATE OF d SKIP LOCKED
    ) d
), c AS (
    -- Locked, so still what was chosen: updated by key alone.
    UPDATE {deliveries} d SET
        status = '{DeliveryStatus.IN_PROGRESS}',
        attempt_count = d.attempt_count + 1,
        next_attempt_at = %(now)s
            + (locked.timeout_seconds + %(margin)s) * interval '1 second',
        updated_at = %(now)s
    FROM locked
    WHERE d.id = locked.id AND NOT locked.spent
    RETURNING d.*
), f AS (
    SELECT c.*,
        c.id = min(c.id) OVER (PARTITION BY c.webhook_id) AS webhook_first,
        c.id = min(c.id) OVER (PARTITION BY c.event_id) AS event_first,
        c.id = min(c.id) OVER (PARTITION BY c.event_type_id) AS type_first
    FROM c
)
SELECT locked.spent, locked.id, {selected}
FROM locked
LEFT JOIN f ON f.id = locked.id
LEFT JOIN {webhooks} w ON w.id = f.webhook_id AND f.webhook_first
LEFT JOIN {Event._meta.db_table} e ON e.id = f.event_id AND f.event_first
LEFT JOIN {EventType._meta.db_table} t ON t.id = f.event_type_id AND f.type_first
"""


CLAIM_SQL = _claim_sql()
