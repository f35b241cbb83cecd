from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone


class DeliveryStatus(models.TextChoices):
    """Where a delivery stands, as an admin reads it (seed 004): by its latest attempt."""

    PENDING = "pending", "Pending"  # not tried yet
    IN_PROGRESS = "in_progress", "In progress"  # being sent
    SUCCESS = "success", "Success"  # the latest attempt got a 2xx
    # The latest attempt failed: a retry is scheduled (``next_attempt_at``) or, without
    # one, the sender gave up.
    FAILED = "failed", "Failed"
    NOT_TRIGGERED = "not_triggered", "Not triggered"  # the webhook was paused


# The statuses in which a delivery may be (or become) due: see DeliveryQuerySet.due().
WAITING_STATUSES = [DeliveryStatus.PENDING, DeliveryStatus.IN_PROGRESS, DeliveryStatus.FAILED]


class Source(models.TextChoices):
    EVENT = "event", "Event"
    CAMPAIGN = "campaign", "Campaign"
    # A campaign's "send a test webhook": sent to the campaign's webhook, but without the
    # campaign, so it stays out of the campaign's figures (campaigns/test_send.py).
    TEST = "test", "Test"


class Trigger(models.TextChoices):
    AUTOMATIC = "automatic", "Automatic"
    MANUAL = "manual", "Manual"


class FailureReason(models.TextChoices):
    """The fixed vocabulary stats count errors by."""

    HTTP_ERROR = "http_error", "HTTP error"
    TIMEOUT = "timeout", "Timeout"
    CONNECTION_REFUSED = "connection_refused", "Connection refused"
    CONNECTION_ERROR = "connection_error", "Connection error"
    DNS_ERROR = "dns_error", "DNS failure"
    TLS_ERROR = "tls_error", "TLS error"
    INVALID_URL = "invalid_url", "Invalid Webhook URL"
    BLOCKED_DESTINATION = "blocked_destination", "Blocked destination"
    # The sender failed, not the receiver: a setting HTTP cannot carry, an answer that
    # could not be stored, a bug of ours. The detail names the exception.
    INTERNAL_ERROR = "internal_error", "Internal error"
    # A worker claimed the delivery and stopped before recording the attempt, and the
    # retries the policy allows were used up meanwhile.
    LEASE_EXPIRED = "lease_expired", "Sender stopped (lease ran out)"
    # A campaign's body could not be built for this delivery, so nothing was sent: its
    # Liquid template failed, or one of its linked-content sources did.
    TEMPLATE_ERROR = "template_error", "Template error"
    LINKED_CONTENT_ERROR = "linked_content_error", "Linked content error"


# What the log's "Attempted At" shows and sorts by: the latest attempt, or the creation of
# a delivery not tried yet (deliveries/log/queries.py pages on it).
ACTIVITY = Coalesce("last_attempt_at", "created_at")

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

    webhook = models.ForeignKey(
        "webhooks.Webhook", on_delete=models.CASCADE, related_name="deliveries"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.EVENT)
    event = models.ForeignKey(
        "webhooks.Event",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
    )
    event_type = models.ForeignKey(
        "webhooks.EventType", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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
        ]

    def __str__(self) -> str:
        return f"Delivery #{self.pk} to {self.webhook_id}"

    def get_absolute_url(self) -> str:
        return reverse("deliveries:detail", args=[self.pk])

    @property
    def retry_scheduled(self) -> bool:
        return self.status == DeliveryStatus.FAILED and self.next_attempt_at is not None

    @property
    def gave_up(self) -> bool:
        return self.status == DeliveryStatus.FAILED and self.next_attempt_at is None

    @property
    def rendered_body(self) -> str | None:
        """The body as a campaign's template rendered it (shown as is), if it was."""
        return self.payload if isinstance(self.payload, str) else None


