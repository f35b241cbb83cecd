"""The pieces of ``bench_ordered``: one run of deliveries to one endpoint, in order per key
or in any order, and the check that every key's deliveries went out in emit order.

A run makes its own webhook (``bench-ordered-*``) to the bench receiver, emits its events
through ``emit_many`` in one transaction (so the clock starts with every delivery written,
as ``bench_deliveries``' sending stage starts with everything queued), wakes a drain per
worker child and times until no delivery is left pending or in flight
(``throughput.wait_for_attempts``). The events' payloads carry their key at ``data.key``
(keys dealt round-robin) and their emit number at ``data.n``: the ordered webhook reads its
key there, and the check reads both.
"""

import time
from dataclasses import dataclass

from django.db import connection, transaction

from deliveries.bench.throughput import Timed, percentiles, wait_for_attempts
from deliveries.engine import NewEvent, emit_many, wakeups
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from webhooks.models import DeliveryOrder, Event, EventType, Webhook

EVENT_TYPE = "bench.ordered"
PREFIX = "bench-ordered-"
KEY_PATH = "data.key"


@dataclass
class Run:
    """What one run measured: its deliveries settled, in how long, and each send's duration
    (``timed``); how many failed; how many went out before an earlier one of their key
    (``out_of_order``: a violation in an ordered run, possible in any order) or never
    successfully (``unsent``); and the gaps between a key's consecutive sends (ms): in an
    ordered line, what one turn costs."""

    name: str
    timed: Timed
    failed: int
    out_of_order: int
    unsent: int
    gaps_ms: list[float]

    @property
    def rate(self) -> float:
        return self.timed.rate

    def line(self) -> str:
        gap50, gap95 = percentiles(self.gaps_ms)
        return (
            f"{self.timed.line(self.name, 'deliveries')} line_gap_ms p50={gap50:.1f} "
            f"p95={gap95:.1f} failed={self.failed} out_of_order={self.out_of_order}"
        )


def setup() -> None:
    """The bench event type, which every run's webhook subscribes to."""
    EventType.objects.create(name=EVENT_TYPE, category="Benchmark")


def make_webhook(port: int, name: str, ordered: bool) -> Webhook:
    """A webhook of the bench event type to the receiver on ``port``: in order per key
    (read at ``data.key``), or in any order."""
    hook = Webhook.objects.create(
        name=f"{PREFIX}{name}",
        url=f"http://127.0.0.1:{port}/hook/{name}",
        delivery_order=DeliveryOrder.KEY if ordered else DeliveryOrder.ANY,
        ordering_key_path=KEY_PATH if ordered else "",
    )
    hook.event_types.set(EventType.objects.filter(name=EVENT_TYPE))
    return hook


def payload(n: int, keys: int) -> dict:
    """Event ``n``'s payload: its key (round-robin over ``keys``) and its emit number."""
    return {"data": {"key": f"key-{n % keys}", "n": n}, "text": "benchmark payload " * 8}


def run(
    webhook: Webhook,
    name: str,
    deliveries: int,
    keys: int,
    *,
    batch: int,
    drains: int,
    timeout: float,
) -> Run:
    """Emit ``deliveries`` events (keys dealt round-robin over ``keys``, ``batch`` to an
    ``emit_many``) in one transaction, wake ``drains`` drains and time from the commit
    until every delivery to ``webhook`` is settled. Raises ``TimeoutError`` (with what is
    left, by state) when they are not within ``timeout`` seconds."""
    from deliveries.engine.tasks import drain_due

    with transaction.atomic():
        for start in range(0, deliveries, batch):
            emit_many(
                NewEvent(EVENT_TYPE, payload(n, keys))
                for n in range(start, min(start + batch, deliveries))
            )
        started = time.perf_counter()  # the commit, then the emits' promotions and wake-ups
    for _ in range(drains):
        drain_due.delay()
    try:
        finished = wait_for_attempts([webhook.pk], timeout)
    except TimeoutError as error:
        raise TimeoutError(f"{name}: {error}; left: {left(webhook.pk)}") from None
    send_ms = [
        float(ms or 0)
        for ms in DeliveryAttempt.objects.filter(webhook_id=webhook.pk).values_list(
            "duration_ms", flat=True
        )
    ]
    failed = Delivery.objects.filter(webhook_id=webhook.pk, status=DeliveryStatus.FAILED).count()
    out_of_order, unsent, gaps = check_order(webhook.pk)
    timed = Timed(deliveries, finished - started, send_ms)
    return Run(name, timed, failed, out_of_order, unsent, gaps)


