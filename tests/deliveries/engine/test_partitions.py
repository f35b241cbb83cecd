"""Attempts partitioned by day on PostgreSQL: a partition per day, made ahead and filled
from the default partition; retention drops a day whole, keeping unsettled deliveries'
attempts; the migration converts a table without losing a row."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from deliveries.engine import partitions
from deliveries.engine.retention import purge_expired
from deliveries.models import Delivery, DeliveryAttempt
from deliveries.stats import recount
from tests.deliveries.stats.test_rollups import rollup_rows
from tests.factories import make_attempts, make_delivery, make_webhook
from webhooks.models import SystemSettings

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitions: PostgreSQL only"
)

TABLE = DeliveryAttempt._meta.db_table


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def homes(delivery) -> set[str]:
    """The partitions holding the delivery's attempts."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT tableoid::regclass::text FROM {TABLE} WHERE delivery_id = %s",
            [delivery.pk],
        )
        return {row[0] for row in cursor.fetchall()}


def test_the_table_is_partitioned_with_the_days_ahead(db):
    assert partitions.enabled()
    today = timezone.now().astimezone(UTC).date()
    ahead = {today + timedelta(days=n) for n in range(partitions.AHEAD_DAYS + 1)}
    partitions.ensure_ahead()
    assert ahead <= set(partitions.days())
    assert partitions.ensure_ahead() == 0  # made once


def test_an_attempt_lands_in_its_days_partition_and_odd_dates_in_the_default(db):
    day = date(2026, 1, 10)
    assert partitions.ensure(day, day + timedelta(days=1)) == 2
    in_day = make_delivery(attempts=2, created_at=noon(day))
    far = make_delivery(attempts=1, created_at=datetime(9999, 12, 31, 23, tzinfo=UTC))
    early = make_delivery(attempts=1, created_at=datetime(1, 1, 1, tzinfo=UTC))
    assert homes(in_day) == {partitions.name_of(day)}
    assert homes(far) == homes(early) == {partitions.DEFAULT}


def test_a_day_made_later_takes_its_rows_out_of_the_default(db):
    day = date(2026, 1, 10)
    delivery = make_delivery(attempts=3, created_at=noon(day))
    assert homes(delivery) == {partitions.DEFAULT}
    assert partitions.ensure(day, day) == 1
    assert homes(delivery) == {partitions.name_of(day)}
    assert delivery.attempts.count() == 3


@pytest.fixture
def thirty_days(db):
    system = SystemSettings.load()
    system.retention_days = 30
    system.save()
    return timezone.now()


def test_the_purge_drops_an_old_day_and_keeps_what_is_unsettled(thirty_days):
    old = (thirty_days - timedelta(days=40)).date()
    partitions.ensure(old, old)
    webhook = make_webhook()
    settled = [make_delivery(webhook, 2, created_at=noon(old)) for _ in range(3)]
    retrying = make_delivery(
        webhook,
        2,
        created_at=noon(old),
        status="failed",
        next_attempt_at=thirty_days + timedelta(hours=1),
    )
    recent = make_delivery(webhook, 1)
    recount.rebuild()

    assert purge_expired() == 6

    assert old not in partitions.days()
    assert not Delivery.objects.filter(pk__in=[d.pk for d in settled]).exists()
    assert retrying.attempts.count() == 2
    assert homes(retrying) == {partitions.DEFAULT}
    assert recent.attempts.count() == 1
    # The rollups of the dropped day count what it kept, as a recount from scratch does.
    kept = rollup_rows()
    assert sum(row[6] for row in kept if row[0].date() == old) == 2
    recount.rebuild()
    assert rollup_rows() == kept

    # Settled later, its attempts and then itself go with the next purge.
    Delivery.objects.filter(pk=retrying.pk).update(status="success", next_attempt_at=None)
    assert purge_expired() == 2
    assert not Delivery.objects.filter(pk=retrying.pk).exists()


def test_a_drop_that_cannot_have_its_lock_soon_waits_for_the_next_purge(
    thirty_days,
    other_session,
    monkeypatch,
):
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "100ms")
    old = (thirty_days - timedelta(days=40)).date()
    partitions.ensure(old, old)
    delivery = make_delivery(attempts=1, created_at=noon(old))
    with other_session.transaction():  # a long read of the attempts
        other_session.execute(f"LOCK TABLE ONLY {TABLE} IN ACCESS SHARE MODE")
        assert partitions.drop_before(old + timedelta(days=1)) == []
        # Nor does the purge delete the day's rows one by one instead.
        assert purge_expired() == 0
    assert old in partitions.days()
    assert delivery.attempts.count() == 1
    (dropped,) = partitions.drop_before(old + timedelta(days=1))
    assert (dropped.day, dropped.attempts, dropped.kept) == (old, 1, 0)


def checksum() -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), sum(hashtext(t::text)::bigint) FROM {TABLE} t")
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
def test_the_migration_converts_the_table_without_losing_a_row():
    today = timezone.now().astimezone(UTC).date()
    dates = [noon(today - timedelta(days=n)) for n in (0, 3, 30, 500)]
    dates.append(datetime(9999, 12, 31, tzinfo=UTC))
    webhook = make_webhook()
    # The deliveries written by today's model; their attempts by 0017's table.
    deliveries = [make_delivery(webhook, created_at=moment) for moment in dates]
    call_command("migrate", "deliveries", "0017", verbosity=0)
    assert not partitions.enabled()
    for delivery in deliveries:
        make_attempts(delivery, 2)
    before = checksum()
    last_id = DeliveryAttempt.objects.order_by("-id").values_list("id", flat=True)[0]

    call_command("migrate", "deliveries", verbosity=0)

    assert partitions.enabled()
    assert checksum() == before
    assert homes(deliveries[0]) == {partitions.name_of(today)}
    assert homes(deliveries[2]) == {partitions.name_of(today - timedelta(days=30))}
    assert homes(deliveries[3]) == homes(deliveries[4]) == {partitions.DEFAULT}
    assert set(partitions.days()) >= {today + timedelta(days=partitions.AHEAD_DAYS)}
    # Ids go on from the old table's.
    assert make_delivery(webhook, 1).attempts.get().id > last_id


def test_a_day_left_detached_by_an_earlier_purge_is_dropped_by_the_next(thirty_days):
    old = (thirty_days - timedelta(days=40)).date()
    partitions.ensure(old, old)
    make_delivery(attempts=1, created_at=noon(old))
    with connection.cursor() as cursor:  # as if the purge died between detach and drop
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's own pending checks
        cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {partitions.name_of(old)}")
    assert old not in partitions.days()

    purge_expired()

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [partitions.name_of(old)])
        assert cursor.fetchone()[0] is None
