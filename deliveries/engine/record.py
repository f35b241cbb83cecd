"""Write what the sends brought back: each attempt, and its delivery's next state.

One batch is one transaction of a few statements, whatever its size: the attempts in one
``COPY`` (PostgreSQL), the deliveries' states in one ``UPDATE ... FROM`` the rows of one
JSON parameter, and the stats rollups (``deliveries.stats.rollups.add_attempts``) last.

A sent delivery's state is written only under the claim it was sent with (``Claim``): a
worker cut off for longer than its lease (a network partition, a pause) may come back after
another worker claimed the delivery again and recorded a newer result. Its attempt is still
written (the receiver got the request, and the stats count it), but not its state.
"""

import json
import logging
from datetime import datetime
from typing import NamedTuple

from django.db import DatabaseError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from deliveries.engine import health, lines
from deliveries.engine.retry import is_permanent, next_delay
from deliveries.engine.sender import (
    CONTENT_FAILURES,
    AttemptResult,
    OutgoingRequest,
    url_with_query,
)
from deliveries.engine.storable import clean_text, short
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, FailureReason, Trigger
from deliveries.stats import rollups
from webhooks.models import SystemSettings

logger = logging.getLogger(__name__)


class Claim(NamedTuple):
    """What tells one claim of a delivery from the next, as the claim left the row
    (``claim.py``): the attempt count it raised and the lease it set (``next_attempt_at``).
    Every claim raises the count, and a claim made after a lease ran out sets a later
    lease, so a delivery still ``in_progress`` with both is still under that claim."""

    attempt_count: int
    next_attempt_at: datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> "Claim":
        return cls(delivery.attempt_count, delivery.next_attempt_at)

    def held(self, delivery_id: int) -> Q:
        """The delivery ``delivery_id`` as long as it is still under this claim."""
        return Q(
            pk=delivery_id,
            status=DeliveryStatus.IN_PROGRESS,
            attempt_count=self.attempt_count,
            next_attempt_at=self.next_attempt_at,  # None: IS NULL
        )


def record(
    results: list[tuple[Delivery, OutgoingRequest, AttemptResult]], system: SystemSettings
) -> None:
    """Write the attempts and each delivery's next state, in one transaction.

    An attempt an admin asked for (``manual_requested_at``) is recorded as theirs and
    schedules no automatic retry; every other attempt is automatic.

    If the batch cannot be written, each attempt is written on its own, so one bad row
    never holds back the others; one that still cannot be written fails its delivery
    with ``internal_error`` rather than leaving it to be sent again.
    """
    now = timezone.now()
    deliveries = [delivery for delivery, _, _ in results]
    claims = [Claim.of(delivery) for delivery in deliveries]  # before the lease is replaced
    attempts = []
    for delivery, request, result in results:
        attempts.append(_attempt(delivery, request, result, now))
        _next_state(delivery, result, system, now)
    try:
        _write(attempts, deliveries, claims)
    except DatabaseError as error:
        logger.warning(
            "Recording %s attempts at once failed (%s); one by one", len(attempts), error
        )
        for attempt, delivery, claim in zip(attempts, deliveries, claims, strict=True):
            try:
                _write([attempt], [delivery], [claim])
            except DatabaseError as row_error:
                _record_failure(attempt, delivery, claim, row_error, now)
    try:
        # A body that could not be built says nothing of the endpoint.
        health.observe([r for r in results if r[2].failure_reason not in CONTENT_FAILURES], now)
    except DatabaseError:  # the attempts are written; health catches up with the next ones
        logger.exception("Could not update endpoint health")


