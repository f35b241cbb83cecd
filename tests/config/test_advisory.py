"""Work that must not run twice at once (a campaign's run, the retention purge) runs
only in the session that holds its advisory lock, whichever host or beat started it."""

import pytest
from django.db import connection

from config import advisory
from deliveries.engine import retention
from deliveries.models import DeliveryAttempt
from tests.deliveries.engine.test_retention import aged
from tests.factories import make_event_type, make_webhook
from webhooks.models import SystemSettings

only_on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="advisory locks: PostgreSQL only"
)


@only_on_postgresql
def test_a_lock_another_session_holds_is_refused_until_it_lets_go(other_session):
    other_session.execute("SELECT pg_advisory_lock(%s, %s)", [advisory.MAINTENANCE, 99])
    with advisory.alone(advisory.MAINTENANCE, 99) as only:
        assert only is False
    with advisory.alone(advisory.MAINTENANCE, 98) as only:  # another key is free
        assert only is True

    other_session.execute("SELECT pg_advisory_unlock(%s, %s)", [advisory.MAINTENANCE, 99])
    with advisory.alone(advisory.MAINTENANCE, 99) as only:
        assert only is True
        # Held now: the other session cannot take it.
        [[taken]] = other_session.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", [advisory.MAINTENANCE, 99]
        ).fetchall()
        assert taken is False
    # Let go at the end of the block.
    [[taken]] = other_session.execute(
        "SELECT pg_try_advisory_lock(%s, %s)", [advisory.MAINTENANCE, 99]
    ).fetchall()
    assert taken is True


@only_on_postgresql
def test_a_second_purge_started_meanwhile_skips_and_the_first_purges(other_session):
    """Two beats (started by mistake) queue the purge twice: the one that finds the lock
    taken does nothing, and the rows are purged once."""
    system = SystemSettings.load()
    system.retention_days = 30
    system.save()
    webhook, kind = make_webhook(), make_event_type()
    for _ in range(3):
        aged(webhook, kind, age_days=40, attempts=2)

    other_session.execute("SELECT pg_advisory_lock(%s, %s)", list(retention.PURGE_LOCK))
    assert retention.purge_expired() == 0
    assert DeliveryAttempt.objects.count() == 6

    other_session.execute("SELECT pg_advisory_unlock(%s, %s)", list(retention.PURGE_LOCK))
    assert retention.purge_expired() == 6
    assert DeliveryAttempt.objects.count() == 0
