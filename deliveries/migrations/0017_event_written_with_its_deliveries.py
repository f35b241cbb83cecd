"""A delivery's event loses its foreign-key constraint, on PostgreSQL.

The emit writes an event and its deliveries in one statement, so the deferred check of
each delivery's event at the commit only found what the statement had just written: a
sixth of the database's time for a batch of 1,000 events. Django's CASCADE still deletes
an event's deliveries with it, and the retention purge deletes an event only once it has
none. The index on the column stays (an event's deliveries are looked up by it).

As in 0016: only the constraint changes, by SQL. Django's AlterField would rebuild the
table on SQLite and lose its status-count triggers (see 0012).
"""

import django.db.models.deletion
from django.db import migrations, models

TABLE, COLUMN = "deliveries_delivery", "event_id"
CONSTRAINT = "deliveries_delivery_event_id_ee0aa5a0_fk_webhooks_event_id"


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'ALTER TABLE "{TABLE}" DROP CONSTRAINT IF EXISTS "{CONSTRAINT}"')


def restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{CONSTRAINT}" FOREIGN KEY ("{COLUMN}") '
            'REFERENCES "webhooks_event" ("id") DEFERRABLE INITIALLY DEFERRED'
        )


class Migration(migrations.Migration):
    dependencies = [("deliveries", "0016_fewer_writes_per_delivery")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    "delivery",
                    "event",
                    models.ForeignKey(
                        to="webhooks.event",
                        related_name="deliveries",
                        on_delete=django.db.models.deletion.CASCADE,
                        blank=True,
                        null=True,
                        db_constraint=False,
                    ),
                )
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        )
    ]