def _attempt(delivery, request, result, now) -> DeliveryAttempt:
    manual = delivery.manual_requested_at is not None
    return DeliveryAttempt(
        delivery=delivery,
        webhook_id=delivery.webhook_id,
        number=delivery.attempt_count,
        attempted_at=result.started_at or now,  # when it was sent, not when recorded
        trigger=Trigger.MANUAL if manual else Trigger.AUTOMATIC,
        triggered_by_id=delivery.manual_requested_by_id if manual else None,
        request_url=clean_text(request.url),
        request_headers={k: clean_text(v) for k, v in request.recorded_headers.items()},
        # Our JSON, or a body a campaign rendered (UTF-8, checked before it was stored).
        request_body=clean_text(request.body.decode(errors="replace")),
        success=result.success,
        response_code=result.response_code,
        response_headers=result.response_headers,
        response_headers_truncated=result.response_headers_truncated,
        response_body=result.response_body,
        response_body_truncated=result.response_body_truncated,
        response_body_encoding=result.response_body_encoding,
        duration_ms=result.duration_ms,
        failure_reason=result.failure_reason,
        failure_detail=clean_text(result.failure_detail),
    )


def _next_state(delivery, result, system, now) -> None:
    """Set the delivery's state after ``result``: done, failed, or a retry scheduled.
    An admin's request is answered by this attempt, whatever it brought."""
    delivery.last_attempt_at = result.started_at or now
    delivery.last_response_code = result.response_code
    delivery.last_failure_reason = result.failure_reason
    delivery.updated_at = now
    delay = None
    automatic = delivery.manual_requested_at is None
    delivery.manual_requested_at, delivery.manual_requested_by_id = None, None
    if not result.success and automatic and not is_permanent(result.failure_reason):
        delay = next_delay(delivery.webhook, system, retries_done=delivery.attempt_count - 1)
    delivery.holds_line = False
    if result.success:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.SUCCESS, None
    elif delay is not None:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, now + delay
    else:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        _given_up_in_line(delivery)


def _given_up_in_line(delivery) -> None:
    """A delivery given up in an ordered line holds it if its webhook says so."""
    delivery.holds_line = delivery.line_key is not None and lines.holds_when_given_up(
        delivery.webhook
    )


def give_up(deliveries: list[Delivery], now) -> None:
    """Fail deliveries whose lease ran out with no automatic attempt left: the worker that
    claimed them stopped before recording (killed, or a bug), and sending once more would
    go past the retry policy. Each gets an attempt saying so."""
    attempts = [
        DeliveryAttempt(
            delivery=delivery,
            webhook_id=delivery.webhook_id,
            number=delivery.attempt_count,
            attempted_at=now,
            request_url=delivery.webhook.url,
            failure_reason=FailureReason.LEASE_EXPIRED,
            failure_detail="The sender stopped before recording this attempt, and no "
            "automatic retry is left; retry it by hand to send it again.",
        )
        for delivery in deliveries
    ]
    for delivery in deliveries:
        delivery.last_attempt_at = now
        _fail(delivery, FailureReason.LEASE_EXPIRED, now)
    _write(attempts, deliveries)


def record_unsent(failures: list[tuple[Delivery, str, str]], now=None) -> None:
    """Record ``(delivery, reason, detail)`` as failed attempts that sent nothing: the
    delivery's body could not be built (``template_error``, ``linked_content_error``).

    Each one is an attempt like any other (in the log, its detail, the stats rollups),
    and its delivery is failed for good. Each ``attempt_count`` must already count this
    attempt, as a claim would have. Call it in the transaction that wrote the deliveries.
    """
    now = now or timezone.now()
    attempts = []
    for delivery, reason, detail in failures:
        attempts.append(
            DeliveryAttempt(
                delivery=delivery,
                webhook_id=delivery.webhook_id,
                number=delivery.attempt_count,
                attempted_at=now,
                request_url=clean_text(url_with_query(delivery.webhook.url, delivery.query)),
                failure_reason=reason,
                failure_detail=short(detail),
            )
        )
        delivery.last_attempt_at = now
        _fail(delivery, reason, now)
    if attempts:
        _write(attempts, [delivery for delivery, _, _ in failures])


def _fail(delivery: Delivery, reason: str, now) -> None:
    """Set ``delivery`` failed for good (no retry scheduled) by the sender, not the receiver."""
    delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    delivery.manual_requested_at, delivery.manual_requested_by_id = None, None
    delivery.last_response_code = None
    delivery.last_failure_reason = reason
    delivery.updated_at = now
    _given_up_in_line(delivery)


