"""Ordered delivery: a webhook's deliveries in lines, each sent after the one before it.

A webhook that sends "in order per endpoint" puts every delivery in one line (key ""); one
that sends "in order per key" puts each in the line of its key, read from the event's
payload (the webhook's ``ordering_key_path``) or given with the event (``ordering_key``).
Different lines go out in parallel, within the endpoint's in-flight cap.

A line is the rows that share ``(webhook, line_key)``, in id order (the order they were
written). A delivery waits in its line with no ``next_attempt_at`` (``LINE_WAITING``), so
no claim, drain or sending thread ever sees it; the line's head is the one delivery that
has one (due, in flight, or retrying) or that holds the line after it was given up
(``LINE_BUSY``). When the head is done (sent, or given up and skipped), ``promote`` makes
the next waiting delivery due: the drain sends it like any other, within the endpoint's
limits and health.

``promote`` runs after each write that may free a line (a recorded attempt, an emit, a
skip, an admin's resend) and from beat for every line, so a line freed by a process that
died before promoting is freed a minute later. At most one delivery of a line is ever
busy: promoters of one webhook take turns (an advisory lock on PostgreSQL; SQLite has
one writer), and each looks afresh at the line once it has its turn.
"""

import json
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from config import advisory
from deliveries.engine.storable import clean_text
from deliveries.engine.wakeups import wake
from deliveries.models import LINE_WAITING, Delivery, DeliveryStatus
from webhooks.models import MAX_ORDERING_KEY, DeliveryOrder, WhenHeadGivenUp

Line = tuple[int, str]  # (webhook id, line key)


def line_of(order: str, key_path: str, payload, ordering_key: str) -> str | None:
    """The line of a new delivery to a webhook ordered by ``order`` (``key_path`` its
    ordering key field) of an event with ``payload`` and ``ordering_key``: None when it
    goes in any order, "" for the endpoint's one line, else the key ("" when missing)."""
    if order == DeliveryOrder.ENDPOINT:
        return ""
    if order != DeliveryOrder.KEY:
        return None
    if not key_path:
        return clean_key(ordering_key or "")
    value = payload
    for name in key_path.split("."):
        if isinstance(value, dict):
            value = value.get(name)
        elif isinstance(value, list) and name.isdigit() and int(name) < len(value):
            value = value[int(name)]
        else:
            return ""
    if value is None:
        return ""
    return clean_key(value if isinstance(value, str) else json.dumps(value, sort_keys=True))


def clean_key(key: str) -> str:
    """``key`` as a line stores it: cleaned of what the database refuses, cut to fit."""
    return clean_text(key)[:MAX_ORDERING_KEY]


def holds_when_given_up(webhook) -> bool:
    """Whether a delivery of ``webhook`` given up keeps its line waiting for an admin."""
    return (
        webhook.delivery_order != DeliveryOrder.ANY
        and webhook.when_head_given_up == WhenHeadGivenUp.HOLD
    )


def promote(lines: Iterable[Line] = (), *, webhooks: Iterable[int] = (), now=None) -> int:
    """Make the first waiting delivery of each free line due now: of ``lines``, and of
    every line of ``webhooks``. Returns how many became due (the caller wakes a worker)."""
    lines, webhooks = set(lines), set(webhooks)
    if webhooks:
        lines |= set(
            Delivery.objects.filter(LINE_WAITING, webhook_id__in=webhooks)
            .values_list("webhook_id", "line_key")
            .distinct()
        )
    if not lines:
        return 0
    now = now or timezone.now()
    promoted = 0
    with transaction.atomic():
        for webhook_id in sorted({webhook_id for webhook_id, _ in lines}):
            advisory.take_turn(advisory.ORDERED_LINES, webhook_id)
        ordered = sorted(lines)
        for start in range(0, len(ordered), PROMOTE_BATCH):
            promoted += _promote(ordered[start : start + PROMOTE_BATCH], now)
    return promoted


PROMOTE_BATCH = 200


def release(lines: Iterable[Line]) -> None:
    """Promote ``lines`` and wake a worker for what became due (after the commit that
    freed them: a recorded result, an emit, a skip, a resend)."""
    if promote(lines):
        wake()


def promote_all(now=None) -> int:
    """Beat's pass: promote every free line (one freed by a process that stopped first),
    and let go of the lines of webhooks switched back to any order: what waits in them is
    due now. Returns how many became due."""
    now = now or timezone.now()
    released = Delivery.objects.filter(
        LINE_WAITING, webhook__delivery_order=DeliveryOrder.ANY
    ).update(line_key=None, next_attempt_at=now, updated_at=now)
    webhooks = Delivery.objects.filter(LINE_WAITING).values_list("webhook_id", flat=True)
    return released + promote(webhooks=set(webhooks.distinct()), now=now)


def _promote(lines: list[Line], now) -> int:
    table = Delivery._meta.db_table
    values = ", ".join(["(%s, %s)"] * len(lines))
    waiting = _waiting_sql("w")
    sql = f"""
        UPDATE {table} SET next_attempt_at = %s, updated_at = %s
        WHERE id IN (
            SELECT (
                SELECT min(w.id) FROM {table} w
                WHERE w.webhook_id = l.column1 AND w.line_key = l.column2 AND {waiting}
            )
            FROM (VALUES {values}) AS l
            WHERE NOT EXISTS (
                SELECT 1 FROM {table} b
                WHERE b.webhook_id = l.column1 AND b.line_key = l.column2
                  AND (b.next_attempt_at IS NOT NULL OR b.holds_line)
            )
        ) AND {_waiting_sql(table)}
    """
    params = [now, now, *(value for line in lines for value in line)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _waiting_sql(alias: str) -> str:
    """``LINE_WAITING`` in SQL, for the rows of ``alias`` (kept in step with the model's)."""
    return (
        f"{alias}.line_key IS NOT NULL AND {alias}.next_attempt_at IS NULL "
        f"AND NOT {alias}.holds_line AND ({alias}.status = '{DeliveryStatus.PENDING}' "
        f"OR {alias}.manual_requested_at IS NOT NULL)"
    )
