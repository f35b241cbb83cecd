from django.db import models
from django.utils import timezone


class Profile(models.Model):
    """A user of the platform: who campaigns are about and whom segments select."""

    identity = models.CharField(max_length=200, unique=True)
    # Stored in lower case (profiles.upsert), so a search finds it however it was typed.
    email = models.CharField(max_length=254, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    push_token = models.CharField(max_length=500, blank=True)
    # Demographics and anything else a client sends ("country", "plan", "birthday").
    properties = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["identity"]
        indexes = [
            # The profile list's search: identities and emails starting with what was
            # typed (pattern ops: the unique index's collation cannot serve LIKE 'x%').
            models.Index(
                fields=["identity"],
                opclasses=["varchar_pattern_ops"],
                name="profile_identity_prefix",
            ),
            models.Index(
                fields=["email"], opclasses=["varchar_pattern_ops"], name="profile_email_prefix"
            ),
        ]

    def __str__(self) -> str:
        return self.identity


class ProfileEvent(models.Model):
    """Something a profile did ("App Launched", "Charged"), with its properties.

    User events have their own table rather than sharing webhooks.Event, which is the
    delivery outbox: that one holds catalogued platform events and is purged with their
    deliveries after the retention period, while segments ask about what a user did
    "ever", over many more rows, by event name, profile and time.
    """

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="events")
    name = models.CharField(max_length=100)
    properties = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        indexes = [
            # Segments: "who did <name> in <window>" scans one name's time range. With the
            # profile in the index too, the scan never visits the table (index-only).
            models.Index(
                fields=["name", "occurred_at"],
                include=["profile"],
                name="profile_event_name_time",
            ),
            # Segments' correlated checks ("did B after this A") and the profile page's
            # recent events.
            models.Index(fields=["profile", "name", "occurred_at"], name="profile_event_profile"),
        ]

    def __str__(self) -> str:
        return f"{self.name} by {self.profile_id}"


class Segment(models.Model):
    """A saved audience: a rule (campaigns/segments/rules.py) over profiles and events."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    # The rule as the builder and the API save it; validated by segments.rules.
    rule = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    STOPPED = "stopped", "Stopped"


class DeliveryType(models.TextChoices):
    ONE_TIME = "one_time", "One time"
    RECURRING = "recurring", "Recurring"
    LIVE = "live", "Live (when a user does an event)"


class BodyMode(models.TextChoices):
    # The seed's payload: {"targetId", "key_values", "profiles": [...]}.
    PROFILE_VARIABLES = "profile_variables", "Profile variables"
    CUSTOM = "custom", "Custom body (Liquid)"


class ContentType(models.TextChoices):
    JSON = "json", "JSON"
    TEXT = "text", "Plain text"


class Campaign(models.Model):
    """Batched payloads about a segment of profiles, sent to one webhook (seed 002).

    Who: a saved ``segment`` or an ad-hoc ``rule`` (the segment builder's JSON), capped
    and split into a control group. When: once, on a recurrence, or live on an event.
    What: the seed's profile-variables payload or a custom Liquid body.
    """

    name = models.CharField(max_length=100)
    status = models.CharField(
        max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    delivery_type = models.CharField(
        max_length=10, choices=DeliveryType.choices, default=DeliveryType.ONE_TIME
    )
    # Drafts may not have chosen one yet; a published campaign has.
    webhook = models.ForeignKey(
        "webhooks.Webhook",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
    )
    timezone = models.CharField(max_length=64, default="UTC")
    # When: one time.
    send_at = models.DateTimeField(null=True, blank=True)
    # When: recurring (campaigns/schedule.py reads these as a Recurrence).
    recurrence = models.JSONField(null=True, blank=True)
    # When: live, on a user event, after an optional delay.
    trigger_event = models.CharField(max_length=100, blank=True)
    trigger_delay_minutes = models.PositiveIntegerField(default=0)
    # The next scheduled occurrence, for beat to find (null: none pending).
    next_run_at = models.DateTimeField(null=True, blank=True)
    # Goal: a conversion is the goal event within the window after the send.
    goal_event = models.CharField(max_length=100, blank=True)
    goal_window_days = models.PositiveSmallIntegerField(default=7)
    # Who.
    segment = models.ForeignKey(
        Segment, null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns"
    )
    rule = models.JSONField(null=True, blank=True)
    target_cap = models.PositiveIntegerField(null=True, blank=True)
    control_percent = models.PositiveSmallIntegerField(default=0)
    # What.
    query_params = models.JSONField(default=list, blank=True)  # [[key, value], ...]
    content_type = models.CharField(
        max_length=10, choices=ContentType.choices, default=ContentType.JSON
    )
    body_mode = models.CharField(
        max_length=20, choices=BodyMode.choices, default=BodyMode.PROFILE_VARIABLES
    )
    profile_fields = models.JSONField(default=list, blank=True)  # of PROFILE_FIELDS
    profile_properties = models.JSONField(null=True, blank=True)  # None: all of them
    custom_body = models.TextField(blank=True)
    key_values = models.JSONField(default=dict, blank=True)
    batch_size = models.PositiveIntegerField(default=100)
    linked_content = models.JSONField(default=list, blank=True)  # [{"name", "url"}]
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Beat's scan for scheduled occurrences that are due.
            models.Index(
                fields=["next_run_at"],
                name="campaign_due",
                condition=models.Q(status__in=["scheduled", "running"]),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    STOPPED = "stopped", "Stopped"
    FAILED = "failed", "Failed"


class CampaignRun(models.Model):
    """One occurrence of a campaign: its audience streamed into deliveries.

    ``occurrence`` names it (a scheduled time, a live event, a manual send), and is
    unique per campaign, so running the same occurrence twice resumes it instead of
    sending twice. ``cursor`` is the last profile id written, so a run that died resumes
    after it.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    occurrence = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    members = models.PositiveIntegerField(default=0)  # the segment when the run started
    streamed = models.PositiveIntegerField(default=0)  # members gone through so far
    targets = models.PositiveIntegerField(default=0)
    control = models.PositiveIntegerField(default=0)
    payloads = models.PositiveIntegerField(default=0)
    cursor = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "occurrence"], name="campaign_run_occurrence_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign} · {self.occurrence}"


