from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from deliveries.engine.retention import purge_expired
from deliveries.models import Delivery, DeliveryAttempt
from tests.factories import make_delivery, make_event_type, make_webhook
from webhooks.models import ActivityEntry, Event, SystemSettings


def aged(webhook, event_type, age_days, status="success", attempts=1):
    """A delivery of its own event, both made ``age_days`` ago, with its attempts."""
    created = timezone.now() - timedelta(days=age_days)
    event = Event.objects.create(event_type=event_type, payload={}, occurred_at=created)
    Event.objects.filter(pk=event.pk).update(created_at=created)
    return make_delivery(
        webhook, attempts, event=event, event_type=event_type, status=status, created_at=created
    )


def test_it_purges_what_is_older_than_the_retention_period(db, settings):
    settings.DELIVERIES_PURGE_BATCH = 2  # several batches
    system = SystemSettings.load()
    system.retention_days = 30
    system.save()
    event_type = make_event_type()
    webhook = make_webhook()
    old = [aged(webhook, event_type, age_days=40, attempts=2) for _ in range(3)]
    recent = aged(webhook, event_type, age_days=5)
    old_but_pending = aged(webhook, event_type, age_days=40, status="pending", attempts=0)

    assert purge_expired() == 6

    assert set(Delivery.objects.values_list("id", flat=True)) == {recent.id, old_but_pending.id}
    assert DeliveryAttempt.objects.count() == 1
    assert not Event.objects.filter(deliveries__in=old).exists()
    assert Event.objects.count() == 2
    entry = ActivityEntry.objects.get(action="job.retention_purge")
    assert "6 attempts, 3 deliveries and 3 events" in entry.summary


def test_it_follows_the_retention_setting(db):
    system = SystemSettings.load()
    system.retention_days = 3
    system.save()
    delivery = aged(make_webhook(), make_event_type(), age_days=5)
    purge_expired()
    assert not Delivery.objects.filter(pk=delivery.pk).exists()


def test_nothing_to_purge_writes_no_activity(db):
    assert purge_expired() == 0
    assert not ActivityEntry.objects.exists()


def table_bytes(model) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_table_size(%s)", [model._meta.db_table])
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="VACUUM: PostgreSQL")
@pytest.mark.django_db(transaction=True)  # VACUUM runs outside a transaction
def test_the_next_days_rows_reuse_the_space_the_purge_freed():
    """No bloat: what the purge deleted row by row is vacuumed, so as many new rows fit
    in the space and the tables do not grow."""
    system = SystemSettings.load()
    system.retention_days = 30
    system.save()
    event_type, webhook = make_event_type(), make_webhook()
    for _ in range(300):
        aged(webhook, event_type, age_days=40)
    deliveries, events = table_bytes(Delivery), table_bytes(Event)

    assert purge_expired() == 300
    for _ in range(300):
        aged(webhook, event_type, age_days=1)

    assert Delivery.objects.count() == 300
    assert table_bytes(Delivery) <= deliveries
    assert table_bytes(Event) <= events
