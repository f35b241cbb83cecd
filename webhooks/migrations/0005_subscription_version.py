"""The subscriptions' version (PostgreSQL): one row whose number changes, in the same
transaction, with every change to who is subscribed to what.

``webhooks/subscriptions.py`` caches each event type's subscribers per process and
``emit`` writes only while this number is the one the cache was read at, so a change
committed anywhere (any process, the admin pages, a raw UPDATE) is seen by the next emit.
Triggers rather than Django signals: they run in the changing transaction (a signal after
an autocommitted save runs after the commit), and they see ``QuerySet.update()``, bulk
deletes and SQL from outside Django. Each bump draws from a sequence, so a number is never
reused, even by a transaction that rolled back.

No model: nothing but these triggers and ``subscriptions.py`` touches the table, and
``flush`` leaves it alone. SQLite gets nothing here: ``emit`` reads the subscriptions
afresh there. The SQL is written out here, so this migration keeps doing what it did
when that module changes.
"""

from django.db import migrations

POSTGRESQL = [
    "CREATE SEQUENCE webhooks_subscription_version_seq",
    """
    CREATE TABLE webhooks_subscription_version (
        id smallint PRIMARY KEY CHECK (id = 1),
        version bigint NOT NULL
    )
    """,
    """
    INSERT INTO webhooks_subscription_version (id, version)
    VALUES (1, nextval('webhooks_subscription_version_seq'))
    """,
    """
    CREATE FUNCTION webhooks_subscriptions_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        -- An upsert, so a deleted row comes back with the next change.
        INSERT INTO webhooks_subscription_version (id, version)
        VALUES (1, nextval('webhooks_subscription_version_seq'))
        ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version;
        RETURN NULL;
    END
    $$
    """,
    # Subscribing and unsubscribing (the many-to-many table), however it is done.
    """
    CREATE TRIGGER webhooks_subscriptions_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON webhooks_webhook_event_types
    FOR EACH STATEMENT EXECUTE FUNCTION webhooks_subscriptions_changed()
    """,
    # Pausing or resuming a webhook (its deliveries' initial state), or deleting it. The
    # sender's health updates leave is_active alone, so they do not count.
    """
    CREATE TRIGGER webhooks_subscriptions_changed_active
    AFTER UPDATE ON webhooks_webhook
    FOR EACH ROW WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active)
    EXECUTE FUNCTION webhooks_subscriptions_changed()
    """,
    """
    CREATE TRIGGER webhooks_subscriptions_changed
    AFTER DELETE OR TRUNCATE ON webhooks_webhook
    FOR EACH STATEMENT EXECUTE FUNCTION webhooks_subscriptions_changed()
    """,
    # The catalog: a type added, deleted, renamed or moved to another category.
    """
    CREATE TRIGGER webhooks_subscriptions_changed
    AFTER INSERT OR DELETE OR TRUNCATE ON webhooks_eventtype
    FOR EACH STATEMENT EXECUTE FUNCTION webhooks_subscriptions_changed()
    """,
    """
    CREATE TRIGGER webhooks_subscriptions_changed_name
    AFTER UPDATE ON webhooks_eventtype
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name
        OR OLD.category IS DISTINCT FROM NEW.category)
    EXECUTE FUNCTION webhooks_subscriptions_changed()
    """,
]

POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS webhooks_subscriptions_changed ON webhooks_webhook_event_types",
    "DROP TRIGGER IF EXISTS webhooks_subscriptions_changed_active ON webhooks_webhook",
    "DROP TRIGGER IF EXISTS webhooks_subscriptions_changed ON webhooks_webhook",
    "DROP TRIGGER IF EXISTS webhooks_subscriptions_changed ON webhooks_eventtype",
    "DROP TRIGGER IF EXISTS webhooks_subscriptions_changed_name ON webhooks_eventtype",
    "DROP FUNCTION IF EXISTS webhooks_subscriptions_changed()",
    "DROP TABLE IF EXISTS webhooks_subscription_version",
    "DROP SEQUENCE IF EXISTS webhooks_subscription_version_seq",
]


def run(statements):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return operation


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0004_retry_strategy")]

    operations = [migrations.RunPython(run(POSTGRESQL), run(POSTGRESQL_DROP))]
