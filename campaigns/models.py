from django.db import models


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


class Campaign(models.Model):
    """A campaign streams batched payloads about a segment of profiles to one webhook.

    Segments, schedules and fan-out arrive with the campaigns issue; deliveries already
    point here so the log can tell campaign deliveries from event deliveries.
    """

    name = models.CharField(max_length=100)
    webhook = models.ForeignKey(
        "webhooks.Webhook", on_delete=models.PROTECT, related_name="campaigns"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name