def check_order(webhook_id: int) -> tuple[int, int, list[float]]:
    """``(out of order, unsent, gaps ms)`` for the deliveries to ``webhook_id``: per key of
    the payload (``data.key``), taken in emit order (``data.n``), each delivery's first
    successful attempt must have started after every earlier one's; those that started
    earlier are out of order, those never sent successfully are unsent. The gaps are the
    times between a key's consecutive successful sends.

    It reads the attempts table, not the receiver: the attempts are the sender's own
    record of when each request went out, and a line sends its next delivery only once
    its head's attempt is recorded, so in a line kept in order they follow each other.
    The first successes are grouped in one pass over the run's attempts: a subquery per
    delivery took 20 s for 10,000, planned on the statistics of tables just written."""
    sql = f"""
        WITH first_success AS (
            SELECT delivery_id, min(attempted_at) AS at
            FROM {DeliveryAttempt._meta.db_table}
            WHERE webhook_id = %s AND success
            GROUP BY delivery_id
        ), sent AS (
            SELECT e.payload -> 'data' ->> 'key' AS key,
                   (e.payload -> 'data' ->> 'n')::bigint AS n,
                   f.at
            FROM {Delivery._meta.db_table} d
            JOIN {Event._meta.db_table} e ON e.id = d.event_id
            LEFT JOIN first_success f ON f.delivery_id = d.id
            WHERE d.webhook_id = %s
        ), framed AS (
            SELECT at,
                   max(at) OVER (PARTITION BY key ORDER BY n
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before,
                   lag(at) OVER (PARTITION BY key ORDER BY n) AS previous
            FROM sent
        )
        SELECT count(*) FILTER (WHERE at <= before),
               count(*) FILTER (WHERE at IS NULL),
               array_remove(array_agg(
                   extract(epoch FROM at - previous) * 1000
               ) FILTER (WHERE at > previous), NULL)
        FROM framed
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [webhook_id, webhook_id])
        out_of_order, unsent, gaps = cursor.fetchone()
    return out_of_order, unsent, [float(gap) for gap in gaps or []]


def left(webhook_id: int) -> str:
    """What keeps a run from finishing: its deliveries not settled, by state (waiting in
    a line, due or retrying, in flight), and the lines with a delivery waiting and none
    busy (stalled: nothing will promote them but beat's pass, which no bench worker runs)."""
    rows = Delivery.objects.filter(webhook_id=webhook_id)
    waiting = rows.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__isnull=True, line_key__isnull=False
    )
    busy_lines = set(
        rows.filter(next_attempt_at__isnull=False, line_key__isnull=False).values_list(
            "line_key", flat=True
        )
    ) | set(rows.filter(holds_line=True).values_list("line_key", flat=True))
    waiting_lines = set(waiting.values_list("line_key", flat=True).distinct())
    scheduled = rows.filter(next_attempt_at__isnull=False)
    due = scheduled.filter(status=DeliveryStatus.PENDING).count()
    retrying = scheduled.filter(status=DeliveryStatus.FAILED).count()
    in_flight = rows.filter(status=DeliveryStatus.IN_PROGRESS).count()
    return (
        f"waiting={waiting.count()} due={due} in_flight={in_flight} retrying={retrying} "
        f"lines_waiting={len(waiting_lines)} lines_stalled={len(waiting_lines - busy_lines)}"
    )


def purge_broker() -> None:
    """Drop the wake-ups queued (a run wakes its own drains) and the wake-up flag."""
    from config.celery import app

    app.control.purge()
    wakeups.clear()


def delete_run(webhook_id: int) -> None:
    """Delete a run's webhook with its deliveries, their attempts and events."""
    events = list(Delivery.objects.filter(webhook_id=webhook_id).values_list("event_id", flat=True))
    Delivery.objects.filter(webhook_id=webhook_id).delete()
    Event.objects.filter(pk__in=events).delete()
    Webhook.objects.filter(pk=webhook_id).delete()


def cleanup() -> None:
    """Delete whatever the benchmark wrote (also what a run stopped half-way left)."""
    for webhook_id in Webhook.objects.filter(name__startswith=PREFIX).values_list("pk", flat=True):
        delete_run(webhook_id)
    Event.objects.filter(event_type__name=EVENT_TYPE).delete()
    EventType.objects.filter(name=EVENT_TYPE).delete()
