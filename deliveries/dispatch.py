"""Claim due deliveries, send them concurrently, and record every attempt.

A delivery is due when it is ``pending`` and its ``next_attempt_at`` has passed. Claiming
sets it ``in_progress`` with ``next_attempt_at`` pushed to a lease (its timeout plus a
margin): if the worker dies mid-send, the lease runs out and the next claim takes the
delivery again. So one query finds both new work and work a dead worker left behind.
"""

import logging
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from deliveries import rollups
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, FailureReason, Trigger
from deliveries.retry import next_delay
from deliveries.sender import AttemptResult, OutgoingRequest, build_request, send
from webhooks.models import SystemSettings

logger = logging.getLogger(__name__)

DUE = Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.IN_PROGRESS])

_executor: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    """One pool of sending threads per process, made on first use (after any fork)."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=settings.DELIVERIES_SEND_CONCURRENCY, thread_name_prefix="send"
        )
    return _executor


def claim(limit: int) -> list[Delivery]:
    """Take up to ``limit`` due deliveries for this worker; others skip the locked rows."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Delivery.objects.filter(DUE, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", "webhook__timeout_seconds")[:limit]
        )
        if not rows:
            return []
        margin = timedelta(seconds=settings.DELIVERIES_LEASE_MARGIN)
        by_timeout: dict[int, list[int]] = {}
        for delivery_id, timeout in rows:
            by_timeout.setdefault(timeout, []).append(delivery_id)
        for timeout, ids in by_timeout.items():
            Delivery.objects.filter(id__in=ids).update(
                status=DeliveryStatus.IN_PROGRESS,
                attempt_count=F("attempt_count") + 1,
                next_attempt_at=now + timedelta(seconds=timeout) + margin,
                updated_at=now,
            )
        return list(
            Delivery.objects.filter(id__in=[row[0] for row in rows]).select_related(
                "webhook", "event", "event_type"
            )
        )


def send_due_batch(limit: int | None = None) -> int:
    """Claim one batch of due deliveries and send it. Returns how many were claimed."""
    deliveries = claim(limit or settings.DELIVERIES_BATCH_SIZE)
    if deliveries:
        send_batch(deliveries)
    return len(deliveries)


def send_batch(deliveries: list[Delivery], trigger: str = Trigger.AUTOMATIC, user=None) -> int:
    """Send claimed deliveries with the thread pool and record the results as they come
    in, so a slow receiver does not hold back the record of fast ones. Returns how many
    succeeded."""
    system = SystemSettings.load()
    succeeded = 0
    pending: list[tuple[Delivery, OutgoingRequest, AttemptResult]] = []
    futures = {}
    for delivery in deliveries:
        request = build_request(delivery)
        futures[executor().submit(send, request)] = (delivery, request)
    for future in as_completed(futures):
        delivery, request = futures[future]
        result = future.result()
        succeeded += result.success
        pending.append((delivery, request, result))
        if len(pending) >= settings.DELIVERIES_RECORD_BATCH:
            record(pending, system, trigger, user)
            pending = []
    if pending:
        record(pending, system, trigger, user)
    return succeeded


# Failures a retry cannot fix: the webhook's settings must change first.
PERMANENT_FAILURES = {FailureReason.INVALID_URL, FailureReason.BLOCKED_DESTINATION}


def _permanent(result: AttemptResult) -> bool:
    return result.failure_reason in PERMANENT_FAILURES


def record(
    results: list[tuple[Delivery, OutgoingRequest, AttemptResult]],
    system: SystemSettings,
    trigger: str = Trigger.AUTOMATIC,
    user=None,
) -> None:
    """Write the attempts and each delivery's next state in one transaction."""
    now = timezone.now()
    attempts = []
    for delivery, request, result in results:
        attempted_at = result.started_at or now  # when it was sent, not when recorded
        attempts.append(
            DeliveryAttempt(
                delivery=delivery,
                webhook_id=delivery.webhook_id,
                number=delivery.attempt_count,
                attempted_at=attempted_at,
                trigger=trigger,
                triggered_by=user,
                request_url=request.url,
                request_headers=request.recorded_headers,
                request_body=request.body.decode(),
                success=result.success,
                response_code=result.response_code,
                response_headers=result.response_headers,
                response_body=result.response_body,
                response_body_truncated=result.response_body_truncated,
                response_body_encoding=result.response_body_encoding,
                duration_ms=result.duration_ms,
                failure_reason=result.failure_reason,
                failure_detail=result.failure_detail,
            )
        )
        delivery.last_attempt_at = attempted_at
        delivery.last_response_code = result.response_code
        delivery.last_failure_reason = result.failure_reason
        delivery.updated_at = now
        delay = None
        if not result.success and trigger == Trigger.AUTOMATIC and not _permanent(result):
            delay = next_delay(delivery.webhook, system, retries_done=delivery.attempt_count - 1)
        if result.success:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.SUCCESS, None
        elif delay is not None:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, now + delay
        else:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    with transaction.atomic():
        DeliveryAttempt.objects.bulk_create(attempts)
        _save_states([delivery for delivery, _, _ in results])
        rollups.add_attempts(attempts)  # last: the rollup rows stay locked until the commit


STATE_FIELDS = [
    "status",
    "next_attempt_at",
    "last_attempt_at",
    "last_response_code",
    "last_failure_reason",
    "updated_at",
]


def _save_states(deliveries: list[Delivery]) -> None:
    """Save the state fields of many deliveries in one statement.

    On PostgreSQL an ``UPDATE ... FROM (VALUES ...)``: Django's ``bulk_update`` builds a
    CASE/WHEN expression per field and row, which cost as much CPU as the HTTP sends.
    """
    if connection.vendor != "postgresql":
        Delivery.objects.bulk_update(deliveries, STATE_FIELDS)
        return
    rows = ", ".join(
        ["(%s, %s, %s::timestamptz, %s::timestamptz, %s::smallint, %s, %s::timestamptz)"]
        * len(deliveries)
    )
    params = []
    for d in deliveries:
        params += [
            d.pk,
            d.status,
            d.next_attempt_at,
            d.last_attempt_at,
            d.last_response_code,
            d.last_failure_reason,
            d.updated_at,
        ]
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {table} AS d SET status = v.status, next_attempt_at = v.next_attempt_at,
                last_attempt_at = v.last_attempt_at, last_response_code = v.code,
                last_failure_reason = v.reason, updated_at = v.updated_at
            FROM (VALUES {rows}) AS v(id, status, next_attempt_at, last_attempt_at, code,
                reason, updated_at)
            WHERE d.id = v.id""",
            params,
        )


def send_one(delivery_id: int, trigger: str = Trigger.MANUAL, user_id: int | None = None) -> bool:
    """Send and record one attempt of a delivery already marked ``in_progress`` (by a
    manual retry). Returns False when there was nothing to send (a redelivered message)."""
    delivery = Delivery.objects.select_related("webhook", "event", "event_type").get(pk=delivery_id)
    if delivery.status != DeliveryStatus.IN_PROGRESS:
        return False
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    request = build_request(delivery)
    record([(delivery, request, send(request))], SystemSettings.load(), trigger, user)
    return True
