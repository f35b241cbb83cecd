"""The deliveries' fixed vocabularies: statuses, sources, triggers, failure reasons."""

from django.db import models


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
