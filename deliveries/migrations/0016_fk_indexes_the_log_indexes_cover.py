"""The single-column indexes of four foreign keys, which indexes leading with the same
column already serve (delivery_log_webhook, delivery_log_campaign, delivery_log_event_type,
attempt_timeline). Each was one more write for every delivery and attempt written or
updated. The indexes are dropped alone: Django's AlterField would drop and re-add each
foreign key, checking every row again under a lock that stops writes."""

import django.db.models.deletion
from django.db import migrations, models

# (table, index, column)
INDEXES = [
    ("deliveries_delivery", "deliveries_delivery_campaign_id_b6301652", "campaign_id"),
    ("deliveries_delivery", "deliveries_delivery_event_type_id_931ac209", "event_type_id"),
    ("deliveries_delivery", "deliveries_delivery_webhook_id_9d6badc2", "webhook_id"),
    (
        "deliveries_deliveryattempt",
        "deliveries_deliveryattempt_delivery_id_85da7e15",
        "delivery_id",
    ),
]

state_operations = [
    migrations.AlterField(
        model_name="delivery",
        name="campaign",
        field=models.ForeignKey(
            blank=True,
            db_index=False,
            null=True,
            on_delete=django.db.models.deletion.SET_NULL,
            related_name="deliveries",
            to="campaigns.campaign",
        ),
    ),
    migrations.AlterField(
        model_name="delivery",
        name="event_type",
        field=models.ForeignKey(
            blank=True,
            db_index=False,
            null=True,
            on_delete=django.db.models.deletion.SET_NULL,
            related_name="+",
            to="webhooks.eventtype",
        ),
    ),
    migrations.AlterField(
        model_name="delivery",
        name="webhook",
        field=models.ForeignKey(
            db_index=False,
            on_delete=django.db.models.deletion.CASCADE,
            related_name="deliveries",
            to="webhooks.webhook",
        ),
    ),
    migrations.AlterField(
        model_name="deliveryattempt",
        name="delivery",
        field=models.ForeignKey(
            db_index=False,
            on_delete=django.db.models.deletion.CASCADE,
            related_name="attempts",
            to="deliveries.delivery",
        ),
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("deliveries", "0015_log_count_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=state_operations,
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX "{index}" ON "{table}" ("{column}")',
                )
                for table, index, column in INDEXES
            ],
        )
    ]
