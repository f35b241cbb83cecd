"""Triggers that keep DeliveryStatusCount in step with the deliveries table, and a first
fill of both rollup tables from the rows already there.

The SQL is written out here rather than imported from deliveries.rollups, so this
migration keeps doing what it did when that module changes.
"""

from django.db import migrations

EDGES = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
HISTOGRAM = [f"le_{edge}" for edge in EDGES] + ["le_inf"]

POSTGRESQL_TRIGGERS = [
    """
    CREATE FUNCTION deliveries_status_count_delta() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        -- One row per key and statement: +n for rows that arrive in a (bucket, webhook,
        -- campaign, status), -n for rows that leave it. Plain inserts, so concurrent
        -- writers never wait on each other here.
        IF TG_OP = 'INSERT' THEN
            INSERT INTO deliveries_deliverystatuscount
                (bucket, webhook_id, campaign_id, status, count, compacted)
            SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                webhook_id, campaign_id, status, COUNT(*), false
            FROM new_rows GROUP BY 1, 2, 3, 4;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO deliveries_deliverystatuscount
                (bucket, webhook_id, campaign_id, status, count, compacted)
            SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                webhook_id, campaign_id, status, -COUNT(*), false
            FROM old_rows GROUP BY 1, 2, 3, 4;
        ELSE
            INSERT INTO deliveries_deliverystatuscount
                (bucket, webhook_id, campaign_id, status, count, compacted)
            SELECT bucket, webhook_id, campaign_id, status, SUM(n), false
            FROM (
                SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                    AS bucket, webhook_id, campaign_id, status, -1 AS n
                FROM old_rows
                UNION ALL
                SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                    webhook_id, campaign_id, status, 1
                FROM new_rows
            ) AS changes
            GROUP BY bucket, webhook_id, campaign_id, status
            HAVING SUM(n) <> 0;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER deliveries_status_count_insert AFTER INSERT ON deliveries_delivery
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_status_count_delta()
    """,
    """
    CREATE TRIGGER deliveries_status_count_update AFTER UPDATE ON deliveries_delivery
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_status_count_delta()
    """,
    """
    CREATE TRIGGER deliveries_status_count_delete AFTER DELETE ON deliveries_delivery
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_status_count_delta()
    """,
]

POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS deliveries_status_count_insert ON deliveries_delivery",
    "DROP TRIGGER IF EXISTS deliveries_status_count_update ON deliveries_delivery",
    "DROP TRIGGER IF EXISTS deliveries_status_count_delete ON deliveries_delivery",
    "DROP FUNCTION IF EXISTS deliveries_status_count_delta()",
]

SQLITE_HOUR = "strftime('%Y-%m-%d %H:00:00', {})"


def sqlite_row(prefix: str, sign: int) -> str:
    return (
        "INSERT INTO deliveries_deliverystatuscount "
        "(bucket, webhook_id, campaign_id, status, count, compacted) VALUES ("
        f"{SQLITE_HOUR.format(prefix + '.created_at')}, {prefix}.webhook_id, "
        f"{prefix}.campaign_id, {prefix}.status, {sign}, 0);"
    )


SQLITE_TRIGGERS = [
    "CREATE TRIGGER deliveries_status_count_insert AFTER INSERT ON deliveries_delivery "
    f"BEGIN {sqlite_row('NEW', 1)} END",
    "CREATE TRIGGER deliveries_status_count_delete AFTER DELETE ON deliveries_delivery "
    f"BEGIN {sqlite_row('OLD', -1)} END",
    "CREATE TRIGGER deliveries_status_count_update "
    "AFTER UPDATE OF status, created_at, webhook_id, campaign_id ON deliveries_delivery "
    "WHEN OLD.status IS NOT NEW.status OR OLD.webhook_id IS NOT NEW.webhook_id "
    "OR OLD.campaign_id IS NOT NEW.campaign_id "
    f"OR {SQLITE_HOUR.format('OLD.created_at')} IS NOT {SQLITE_HOUR.format('NEW.created_at')} "
    f"BEGIN {sqlite_row('OLD', -1)} {sqlite_row('NEW', 1)} END",
]

SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS deliveries_status_count_insert",
    "DROP TRIGGER IF EXISTS deliveries_status_count_delete",
    "DROP TRIGGER IF EXISTS deliveries_status_count_update",
]


def fill_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        hour = "date_trunc('hour', {} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        day = "date_trunc('day', {} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        code = "(a.response_code / 100)::text || 'xx'"
        true = "true"
    else:
        hour = SQLITE_HOUR
        day = "strftime('%Y-%m-%d 00:00:00', {})"
        code = "CAST(a.response_code / 100 AS TEXT) || 'xx'"
        true = "1"
    columns = (
        "bucket, webhook_id, campaign_id, success, failure_reason, code_class, count, "
        f"duration_sum, duration_max, last_attempt_at, {', '.join(HISTOGRAM)}"
    )
    histogram, lower = [], None
    for edge in (*EDGES, None):
        bounds = ["a.duration_ms IS NOT NULL"]
        if lower is not None:
            bounds.append(f"a.duration_ms > {lower}")
        if edge is not None:
            bounds.append(f"a.duration_ms <= {edge}")
        histogram.append(f"COUNT(*) FILTER (WHERE {' AND '.join(bounds)})")
        lower = edge
    return [
        f"""
        INSERT INTO deliveries_attemptrollup ({columns})
        SELECT {hour.format("a.attempted_at")}, a.webhook_id, d.campaign_id, a.success,
            a.failure_reason,
            CASE WHEN a.response_code BETWEEN 100 AND 999 THEN {code} ELSE '' END,
            COUNT(*), COALESCE(SUM(a.duration_ms), 0), COALESCE(MAX(a.duration_ms), 0),
            MAX(a.attempted_at), {", ".join(histogram)}
        FROM deliveries_deliveryattempt a
        JOIN deliveries_delivery d ON d.id = a.delivery_id
        GROUP BY 1, 2, 3, 4, 5, 6
        """,
        f"""
        INSERT INTO deliveries_dailyattemptrollup ({columns})
        SELECT {day.format("bucket")}, webhook_id, campaign_id, success, failure_reason,
            code_class, SUM(count), SUM(duration_sum), MAX(duration_max), MAX(last_attempt_at),
            {", ".join(f"SUM({name})" for name in HISTOGRAM)}
        FROM deliveries_attemptrollup
        GROUP BY 1, 2, 3, 4, 5, 6
        """,
        f"""
        INSERT INTO deliveries_deliverystatuscount
            (bucket, webhook_id, campaign_id, status, count, compacted)
        SELECT {hour.format("created_at")}, webhook_id, campaign_id, status, COUNT(*), {true}
        FROM deliveries_delivery
        GROUP BY 1, 2, 3, 4
        """,
    ]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"No status count triggers for {vendor}")
    statements = POSTGRESQL_TRIGGERS if vendor == "postgresql" else SQLITE_TRIGGERS
    if vendor == "postgresql":
        # Nobody changes deliveries between the fill and the triggers.
        statements = ["LOCK TABLE deliveries_delivery IN SHARE MODE", *statements]
    for statement in [*statements, *fill_sql(vendor)]:
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in POSTGRESQL_DROP if vendor == "postgresql" else SQLITE_DROP:
        schema_editor.execute(statement, params=None)
    schema_editor.execute("DELETE FROM deliveries_deliverystatuscount", params=None)
    schema_editor.execute("DELETE FROM deliveries_attemptrollup", params=None)
    schema_editor.execute("DELETE FROM deliveries_dailyattemptrollup", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("deliveries", "0002_rollups"),
    ]

    operations = [
        migrations.RunPython(install, uninstall),
    ]
