import base64
import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import connection, models
from django.urls import reverse
from django.utils import timezone

from config.prepared import prepared_cursor
from webhooks.destinations import MAX_URL_LENGTH, validate_webhook_url

SECRET_PREFIX = "whsec_"
# How long the previous secret keeps signing after a rotation, so receivers can switch.
SECRET_OVERLAP = timedelta(hours=24)


def generate_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 24 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def mask_secret(secret: str) -> str:
    """Show only enough of a secret to tell two apart: its prefix and last four characters."""
    if not secret:
        return ""
    prefix = SECRET_PREFIX if secret.startswith(SECRET_PREFIX) else ""
    return f"{prefix}{'•' * 12}{secret[-4:]}"


class EventType(models.Model):
    name = models.CharField(
        max_length=100,
        unique=True,
        validators=[
            RegexValidator(
                r"^[a-z0-9_]+(\.[a-z0-9_]+)+$",
                "Use lower-case words joined by dots, such as license.assigned.",
            )
        ],
    )
    category = models.CharField(max_length=50, help_text="For example License, Activation.")
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["category", "name"]

    def __str__(self) -> str:
        return self.name


class RetryStrategy(models.TextChoices):
    # Each wait twice the one before, the waits adding up to the window.
    EXPONENTIAL = "exponential", "Exponential backoff"
    # The window split into equal waits: 48 retries over 48 hours is one an hour.
    FIXED = "fixed", "Fixed interval"


class DeliveryOrder(models.TextChoices):
    """How a webhook's deliveries are lined up (``deliveries.engine.lines``)."""

    ANY = "any", "Any order (fastest)"
    ENDPOINT = "endpoint", "In order per endpoint"
    KEY = "key", "In order per key"


class WhenHeadGivenUp(models.TextChoices):
    """What an ordered line does when its first delivery runs out of retries."""

    SKIP = "skip", "Skip it and go on"
    HOLD = "hold", "Hold the line until an admin acts"


# An ordering key is cut to this many characters.
MAX_ORDERING_KEY = 200


# Exponential backoff halves the first wait with each retry added: past 20 the first waits
# are shorter than a request. A fixed interval allows more (seed 003: hourly for 48 hours).
MAX_RETRIES = {RetryStrategy.EXPONENTIAL: 20, RetryStrategy.FIXED: 100}


class Health(models.TextChoices):
    """Whether the sender sends to an endpoint (deliveries/engine/health.py moves it)."""

    HEALTHY = "healthy", "Healthy"
    # Failed repeatedly: its deliveries wait, and one probe per backoff interval tests it.
    FAILING = "failing", "Failing"
    # Failed for too long: nothing is sent until an admin re-enables it.
    DISABLED = "disabled", "Disabled"


