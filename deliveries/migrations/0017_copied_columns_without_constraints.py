"""A delivery's event type and an attempt's webhook lose their foreign-key constraints:
each is a copy of a column that has one (the event's type, the delivery's webhook), and
each constraint was a deferred check, and a row lock, at every commit that writes them.

Only the constraints are dropped, and only on PostgreSQL: on SQLite, Django's AlterField
rebuilds the table, which loses the status-count triggers (see 0012), and a constraint
left there costs nothing that matters to the embedded setup."""

import django.db.models.deletion
from django.db import migrations, models

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
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, name, _, _ in CONSTRAINTS:
        schema_editor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"')


def restore(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, name, column, target in CONSTRAINTS:
        schema_editor.execute(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" FOREIGN KEY ("{column}") '
            f'REFERENCES "{target}" ("id") DEFERRABLE INITIALLY DEFERRED'
        )


class Migration(migrations.Migration):
    dependencies = [
        ("deliveries", "0016_fk_indexes_the_log_indexes_cover"),
        ("webhooks", "0005_subscription_version"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="delivery",
                    name="event_type",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="webhooks.eventtype",
                    ),
                ),
                migrations.AlterField(
                    model_name="deliveryattempt",
                    name="webhook",
                    field=models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attempts",
                        to="webhooks.webhook",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        )
    ]
