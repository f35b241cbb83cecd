"""Attempts partitioned by UTC day, on PostgreSQL (deliveries/engine/partitions.py says
why and how they are kept).

The table is rebuilt: renamed, a partitioned table made like it, a partition made for
each day that holds attempts (the last 400 days and the days ahead; older or stranger
dates go to the default partition), every row copied, then the keys and indexes built
over the copy (faster than keeping them up while copying). The migration holds the
table's lock while it copies: at 20M attempts that is minutes; plan for it.

- The primary key becomes (id, attempted_at): PostgreSQL wants the partition key in every
  unique index. Ids still come from one sequence, so an id alone still names one attempt,
  and Django still treats ``id`` as the key.
- The attempt's delivery loses its foreign-key constraint: deleting a delivery would
  otherwise look for its attempts in every partition, once per delivery the purge deletes.
  Django's CASCADE still deletes a delivery's attempts with it, and the purge deletes a
  delivery only once it has none.

SQLite keeps its plain table (and its constraint, as 0016 left others).
"""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "deliveries_deliveryattempt"
OLD = f"{TABLE}_unpartitioned"
SEQUENCE = f"{TABLE}_id_seq"
DELIVERY_FK = "deliveries_deliverya_delivery_id_85da7e15_fk_deliverie"
USER_FK = "deliveries_deliverya_triggered_by_id_5726bd59_fk_auth_user"
INDEXES = [
    ("attempt_retention", "attempted_at"),
    ("attempt_timeline", "delivery_id, number"),
    ("deliveries_deliveryattempt_triggered_by_id_5726bd59", "triggered_by_id"),
    ("deliveries_deliveryattempt_webhook_id_938c5880", "webhook_id"),
]
KEPT_DAYS, AHEAD_DAYS = 400, 7


def _keys(execute, primary_key: str) -> None:
    execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY ({primary_key})")
    for name, columns in INDEXES:
        execute(f"CREATE INDEX {name} ON {TABLE} ({columns})")
    execute(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT {USER_FK} FOREIGN KEY (triggered_by_id) "
        "REFERENCES auth_user (id) DEFERRABLE INITIALLY DEFERRED"
    )


def _executor(schema_editor):
    # No parameters: the statements hold format()'s own % placeholders.
    return lambda sql: schema_editor.execute(sql, None)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    execute = _executor(schema_editor)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_get_serial_sequence('{TABLE}', 'id')")
        (old_sequence,) = cursor.fetchone()
    execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    execute(f"ALTER TABLE {OLD} DROP CONSTRAINT {TABLE}_pkey")
    for name, _ in INDEXES:
        execute(f"DROP INDEX {name}")
    execute(f"ALTER TABLE {OLD} DROP CONSTRAINT {DELIVERY_FK}")
    execute(f"ALTER TABLE {OLD} DROP CONSTRAINT {USER_FK}")
    execute(f"ALTER SEQUENCE {old_sequence} RENAME TO {OLD}_id_seq")

    execute(
        f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
        "PARTITION BY RANGE (attempted_at)"
    )
    execute(f"CREATE SEQUENCE {SEQUENCE} OWNED BY {TABLE}.id")
    execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{SEQUENCE}')")
    execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
    # A partition for each day with attempts, and for the days around today.
    execute(
        f"""
        DO $$
        DECLARE day date;
        BEGIN
          FOR day IN
            SELECT DISTINCT (attempted_at AT TIME ZONE 'UTC')::date FROM {OLD}
            WHERE attempted_at >= now() - interval '{KEPT_DAYS} days'
              AND attempted_at < now() + interval '{AHEAD_DAYS + 1} days'
            UNION
            SELECT generate_series(
              (now() AT TIME ZONE 'UTC')::date - 1,
              (now() AT TIME ZONE 'UTC')::date + {AHEAD_DAYS}, interval '1 day')::date
          LOOP
            EXECUTE format(
              'CREATE TABLE %I PARTITION OF {TABLE} FOR VALUES FROM (%L) TO (%L)',
              '{TABLE}_p' || to_char(day, 'YYYYMMDD'),
              day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
          END LOOP;
        END $$"""
    )
    execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
    execute(
        f"SELECT setval('{SEQUENCE}', greatest((SELECT max(id) FROM {OLD}), "
        f"(SELECT last_value FROM {OLD}_id_seq)))"
    )
    execute(f"DROP TABLE {OLD}")
    _keys(execute, "id, attempted_at")
    execute(f"ANALYZE {TABLE}")


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    execute = _executor(schema_editor)
    execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    execute(f"ALTER TABLE {OLD} DROP CONSTRAINT {TABLE}_pkey")
    for name, _ in INDEXES:
        execute(f"DROP INDEX {name}")
    execute(f"ALTER TABLE {OLD} DROP CONSTRAINT {USER_FK}")
    execute(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    execute(f"ALTER TABLE {TABLE} ALTER COLUMN id DROP DEFAULT")
    execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
    execute(f"DROP TABLE {OLD}")  # its partitions and sequence with it
    execute(
        f"ALTER TABLE {TABLE} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY "
        f"(START WITH 1)"
    )
    execute(
        f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), "
        f"coalesce((SELECT max(id) FROM {TABLE}), 1))"
    )
    _keys(execute, "id")
    execute(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT {DELIVERY_FK} FOREIGN KEY (delivery_id) "
        "REFERENCES deliveries_delivery (id) DEFERRABLE INITIALLY DEFERRED"
    )


class Migration(migrations.Migration):
    dependencies = [("deliveries", "0017_event_written_with_its_deliveries")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    "deliveryattempt",
                    "delivery",
                    models.ForeignKey(
                        to="deliveries.delivery",
                        related_name="attempts",
                        on_delete=django.db.models.deletion.CASCADE,
                        db_index=False,
                        db_constraint=False,
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(partition, unpartition)],
        )
    ]
