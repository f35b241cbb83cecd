"""Delivery status counts per UTC day (DailyDeliveryStatusCount), kept in step with the
hourly ones by a trigger on the hourly table, and filled from the hourly rows there.

The trigger sits on deliveries_deliverystatuscount, not on deliveries_delivery: SQLite
drops a table's triggers when a migration rebuilds it (see 0012), and it is the
deliveries table that migrations rebuild. Rows written already merged (compacted) are
not copied: ``compact()`` and ``rebuild()`` write those and keep the days themselves.

The SQL is written out here, so this migration keeps doing what it did when the stats
code changes.
"""

from django.db import migrations, models

HOURLY = "deliveries_deliverystatuscount"
DAILY = "deliveries_dailydeliverystatuscount"
COLUMNS = "bucket, webhook_id, campaign_id, status, count, compacted"

POSTGRESQL_DAY = "date_trunc('day', {} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
SQLITE_DAY = "strftime('%Y-%m-%d 00:00:00', {})"

POSTGRESQL_TRIGGERS = [
    f"""
    CREATE FUNCTION deliveries_status_count_daily() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        -- The statement's delta rows, summed per day and key: plain inserts, so
        -- concurrent writers never wait on each other here either.
        INSERT INTO {DAILY} ({COLUMNS})
        SELECT {POSTGRESQL_DAY.format("bucket")}, webhook_id, campaign_id, status,
            SUM(count), false
        FROM new_rows WHERE NOT compacted
        GROUP BY 1, 2, 3, 4
        HAVING SUM(count) <> 0;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER deliveries_status_count_daily AFTER INSERT ON {HOURLY}
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_status_count_daily()
    """,
]

POSTGRESQL_DROP = [
    f"DROP TRIGGER IF EXISTS deliveries_status_count_daily ON {HOURLY}",
    "DROP FUNCTION IF EXISTS deliveries_status_count_daily()",
]

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER deliveries_status_count_daily AFTER INSERT ON {HOURLY} "
    "WHEN NOT NEW.compacted "
    f"BEGIN INSERT INTO {DAILY} ({COLUMNS}) VALUES ({SQLITE_DAY.format('NEW.bucket')}, "
    "NEW.webhook_id, NEW.campaign_id, NEW.status, NEW.count, 0); END",
]

SQLITE_DROP = ["DROP TRIGGER IF EXISTS deliveries_status_count_daily"]


def fill_sql(vendor: str) -> str:
    day, true = (POSTGRESQL_DAY, "true") if vendor == "postgresql" else (SQLITE_DAY, "1")
    return f"""
        INSERT INTO {DAILY} ({COLUMNS})
        SELECT {day.format("bucket")}, webhook_id, campaign_id, status, SUM(count), {true}
        FROM {HOURLY}
        GROUP BY 1, 2, 3, 4
        HAVING SUM(count) <> 0
        """


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"No status count triggers for {vendor}")
    statements = POSTGRESQL_TRIGGERS if vendor == "postgresql" else SQLITE_TRIGGERS
    if vendor == "postgresql":
        # Nobody adds hourly rows between the fill and the trigger (delivery writes wait
        # for the few seconds this takes at most).
        statements = [f"LOCK TABLE {HOURLY} IN SHARE MODE", *statements]
    for statement in [*statements, fill_sql(vendor)]:
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in POSTGRESQL_DROP if vendor == "postgresql" else SQLITE_DROP:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("deliveries", "0018_attempts_partitioned_by_day"),
    ]

    operations = [
        migrations.CreateModel(
            name="DailyDeliveryStatusCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "bucket",
                    models.DateTimeField(
                        help_text="Start of the UTC day the deliveries were created."
                    ),
                ),
                ("webhook_id", models.BigIntegerField()),
                ("campaign_id", models.BigIntegerField(blank=True, null=True)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("in_progress", "In progress"),
                            ("success", "Success"),
                            ("failed", "Failed"),
                            ("not_triggered", "Not triggered"),
                        ],
                        max_length=20,
                    ),
                ),
                ("count", models.IntegerField()),
                ("compacted", models.BooleanField(default=False)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["bucket"], name="daily_status_count_bucket"),
                    models.Index(
                        fields=["webhook_id", "bucket"], name="daily_status_count_webhook"
                    ),
                    models.Index(
                        condition=models.Q(("campaign_id__isnull", False)),
                        fields=["campaign_id", "bucket"],
                        name="daily_status_count_campaign",
                    ),
                    models.Index(
                        condition=models.Q(("compacted", False)),
                        fields=["bucket"],
                        name="daily_status_count_delta",
                    ),
                ],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