class Webhook(models.Model):
    name = models.CharField(max_length=100)
    url = models.CharField("URL", max_length=MAX_URL_LENGTH, validators=[validate_webhook_url])
    description = models.TextField(blank=True)
    is_active = models.BooleanField("active", default=True)
    secret = models.CharField(max_length=100, default=generate_secret, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    basic_auth_username = models.CharField(max_length=150, blank=True)
    basic_auth_password = models.CharField(max_length=150, blank=True)
    # A list of {"name": str, "value": str, "secret": bool}; validated by the form.
    custom_headers = models.JSONField(default=list, blank=True)
    timeout_seconds = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )
    # Retry policy overrides; blank means the system default (SystemSettings).
    max_retries = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(100)]
    )
    retry_strategy = models.CharField(
        "retry schedule",
        max_length=12,
        choices=RetryStrategy.choices,
        blank=True,
        db_default="",
    )
    retry_window_seconds = models.PositiveIntegerField(
        "retry window (seconds)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 3600)],
    )
    # Fair share: concurrent sends across all workers (blank: DELIVERIES_ENDPOINT_CONCURRENCY)
    # and an optional rate limit.
    max_in_flight = models.PositiveSmallIntegerField(
        "concurrent requests",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    rate_limit = models.PositiveIntegerField(
        "rate limit (requests per second)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(10_000)],
    )
    # Ordered delivery: within a line (the endpoint, or the endpoint and a key read from
    # the event), a delivery is sent once the one before it succeeded or was given up.
    delivery_order = models.CharField(
        max_length=10, choices=DeliveryOrder.choices, default=DeliveryOrder.ANY, db_default="any"
    )
    # Where the key is in the event's payload (dots between names: ``data.order_id``);
    # blank: the ``ordering_key`` the event was sent with.
    ordering_key_path = models.CharField(
        "ordering key field", max_length=200, blank=True, default="", db_default=""
    )
    when_head_given_up = models.CharField(
        "when the first in line is given up",
        max_length=10,
        choices=WhenHeadGivenUp.choices,
        default=WhenHeadGivenUp.SKIP,
        db_default="skip",
    )
    event_types = models.ManyToManyField(EventType, related_name="webhooks", blank=True)
    # Endpoint health, kept by the sender.
    health = models.CharField(
        max_length=10,
        choices=Health.choices,
        default=Health.HEALTHY,
        db_default=Health.HEALTHY,
        editable=False,
    )
    health_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    first_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    next_probe_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The latest failure: a FailureReason value (deliveries.models) and its label.
    last_failure_reason = models.CharField(max_length=30, blank=True, db_default="", editable=False)
    last_failure_label = models.CharField(max_length=100, blank=True, db_default="", editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("webhooks:edit", args=[self.pk])

    @property
    def masked_secret(self) -> str:
        return mask_secret(self.secret)

    def rotate_secret(self) -> None:
        """Issue a new secret; the old one keeps signing for ``SECRET_OVERLAP``."""
        self.previous_secret = self.secret
        self.previous_secret_expires_at = timezone.now() + SECRET_OVERLAP
        self.secret = generate_secret()
        self.save(
            update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"]
        )

    def enable(self, actor=None) -> None:
        """Re-enable an endpoint the sender disabled: what waited is sent again (the
        dispatcher finds it within DELIVERIES_DISPATCH_INTERVAL)."""
        Webhook.objects.filter(pk=self.pk).update(
            health=Health.HEALTHY,
            health_changed_at=timezone.now(),
            consecutive_failures=0,
            first_failure_at=None,
            next_probe_at=None,
            updated_at=timezone.now(),
        )
        self.refresh_from_db()
        ActivityEntry.record("webhook.enabled", f"Webhook “{self.name}” re-enabled", actor)

    def signing_secrets(self) -> list[str]:
        """The secrets that sign a delivery now: the current one, and the previous one
        while its overlap lasts."""
        expires = self.previous_secret_expires_at
        if self.previous_secret and expires and expires > timezone.now():
            return [self.secret, self.previous_secret]
        return [self.secret]


class Event(models.Model):
    event_type = models.ForeignKey(EventType, on_delete=models.PROTECT, related_name="events")
    payload = models.JSONField()
    occurred_at = models.DateTimeField(default=timezone.now)
    idempotency_key = models.CharField(max_length=200, blank=True)
    # The line of webhooks ordered per key that do not read the key from the payload.
    ordering_key = models.CharField(
        max_length=MAX_ORDERING_KEY, blank=True, default="", db_default=""
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # A repeated idempotency key returns the existing event instead of a new one.
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="event_idempotency_key_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.pk}"


class ActivityEntry(models.Model):
    """One line of the system activity log shown at /admin/logs.

    It lives in the lowest app so that every app can write to it.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    action = models.CharField(max_length=50)
    summary = models.CharField(max_length=500)
    count = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Activity log page, newest first (config: /admin/logs).
            models.Index(fields=["-created_at", "-id"], name="activity_recent"),
        ]

    def __str__(self) -> str:
        return self.summary

    @classmethod
    def record(cls, action: str, summary: str, actor=None, count: int | None = None):
        if actor is not None and not actor.is_authenticated:
            actor = None
        return cls.objects.create(action=action, summary=summary, actor=actor, count=count)


API_KEY_PREFIX = "whp_"


# How stale an API key's "last used" may be (the Settings page shows "3 minutes ago").
LAST_USED_PRECISION = timedelta(minutes=1)


def hash_api_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    """A key for the JSON API, sent as ``Authorization: Bearer <key>``.

    Only a SHA-256 of the key is stored; the key itself is shown once, at creation.
    """

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, name: str, created_by=None) -> tuple["ApiKey", str]:
        """Create a key; return it with the raw key, which is not stored anywhere."""
        raw_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key = cls.objects.create(
            name=name,
            prefix=raw_key[: len(API_KEY_PREFIX) + 6],
            key_hash=hash_api_key(raw_key),
            created_by=created_by,
        )
        return key, raw_key

    @classmethod
    def authenticate(cls, raw_key: str) -> "ApiKey | None":
        """The live key ``raw_key`` is, or None. Its "last used" is written at most once
        per ``LAST_USED_PRECISION``: a write (and a commit waiting on the disk) on every
        request made every API request queue on this one row."""
        # One plain SQL query, not the ORM's: every API request asks this, and building
        # the query was a fifth of an event's time in the web server. The instance it
        # gives has its other fields deferred (read if ever asked for).
        now = timezone.now()
        stale_before = connection.ops.adapt_datetimefield_value(now - LAST_USED_PRECISION)
        with prepared_cursor() as cursor:
            cursor.execute(
                f"SELECT id, last_used_at IS NULL OR last_used_at < %s FROM {cls._meta.db_table} "
                "WHERE key_hash = %s AND revoked_at IS NULL",
                [stale_before, hash_api_key(raw_key)],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        pk, stale = row
        if stale:
            cls.objects.filter(pk=pk).update(last_used_at=now)
        return cls.from_db(connection.alias, ["id"], [pk])


class SystemSettings(models.Model):
    """Delivery defaults edited on the Settings page; one row (pk=1).

    Initial values come from Django settings; after that this row is the truth.
    """

    default_timeout_seconds = models.PositiveSmallIntegerField(
        "default timeout (seconds)",
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
    )
    max_retries = models.PositiveSmallIntegerField(
        "automatic retries", default=3, validators=[MaxValueValidator(100)]
    )
    retry_strategy = models.CharField(
        "retry schedule",
        max_length=12,
        choices=RetryStrategy.choices,
        default=RetryStrategy.EXPONENTIAL,
        db_default=RetryStrategy.EXPONENTIAL,
    )
    retry_window_seconds = models.PositiveIntegerField(
        "retry window (seconds)",
        default=1800,
        validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 3600)],
        help_text="The retries are spread over this window.",
    )
    retention_days = models.PositiveSmallIntegerField(
        "log retention (days)",
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "system settings"

    def __str__(self) -> str:
        return "System settings"

    @classmethod
    def load(cls) -> "SystemSettings":
        current, _ = cls.objects.get_or_create(
            pk=1,
            defaults={
                "default_timeout_seconds": settings.WEBHOOKS_DEFAULT_TIMEOUT,
                "retention_days": settings.DELIVERIES_RETENTION_DAYS,
            },
        )
        return current
