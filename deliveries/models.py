from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

# The vocabularies live in their own module; imported here, where callers look for them.
from deliveries.choices import (  # noqa: F401
    WAITING_STATUSES,
    DeliveryStatus,
    FailureReason,
    Source,
    Trigger,
)

# The stats tables (rollups of attempts, counts of deliveries by status) in their own
# module; imported here, so Django and callers find them with the other models.
from deliveries.rollup_tables import (  # noqa: F401
    DURATION_EDGES,
    HISTOGRAM_FIELDS,
    AttemptRollup,
    DailyAttemptRollup,
    DeliveryStatusCount,
    RollupRow,
)

# What the log's "Attempted At" shows and sorts by: the latest attempt, or the creation of
# a delivery not tried yet (deliveries/log/queries.py pages on it).
ACTIVITY = Coalesce("last_attempt_at", "created_at")

# In an ordered line (``line_key`` set): waiting for its turn (new, or resent by an admin,
# and not due yet), or busy (the line's head: due, being sent, retrying, or held).
LINE_WAITING = models.Q(line_key__isnull=False, next_attempt_at__isnull=True, holds_line=False) & (
    models.Q(status="pending") | models.Q(manual_requested_at__isnull=False)
)
LINE_BUSY = models.Q(line_key__isnull=False) & (
    models.Q(next_attempt_at__isnull=False) | models.Q(holds_line=True)
)

# What a delivery log row shows; everything else (payloads above all) stays unread.
LOG_FIELDS = [
    "id",
    "status",
    "source",
    "created_at",
    "last_attempt_at",
    "last_response_code",
    "last_failure_reason",
    "attempt_count",
    "next_attempt_at",
    "manual_requested_at",
    "line_key",
    "holds_line",
    "webhook__id",
    "webhook__max_retries",
    "webhook__name",
    "webhook__url",
    "webhook__is_active",
    "webhook__health",
    "event_type__id",
    "event_type__name",
]


class DeliveryQuerySet(models.QuerySet):
    def due(self, now=None) -> "DeliveryQuerySet":
        """Deliveries to send now: new ones, failed ones whose retry has come, and
        in-progress ones whose lease ran out (a worker died or a broker message was lost).
        Only these have a ``next_attempt_at``."""
        return self.filter(status__in=WAITING_STATUSES, next_attempt_at__lte=now or timezone.now())

    def for_log(self) -> "DeliveryQuerySet":
        """The columns a delivery log row shows, with its webhook and event type."""
        return self.select_related("webhook", "event_type").only(*LOG_FIELDS)


