from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_PROGRESS = "in_progress", "In progress"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    NOT_TRIGGERED = "not_triggered", "Not triggered"


class Source(models.TextChoices):
    EVENT = "event", "Event"
    CAMPAIGN = "campaign", "Campaign"


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
    payload = models.JSONField(null=True, blank=True)
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

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            # Delivery log default order and its keyset cursor.
            models.Index(fields=["-created_at", "-id"], name="delivery_log_recent"),
            # Delivery log filtered by status (Failed is the common one).
            models.Index(fields=["status", "-created_at", "-id"], name="delivery_log_status"),
            # Delivery log filtered by webhook, and search resolved to webhook ids.
            models.Index(fields=["webhook", "-created_at", "-id"], name="delivery_log_webhook"),
            # Delivery log filtered by event type (and category, resolved to event types).
            models.Index(
                fields=["event_type", "-created_at", "-id"], name="delivery_log_event_type"
            ),
            # Delivery log filtered or sorted by response code.
            models.Index(
                fields=["last_response_code", "-created_at", "-id"], name="delivery_log_code"
            ),
            # The dispatcher's scan for due and stuck deliveries.
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=models.Q(status__in=["pending", "in_progress"]),
            ),
        ]

    def __str__(self) -> str:
        return f"Delivery #{self.pk} to {self.webhook_id}"

    def get_absolute_url(self) -> str:
        return reverse("deliveries:detail", args=[self.pk])


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
