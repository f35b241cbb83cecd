"""The stats tables: attempts rolled up by hour and by day, and deliveries counted by
status, which the stats pages read instead of the attempts and deliveries themselves."""

from django.db import models
from django.db.models.functions import Coalesce

from deliveries.choices import DeliveryStatus, FailureReason

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


class StatusCountRow(models.Model):
    """Deliveries of one time bucket, webhook, campaign and status: a change (+n / -n) or,
    ``compacted``, the merged sum of a key's changes."""

    webhook_id = models.BigIntegerField()
    campaign_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices)
    count = models.IntegerField()
    compacted = models.BooleanField(default=False)

    class Meta:
        abstract = True


class DeliveryStatusCount(StatusCountRow):
    """How many deliveries created in one hour (UTC) are in each status, kept as deltas.

    Database triggers on the deliveries table (migration 0002) insert one row per
    statement and key with the change (+n / -n), whichever code creates, moves or deletes
    deliveries, so a delivery's status is counted once however it changes. Inserts never
    wait on each other; ``deliveries.stats.recount.compact()`` merges the rows of a key now and
    then. Figures are the sum over a key's rows, compacted or not. ``DailyDeliveryStatusCount``
    holds the same counts per day.

    webhook_id and campaign_id are plain columns: when a webhook is deleted, the triggers
    subtract its deliveries as they go, and a foreign key would delete the rows first.
    """

    bucket = models.DateTimeField(help_text="Start of the hour (UTC) the deliveries were created.")

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


class DailyDeliveryStatusCount(StatusCountRow):
    """The deliveries of DeliveryStatusCount per UTC day of creation: a window of weeks
    reads a row per day and key instead of 24 (the dashboard's month summed 42,000 rows).

    A database trigger on DeliveryStatusCount (migration 0019) adds every delta row
    inserted there to its day, in the same statement, so the days are always the sum of
    their hours. Rows written already merged (``compacted``: by ``compact()`` and
    ``rebuild()``, which keep the days themselves) are not added.
    """

    bucket = models.DateTimeField(help_text="Start of the UTC day the deliveries were created.")

    class Meta:
        indexes = [
            # Status breakdown over a window (dashboard).
            models.Index(fields=["bucket"], name="daily_status_count_bucket"),
            # Status breakdown of one webhook (per-webhook page).
            models.Index(fields=["webhook_id", "bucket"], name="daily_status_count_webhook"),
            # A campaign's figures (its stats page, the campaign list): its rows only.
            models.Index(
                fields=["campaign_id", "bucket"],
                name="daily_status_count_campaign",
                condition=models.Q(campaign_id__isnull=False),
            ),
            # The rows compact() has not merged yet.
            models.Index(
                fields=["bucket"],
                name="daily_status_count_delta",
                condition=models.Q(compacted=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.count:+} {self.status} deliveries on {self.bucket:%Y-%m-%d}"
