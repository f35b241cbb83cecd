"""Fewer writes for every delivery and attempt written or updated.

- The single-column indexes of four foreign keys go: indexes leading with the same
  column already serve them (delivery_log_webhook, delivery_log_campaign,
  delivery_log_event_type, attempt_timeline).
- A delivery's event type and an attempt's webhook lose their foreign-key constraints,
  on PostgreSQL: each is a copy of a column that has one (the event's type, the
  delivery's webhook), and each was a deferred check, and a row lock, at every commit.
  Django's on_delete still clears and deletes them.

Only the indexes and constraints change. Django's AlterField would drop and re-add each
foreign key, checking every row again under a lock that stops writes, and on SQLite it
rebuilds the table, which loses the status-count triggers (see 0012); a constraint left
on SQLite costs nothing that matters to the embedded setup.
"""

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
# (table, constraint, column, referenced table)
CONSTRAINTS = [
    (
        "deliveries_delivery",
        "deliveries_delivery_event_type_id_931ac209_fk_webhooks_",
        "event_type_id",
        "webhooks_eventtype",
    ),
    (
        "deliveries_deliveryattempt",
        "deliveries_deliverya_webhook_id_938c5880_fk_webhooks_",
        "webhook_id",
        "webhooks_webhook",
    ),
]


def drop(apps, schema_editor):
    for _, index, _ in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{index}"')
    if schema_editor.connection.vendor == "postgresql":
        for table, name, _, _ in CONSTRAINTS:
            schema_editor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"')


def restore(apps, schema_editor):
    for table, index, column in INDEXES:
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" ("{column}")')
    if schema_editor.connection.vendor == "postgresql":
        for table, name, column, target in CONSTRAINTS:
            schema_editor.execute(
                f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" FOREIGN KEY ("{column}") '
                f'REFERENCES "{target}" ("id") DEFERRABLE INITIALLY DEFERRED'
            )


def _foreign_key(to: str, related_name: str, on_delete, **options) -> models.ForeignKey:
    return models.ForeignKey(
        to=to, related_name=related_name, on_delete=on_delete, db_index=False, **options
    )


CASCADE, SET_NULL = django.db.models.deletion.CASCADE, django.db.models.deletion.SET_NULL


class Migration(migrations.Migration):
    dependencies = [
        ("deliveries", "0015_log_count_index"),
        ("webhooks", "0005_subscription_version"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    "delivery",
                    "campaign",
                    _foreign_key(
                        "campaigns.campaign", "deliveries", SET_NULL, blank=True, null=True
                    ),
                ),
                migrations.AlterField(
                    "delivery",
                    "event_type",
                    _foreign_key(
                        "webhooks.eventtype",
                        "+",
                        SET_NULL,
                        blank=True,
                        null=True,
                        db_constraint=False,
                    ),
                ),
                migrations.AlterField(
                    "delivery", "webhook", _foreign_key("webhooks.webhook", "deliveries", CASCADE)
                ),
                migrations.AlterField(
                    "deliveryattempt",
                    "delivery",
                    _foreign_key("deliveries.delivery", "attempts", CASCADE),
                ),
                migrations.AlterField(
                    "deliveryattempt",
                    "webhook",
                    models.ForeignKey(
                        to="webhooks.webhook",
                        related_name="attempts",
                        on_delete=CASCADE,
                        db_constraint=False,
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        )
    ]
