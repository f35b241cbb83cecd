"""SQLite: put back the triggers that keep DeliveryStatusCount in step with deliveries.

Adding columns to deliveries_delivery (0011) makes Django rebuild the table on SQLite,
and the rebuilt table has lost the triggers of 0003. Where they are missing they are
created again, and the status counts rebuilt from the deliveries, since rows written
without them were not counted. PostgreSQL added the columns in place and kept its
triggers: nothing to do there.

Any later migration that rebuilds deliveries_delivery on SQLite must do the same.
"""

import importlib

from django.db import migrations

# Migrations are frozen: 0003's statements are the ones to repeat.
_triggers = importlib.import_module("deliveries.migrations.0003_rollup_triggers")
NAMES = {"deliveries_status_count_insert", "deliveries_status_count_delete",
         "deliveries_status_count_update"}  # fmt: skip


def restore(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name = 'deliveries_delivery'"
        )
        if NAMES <= {row[0] for row in cursor.fetchall()}:
            return
    status_count_fill = _triggers.fill_sql("sqlite")[-1]
    statements = [
        *_triggers.SQLITE_DROP,
        *_triggers.SQLITE_TRIGGERS,
        "DELETE FROM deliveries_deliverystatuscount",
        status_count_fill,
    ]
    for statement in statements:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("deliveries", "0011_campaign_request_content_type_query"),
    ]

    operations = [
        migrations.RunPython(restore, migrations.RunPython.noop),
    ]