def _write(
    attempts: list[DeliveryAttempt],
    deliveries: list[Delivery],
    claims: list[Claim | None] | None = None,
) -> None:
    """Write ``attempts`` and the states of ``deliveries``, each state only while its
    delivery is still under its claim of ``claims`` (None, or no ``claims``: whatever the
    row holds, as for deliveries given up under the claimer's lock or unsent ones).

    Every attempt is written and counted in the rollups, a stale one too: it was sent."""
    with transaction.atomic():
        _insert_attempts(attempts)
        stale = _save_states(deliveries, claims or [None] * len(deliveries))
        rollups.add_attempts(attempts)  # last: the rollup rows stay locked until the commit
    # The ordered lines these deliveries are done with: the next in each goes now.
    done = {
        (d.webhook_id, d.line_key)
        for d in deliveries
        if d.line_key is not None and d.next_attempt_at is None and not d.holds_line
        if d.pk not in stale
    }
    if done:
        lines.release(done)
    for delivery_id in sorted(stale):
        logger.warning(
            "Delivery %s is no longer under the claim its attempt was sent with (the "
            "lease ran out, and it was claimed again or given up): the attempt is "
            "recorded, the delivery's state is left as it is",
            delivery_id,
        )


def _insert_attempts(attempts: list[DeliveryAttempt]) -> None:
    """Insert ``attempts`` (their ids are not read back: nothing needs them).

    On PostgreSQL by COPY, every column of the model but the id: ``bulk_create`` sends a
    statement of one array per column (``UNNEST``), and quoting those arrays cost the
    sender more CPU than the rest of recording.
    """
    if connection.vendor != "postgresql":
        DeliveryAttempt.objects.bulk_create(attempts)
        return
    fields = [f for f in DeliveryAttempt._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    # COPY takes the JSON fields' text; every other value goes as the attempt holds it.
    names = [f.attname for f in fields]
    json_at = [i for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
    copying = f"COPY {DeliveryAttempt._meta.db_table} ({columns}) FROM STDIN"
    # The raw psycopg cursor copies; Django's error wrapper makes its errors DatabaseErrors.
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(copying) as copy,
    ):
        for attempt in attempts:
            row = [getattr(attempt, name) for name in names]
            for i in json_at:
                row[i] = json.dumps(row[i])
            copy.write_row(row)


def _record_failure(attempt, delivery, claim: Claim, error: DatabaseError, now) -> None:
    """The attempt could not be stored as it was: store what is sure (when, to where, that
    recording failed and why) and fail the delivery, so it is not sent again blindly."""
    logger.error(
        "Could not record attempt %s of delivery %s: %s", attempt.number, delivery.pk, error
    )
    attempt.pk = None
    attempt.success = False
    attempt.response_code = None
    attempt.response_headers, attempt.response_headers_truncated = {}, False
    attempt.response_body, attempt.response_body_truncated = "", False
    attempt.response_body_encoding = "text"
    attempt.request_headers, attempt.request_body = {}, ""
    attempt.failure_reason = FailureReason.INTERNAL_ERROR
    attempt.failure_detail = short(f"the attempt could not be recorded: {error}")
    _fail(delivery, FailureReason.INTERNAL_ERROR, now)
    try:
        _write([attempt], [delivery], [claim])
    except DatabaseError:
        logger.exception("Could not record the failure of delivery %s either", delivery.pk)
        Delivery.objects.filter(claim.held(delivery.pk)).update(
            status=DeliveryStatus.FAILED,
            next_attempt_at=None,
            manual_requested_at=None,
            manual_requested_by=None,
            last_failure_reason=FailureReason.INTERNAL_ERROR,
            updated_at=now,
        )


STATE_FIELDS = [
    "status",
    "holds_line",
    "next_attempt_at",
    "manual_requested_at",
    "manual_requested_by",
    "last_attempt_at",
    "last_response_code",
    "last_failure_reason",
    "updated_at",
]


def _save_states(deliveries: list[Delivery], claims: list[Claim | None]) -> set[int]:
    """Save the state fields of many deliveries in one statement (every request for a
    manual send among them is answered: those fields are cleared), each only while it is
    under its claim of ``claims`` (None: unconditionally). Returns the ids of those that
    were not (claimed again or given up after the lease ran out, or deleted).

    On PostgreSQL an ``UPDATE ... FROM`` the rows of one JSON parameter: Django's
    ``bulk_update`` builds a CASE/WHEN expression per field and row, and a ``VALUES`` list
    of 7 parameters a row is a new statement for every group size, which psycopg parses
    again each time (as much CPU as the update).
    """
    if connection.vendor != "postgresql":
        return _save_states_orm(deliveries, claims)
    rows = [
        [
            d.pk,
            d.status,
            _iso(d.next_attempt_at),
            _iso(d.last_attempt_at),
            d.last_response_code,
            d.last_failure_reason,
            _iso(d.updated_at),
            None if claim is None else claim.attempt_count,
            None if claim is None else _iso(claim.next_attempt_at),
            d.holds_line,
        ]
        for d, claim in zip(deliveries, claims, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(SAVE_STATES_SQL, [json.dumps(rows)])
        saved = {delivery_id for (delivery_id,) in cursor.fetchall()}
    return {d.pk for d in deliveries} - saved


def _save_states_orm(deliveries: list[Delivery], claims: list[Claim | None]) -> set[int]:
    """``_save_states`` by the ORM (SQLite): one ``bulk_update`` a batch, filtered to the
    rows still under their claims (bulk_update updates the rows of its queryset only)."""
    fields = [Delivery._meta.get_field(name) for name in STATE_FIELDS]
    # bulk_update's parameters a row (the key twice, each field), and the claim's four.
    size = connection.ops.bulk_batch_size([Delivery._meta.pk] * 6 + fields, deliveries)
    stale: set[int] = set()
    for start in range(0, len(deliveries), size):
        batch = deliveries[start : start + size]
        held = Q()
        for delivery, claim in zip(batch, claims[start : start + size], strict=True):
            held |= Q(pk=delivery.pk) if claim is None else claim.held(delivery.pk)
        if Delivery.objects.filter(held).bulk_update(batch, STATE_FIELDS) == len(batch):
            continue
        # Rarely: name those left alone. SQLite has one writer at a time and this
        # transaction has written, so a row without the time this batch wrote is not its.
        wrote = {delivery.pk: delivery.updated_at for delivery in batch}
        now_in = dict(Delivery.objects.filter(pk__in=wrote).values_list("pk", "updated_at"))
        stale |= {pk for pk, updated_at in wrote.items() if now_in.get(pk) != updated_at}
    return stale


def _iso(moment) -> str | None:
    return None if moment is None else moment.isoformat()


SAVE_STATES_SQL = f"""
UPDATE {Delivery._meta.db_table} AS d SET
    status = v->>1,
    next_attempt_at = (v->>2)::timestamptz,
    last_attempt_at = (v->>3)::timestamptz,
    last_response_code = (v->>4)::smallint,
    last_failure_reason = v->>5,
    updated_at = (v->>6)::timestamptz,
    holds_line = (v->>9)::boolean,
    manual_requested_at = NULL,
    manual_requested_by_id = NULL
FROM json_array_elements(%s::json) AS v
WHERE d.id = (v->>0)::bigint
  -- Still under the claim it was sent with (Claim; none when v->>7 is NULL): else another
  -- worker claimed it after this one's lease ran out, and wrote or will write a newer state.
  AND (v->>7 IS NULL OR (
      d.status = '{DeliveryStatus.IN_PROGRESS}'
      AND d.attempt_count = (v->>7)::integer
      AND d.next_attempt_at IS NOT DISTINCT FROM (v->>8)::timestamptz
  ))
RETURNING d.id
"""