class DeliveryAttempt(models.Model):
    """One HTTP try of a delivery, exactly as it was sent and answered."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    # Denormalised from the delivery for stats and the retention purge.
    webhook = models.ForeignKey(
        "webhooks.Webhook", on_delete=models.CASCADE, related_name="attempts"
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


# Upper edges, in ms, of the duration histogram kept in AttemptRollup: a duration d
# counts in the first bucket whose edge is >= d; the last bucket (le_inf) is open-ended.
DURATION_EDGES = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
HISTOGRAM_FIELDS = tuple(f"le_{edge}" for edge in DURATION_EDGES) + ("le_inf",)


class RollupRow(models.Model):
    """Attempts of one time bucket for one webhook, campaign and outcome, aggregated."""

    webhook = models.ForeignKey("webhooks.Webhook", on_delete=models.CASCADE, related_name="+")
    # No database constraint: deleting a campaign leaves its figures counted for the
    # webhook (the deliveries only lose their link to it).
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    success = models.BooleanField()
    failure_reason = models.CharField(max_length=30, choices=FailureReason.choices, blank=True)
    # "2xx", "4xx", "5xx", ...; blank when there was no response.
    code_class = models.CharField(max_length=3, blank=True)
    count = models.IntegerField(default=0)
    # Over the attempts with a duration; how many those are is the histogram's total.
    duration_sum = models.BigIntegerField(default=0)
    duration_max = models.IntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    le_5 = models.IntegerField(default=0)
    le_10 = models.IntegerField(default=0)
    le_25 = models.IntegerField(default=0)
    le_50 = models.IntegerField(default=0)
    le_100 = models.IntegerField(default=0)
    le_250 = models.IntegerField(default=0)
    le_500 = models.IntegerField(default=0)
    le_1000 = models.IntegerField(default=0)
    le_2500 = models.IntegerField(default=0)
    le_5000 = models.IntegerField(default=0)
    le_10000 = models.IntegerField(default=0)
    le_30000 = models.IntegerField(default=0)
    le_60000 = models.IntegerField(default=0)
    le_inf = models.IntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.count} attempts to {self.webhook_id} at {self.bucket:%Y-%m-%d %H:00}"


def _rollup_key(name: str) -> models.UniqueConstraint:
    # The upsert's conflict target (deliveries/stats/rollups.py: add_attempts); it also serves
    # the dashboard's scan of a time window. COALESCE so that rows without a campaign
    # conflict too (NULLs are distinct in a unique index).
    return models.UniqueConstraint(
        "bucket",
        "webhook",
        Coalesce("campaign", 0),
        "success",
        "failure_reason",
        "code_class",
        name=name,
    )


class AttemptRollup(RollupRow):
    """Attempts per hour (UTC). Stats read these rows (and the daily ones), never the
    attempts. ``deliveries.stats.rollups`` keeps them in step with the attempts table:
    ``add_attempts`` in the transaction that writes attempts, ``remove_attempts`` when
    the retention purge deletes them."""

    bucket = models.DateTimeField(help_text="Start of the hour (UTC).")

    class Meta:
        constraints = [_rollup_key("attempt_rollup_key")]
        indexes = [
            # Stats of one webhook over a window (stats API, per-webhook page).
            models.Index(fields=["webhook", "bucket"], name="attempt_rollup_webhook"),
            # Stats of one campaign over a window (campaign stats).
            models.Index(
                fields=["campaign", "bucket"],
                name="attempt_rollup_campaign",
                condition=models.Q(campaign__isnull=False),
            ),
        ]


class DailyAttemptRollup(RollupRow):
    """The same figures per UTC day, kept alongside the hourly rows (and always their
    sum), so that a window of weeks reads a row per day instead of 24."""

    bucket = models.DateTimeField(help_text="Start of the day (UTC).")

    class Meta:
        constraints = [_rollup_key("daily_rollup_key")]
        indexes = [
            # Stats of one webhook over a window (stats API, per-webhook page).
            models.Index(fields=["webhook", "bucket"], name="daily_rollup_webhook"),
            # Stats of one campaign over a window (campaign stats).
            models.Index(
                fields=["campaign", "bucket"],
                name="daily_rollup_campaign",
                condition=models.Q(campaign__isnull=False),
            ),
        ]


class DeliveryStatusCount(models.Model):
    """How many deliveries created in one hour (UTC) are in each status, kept as deltas.

    Database triggers on the deliveries table (migration 0002) insert one row per
    statement and key with the change (+n / -n), whichever code creates, moves or deletes
    deliveries, so a delivery's status is counted once however it changes. Inserts never
    wait on each other; ``deliveries.stats.recount.compact()`` merges the rows of a key now and
    then. Figures are the sum over a key's rows, compacted or not.

    webhook_id and campaign_id are plain columns: when a webhook is deleted, the triggers
    subtract its deliveries as they go, and a foreign key would delete the rows first.
    """

    bucket = models.DateTimeField(help_text="Start of the hour (UTC) the deliveries were created.")
    webhook_id = models.BigIntegerField()
    campaign_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices)
    count = models.IntegerField()
    compacted = models.BooleanField(default=False)

    class Meta:
        indexes = [
            # Status breakdown over a window (dashboard).
            models.Index(fields=["bucket"], name="status_count_bucket"),
            # Status breakdown of one webhook (per-webhook page).
            models.Index(fields=["webhook_id", "bucket"], name="status_count_webhook"),
            # A campaign's figures (its stats page, the campaign list): its rows only.
            models.Index(
                fields=["campaign_id", "bucket"],
                name="status_count_campaign",
                condition=models.Q(campaign_id__isnull=False),
            ),
            # The rows compact() has not merged yet.
            models.Index(
                fields=["bucket"],
                name="status_count_delta",
                condition=models.Q(compacted=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.count:+} {self.status} deliveries at {self.bucket:%Y-%m-%d %H:00}"


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

    @property
    def done(self) -> int:
        return self.sent + self.skipped

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, round(100 * self.done / self.total))