class Delivery(models.Model):
    """One message to one webhook, and the state of getting it there.

    The webhook, event type, category, status, last response code and times are kept
    here (denormalised) so the delivery log filters and sorts on this table alone.
    """

    # No index of its own on webhook, campaign and event_type: the log's indexes lead with
    # each (delivery_log_webhook, _campaign, _event_type) and serve every lookup by it,
    # and every index is one more write per delivery written or updated.
    webhook = models.ForeignKey(
        "webhooks.Webhook", on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.EVENT)
    # Written with its event, in the same statement (the emit), so no constraint checks it
    # again at each commit: that deferred check was a sixth of the database's time for a
    # batch of events. An event goes only with its deliveries (Django's CASCADE) or, by
    # the retention purge, once none is left.
    event = models.ForeignKey(
        "webhooks.Event",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_constraint=False,
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
        db_index=False,
    )
    # A copy of the event's type (the log filters on this table alone), checked where it
    # is copied from: the event's own foreign key. No constraint of its own, which would
    # be one more check, and one more lock on the type's row, for every delivery written.
    # Django's SET_NULL still clears it when a type is deleted.
    event_type = models.ForeignKey(
        "webhooks.EventType",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    category = models.CharField(max_length=50, blank=True)
    # Campaign deliveries carry their own batched payload; event deliveries send the event's.
    # A JSON document is sent serialised; a string is a body rendered at fan-out (a Liquid
    # custom body), sent byte for byte as it was rendered, so a retry sends it again.
    payload = models.JSONField(null=True, blank=True)
    # How to send it, fixed when the delivery is written so a retry after the campaign was
    # edited sends the same request. The database defaults are an event delivery's, so
    # writers that name their columns (COPY in fan-out and the benchmarks) may leave them.
    content_type = models.CharField(
        max_length=50, default="application/json", db_default="application/json"
    )
    # Appended to the webhook's URL (urlencoded pairs): a campaign's query parameters.
    query = models.CharField(max_length=2000, blank=True, default="", db_default="")
    status = models.CharField(
        max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_failure_reason = models.CharField(max_length=30, choices=FailureReason.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # A send an admin asked for (Retry, a bulk retry, a test send): the next attempt is
    # theirs ("manual", by them), made by the sender within the endpoint's limits like any
    # other. Cleared when that attempt is recorded.
    manual_requested_at = models.DateTimeField(null=True, blank=True)
    manual_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    # Ordered delivery (``engine/lines.py``): the line it waits in, "" for the endpoint's
    # one line, NULL when its webhook sends in any order. A delivery waiting behind the
    # line's head has no ``next_attempt_at`` until the head is done.
    line_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 (NULL: no line)
    # Given up first in a line that holds until an admin retries or skips it.
    holds_line = models.BooleanField(default=False, db_default=False)
    # The bulk retry that last asked for this delivery (its progress counts these rows).
    bulk_retry = models.ForeignKey(
        "BulkRetry",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
        db_index=False,
    )

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "deliveries"
        # The delivery log's keyset sorts run one direction over all their columns
        # (config/keyset.py), so each index is ascending and read backwards for the
        # newest-first views. Each ends with what the log's "Attempted At" shows and sorts
        # by (ACTIVITY: the latest attempt, or the creation of one not tried yet) and id.
        indexes = [
            # Delivery log default order and its keyset cursor.
            models.Index(ACTIVITY, "id", name="delivery_log_activity"),
            # Time windows on creation, and the retention purge.
            models.Index(fields=["created_at", "id"], name="delivery_log_recent"),
            # Delivery log filtered or sorted by status (Failed is the common one).
            models.Index("status", ACTIVITY, "id", name="delivery_log_status"),
            # Delivery log filtered by webhook, and search resolved to webhook ids.
            models.Index("webhook", ACTIVITY, "id", name="delivery_log_webhook"),
            # Delivery log of one campaign (linked from the campaign's page).
            models.Index(
                "campaign",
                ACTIVITY,
                "id",
                name="delivery_log_campaign",
                condition=models.Q(campaign__isnull=False),
            ),
            # Delivery log filtered by event type (and category, resolved to event types).
            models.Index("event_type", ACTIVITY, "id", name="delivery_log_event_type"),
            # Delivery log filtered or sorted by response code; no response counts as 0.
            models.Index(
                Coalesce("last_response_code", models.Value(0)),
                ACTIVITY,
                "id",
                name="delivery_log_code",
            ),
            # Delivery log of failed deliveries sorted by response code.
            models.Index(
                "status",
                Coalesce("last_response_code", models.Value(0)),
                ACTIVITY,
                "id",
                name="delivery_log_status_code",
            ),
            # The log's count of one status within an event type or a webhook (Failed of
            # one event type): an index-only scan, not a heap page per failed delivery.
            models.Index(fields=["status", "event_type", "webhook"], name="delivery_log_count"),
            # The dispatcher's scan for due and stuck deliveries.
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=models.Q(status__in=["pending", "in_progress", "failed"]),
            ),
            # The fair claim: each endpoint's due deliveries, longest due first.
            models.Index(
                fields=["webhook", "next_attempt_at"],
                name="delivery_due_webhook",
                condition=models.Q(status__in=["pending", "in_progress", "failed"]),
            ),
            # Ordered lines: the next to send of each line (the first waiting)...
            models.Index(
                fields=["webhook", "line_key", "id"],
                name="delivery_line_waiting",
                condition=LINE_WAITING,
            ),
            # ...and whether the line is busy (a delivery due, in flight or held).
            models.Index(
                fields=["webhook", "line_key"],
                name="delivery_line_busy",
                condition=LINE_BUSY,
            ),
            # A bulk retry's progress: its deliveries, sent or still waiting.
            models.Index(
                fields=["bulk_retry", "status"],
                name="delivery_bulk_retry",
                condition=models.Q(bulk_retry__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Delivery #{self.pk} to {self.webhook_id}"

    def get_absolute_url(self) -> str:
        return reverse("deliveries:detail", args=[self.pk])

    def attempt_history(self) -> models.QuerySet:
        """Its attempts. All are made after the delivery: looking from a day before its
        creation (hosts' clocks may differ) lets PostgreSQL skip older days' partitions."""
        return self.attempts.filter(attempted_at__gte=self.created_at - timedelta(days=1))

    @property
    def retry_scheduled(self) -> bool:
        return self.status == DeliveryStatus.FAILED and self.next_attempt_at is not None

    @property
    def manual_waiting(self) -> bool:
        """An admin asked for a send that has not been made yet."""
        return self.manual_requested_at is not None and self.status == DeliveryStatus.PENDING

    @property
    def gave_up(self) -> bool:
        return self.status == DeliveryStatus.FAILED and self.next_attempt_at is None

    @property
    def rendered_body(self) -> str | None:
        """The body as a campaign's template rendered it (shown as is), if it was."""
        return self.payload if isinstance(self.payload, str) else None


class DeliveryAttempt(models.Model):
    """One HTTP try of a delivery, exactly as it was sent and answered."""

    # Indexed by attempt_timeline, which leads with it. No database constraint on
    # PostgreSQL, where attempts are partitioned by day (migration 0018 says why);
    # Django's CASCADE deletes a delivery's attempts with it.
    delivery = models.ForeignKey(
        Delivery,
        on_delete=models.CASCADE,
        related_name="attempts",
        db_index=False,
        db_constraint=False,
    )
    # Denormalised from the delivery for stats and the retention purge; the delivery's own
    # foreign key checks it, so no constraint here (a check and a row lock per attempt).
    # Django's CASCADE still deletes a webhook's attempts with it.
    webhook = models.ForeignKey(
        "webhooks.Webhook", on_delete=models.CASCADE, related_name="attempts", db_constraint=False
    )
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField(default=timezone.now)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.AUTOMATIC)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    request_url = models.CharField(max_length=2048)
    request_method = models.CharField(max_length=10, default="POST")
    request_headers = models.JSONField(default=dict)
    request_body = models.TextField(blank=True)
    success = models.BooleanField(default=False)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    # Headers beyond the caps of deliveries/engine/storable.py were dropped.
    response_headers_truncated = models.BooleanField(default=False, db_default=False)
    response_body = models.TextField(blank=True)
    response_body_truncated = models.BooleanField(default=False)
    # "text", or "base64" for bodies that are not UTF-8.
    response_body_encoding = models.CharField(max_length=10, default="text")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    failure_reason = models.CharField(max_length=30, choices=FailureReason.choices, blank=True)
    failure_detail = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [
            # Timeline of one delivery on its detail view.
            models.Index(fields=["delivery", "number"], name="attempt_timeline"),
            # Retention purge, oldest first.
            models.Index(fields=["attempted_at"], name="attempt_retention"),
        ]

    def __str__(self) -> str:
        return f"Attempt {self.number} of delivery #{self.delivery_id}"


class BulkRetry(models.Model):
    """An admin's "retry all failed deliveries matching these filters", run in the
    background; the progress page reads its counters."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The delivery log's filters as a query string, to link back to them.
    query = models.CharField(max_length=2000, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    # Deliveries failing after the job started are not its business; the walk resumes here.
    max_delivery_id = models.BigIntegerField(default=0)
    cursor_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"Bulk retry #{self.pk}"

    # sent: how many deliveries the walk asked the sender for; succeeded and failed: how
    # their attempts went (counted from the rows while it runs, kept once it is done).

    @property
    def walked(self) -> bool:
        """Every matching delivery has been asked for (or skipped)."""
        return self.cursor_id >= self.max_delivery_id

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.skipped

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, round(100 * self.done / self.total))
