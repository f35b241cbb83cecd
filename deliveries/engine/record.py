"""Write what the sends brought back: each attempt, and its delivery's next state.

One batch is one transaction of a few statements, whatever its size: the attempts in one
``INSERT``, the deliveries' states in one ``UPDATE ... FROM (VALUES ...)``, and the stats
rollups (``deliveries.stats.rollups.add_attempts``) last.
"""

from django.db import connection, transaction
from django.utils import timezone

from deliveries.engine.retry import is_permanent, next_delay
from deliveries.engine.sender import AttemptResult, OutgoingRequest
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, Trigger
from deliveries.stats import rollups
from webhooks.models import SystemSettings


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
        automatic = trigger == Trigger.AUTOMATIC
        if not result.success and automatic and not is_permanent(result.failure_reason):
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
