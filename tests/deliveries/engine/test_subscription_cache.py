"""The subscriptions emit reads come from a per-process cache (webhooks/subscriptions.py),
and every change to them is seen by the next emit: in this process or another, however
the change was made."""

import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from deliveries.engine import NewEvent, emit_many
from deliveries.models import Delivery
from tests import conftest
from tests.factories import make_event_type, make_webhook
from webhooks import subscriptions
from webhooks.models import EventType, Webhook

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite reads the subscriptions at each emit"
)


@pytest.fixture
def kind(db):
    return make_event_type(name="license.assigned", category="License")


def emit_one(name="license.assigned"):
    [result] = emit_many([NewEvent(name, {})])
    return result


def recipients(result):
    return dict(Delivery.objects.filter(event_id=result.id).values_list("webhook_id", "status"))


def version():
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT version FROM {subscriptions.VERSION_TABLE}")
        return cursor.fetchone()[0]


def test_a_cached_lookup_takes_no_query(kind, django_assert_num_queries):
    webhook = make_webhook(event_types=[kind])
    # A lookup answers what is cached (a write checks it); an emit caches what is current.
    emit_one()

    with django_assert_num_queries(0):
        _, found = subscriptions.lookup(["license.assigned"])

    assert found["license.assigned"] == subscriptions.Subscriptions(
        kind.pk, "License", (subscriptions.Subscriber(webhook.pk, True),)
    )


def test_a_new_subscription_is_delivered_to_at_once(kind):
    first = make_webhook(event_types=[kind])
    emit_one()  # cached now
    second = make_webhook()
    second.event_types.add(kind)

    assert recipients(emit_one()) == {first.pk: "pending", second.pk: "pending"}


def test_an_unsubscribed_webhook_gets_nothing(kind):
    kept, dropped = make_webhook(event_types=[kind]), make_webhook(event_types=[kind])
    emit_one()
    dropped.event_types.remove(kind)

    assert recipients(emit_one()) == {kept.pk: "pending"}


def test_a_webhook_paused_by_an_update_holds_its_deliveries(kind):
    webhook = make_webhook(event_types=[kind])
    emit_one()
    Webhook.objects.filter(pk=webhook.pk).update(is_active=False)  # no signal sent

    assert recipients(emit_one()) == {webhook.pk: "not_triggered"}

    webhook.is_active = True
    webhook.save()
    assert recipients(emit_one()) == {webhook.pk: "pending"}


def test_a_deleted_webhook_gets_nothing(kind):
    kept, deleted = make_webhook(event_types=[kind]), make_webhook(event_types=[kind])
    emit_one()
    deleted.delete()

    assert recipients(emit_one()) == {kept.pk: "pending"}


def test_a_renamed_or_recategorised_type_is_seen(kind):
    make_webhook(event_types=[kind])
    emit_one()
    EventType.objects.filter(pk=kind.pk).update(name="license.granted", category="Licence")

    assert emit_one("license.assigned").error is not None
    renamed = emit_one("license.granted")
    assert renamed.created
    assert Delivery.objects.get(event_id=renamed.id).category == "Licence"


def test_a_deleted_type_is_unknown_and_a_new_one_known(kind):
    subscriptions.lookup(["license.assigned"])  # cached (a type with events stays)
    kind.delete()
    assert emit_one().error is not None

    make_event_type(name="license.assigned")
    assert emit_one().created


def test_the_senders_health_updates_keep_the_cache(kind):
    webhook = make_webhook(event_types=[kind])
    before = version()
    Webhook.objects.filter(pk=webhook.pk).update(health="failing", consecutive_failures=3)
    assert version() == before


def test_a_missing_version_row_comes_back_with_the_next_change(kind):
    webhook = make_webhook(event_types=[kind])
    emit_one()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {subscriptions.VERSION_TABLE}")
    assert recipients(emit_one()) == {webhook.pk: "pending"}

    webhook.event_types.clear()

    assert version() is not None
    assert recipients(emit_one()) == {}


def test_a_change_committed_by_another_process_is_seen_by_the_next_emit(transactional_db):
    kind = make_event_type(name="license.assigned")
    kept, dropped = make_webhook(event_types=[kind]), make_webhook(event_types=[kind])
    assert recipients(emit_one()) == {kept.pk: "pending", dropped.pk: "pending"}  # cached

    # Another process (with its own cache) unsubscribes one and pauses the other.
    script = (
        "import django; django.setup()\n"
        "from webhooks.models import Webhook\n"
        f"Webhook.objects.get(pk={dropped.pk}).event_types.clear()\n"
        f"Webhook.objects.filter(pk={kept.pk}).update(is_active=False)\n"
    )
    changed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": conftest.test_database_url(),
            "SECRET_KEY": "test",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert changed.returncode == 0, changed.stderr

    assert recipients(emit_one()) == {kept.pk: "not_triggered"}