class CampaignRecipient(models.Model):
    """A member a run selected: sent to (in a delivery) or held back as control.

    Goal conversions compare the two groups. Profiles are referenced by id without a
    constraint: deleting a profile keeps the figures of past runs.
    """

    run = models.ForeignKey(CampaignRun, on_delete=models.CASCADE, related_name="recipients")
    profile_id = models.BigIntegerField()
    control = models.BooleanField(default=False)
    delivery_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "profile_id"], name="campaign_recipient_unique")
        ]

    def __str__(self) -> str:
        return f"{'control' if self.control else 'target'} {self.profile_id} of run {self.run_id}"


class TriggerStatus(models.TextChoices):
    PENDING = "pending", "Waiting for its time"
    RAN = "ran", "Ran"  # live.run decided: sent, held back, or no longer in the audience
    SKIPPED = "skipped", "Skipped while paused"
    CLOSED = "closed", "Closed (campaign stopped)"
    FAILED = "failed", "Failed"


class LiveTrigger(models.Model):
    """A live campaign's send to the user of one event, due at the event's time plus the
    campaign's delay (campaigns/live_triggers.py).

    Written in the transaction that records the event, and found by beat when due: the
    row is the truth, a broker message only wakes a worker early. ``claimed_at`` is a
    lease, so a worker that dies mid-run leaves the row to another after it runs out.
    """

    # No index of its own: the unique (campaign, event) index starts with it.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="triggers", db_index=False
    )
    event = models.ForeignKey(ProfileEvent, on_delete=models.CASCADE, related_name="triggers")
    due_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=TriggerStatus.choices, default=TriggerStatus.PENDING
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One send per (campaign, event), however often the event is handed over.
            models.UniqueConstraint(fields=["campaign", "event"], name="live_trigger_unique")
        ]
        indexes = [
            # The dispatcher's claim (live_triggers._claim): pending rows due by now, the
            # longest-due first. Finished rows stay out of the index.
            models.Index(
                fields=["due_at"],
                name="live_trigger_due",
                condition=models.Q(status="pending"),
            ),
            # The campaign page's "skipped while paused" count (live_triggers.skipped).
            models.Index(
                fields=["campaign"],
                name="live_trigger_skipped",
                condition=models.Q(status="skipped"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} on event {self.event_id} at {self.due_at:%Y-%m-%d %H:%M}"
