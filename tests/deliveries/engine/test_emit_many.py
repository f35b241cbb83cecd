"""emit_many records many events at once: one statement on PostgreSQL, a result per event
in order, duplicates by idempotency key, and a bad event that fails alone."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from deliveries.engine import Emitted, NewEvent, UnknownEventType, emit, emit_many, writes
from deliveries.models import Delivery
from tests.factories import make_event_type, make_webhook
from webhooks.models import Event
from webhooks.subscriptions import Subscriber

only_on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="one statement: PostgreSQL only"
)


@pytest.fixture
def kind(db):
    return make_event_type(name="license.assigned", category="License")


def deliveries_of(event_id):
    return set(Delivery.objects.filter(event_id=event_id).values_list("webhook_id", "status"))


def test_each_event_gets_a_delivery_per_subscribed_webhook_in_order(kind):
    active, paused = make_webhook(event_types=[kind]), make_webhook(event_types=[kind])
    paused.is_active = False
    paused.save()
    other = make_event_type(name="activation.created", category="Activation")
    make_webhook(event_types=[other])

    results = emit_many(
        [NewEvent("license.assigned", {"n": 1}), NewEvent("activation.created", {"n": 2})]
    )

    first, second = results
    assert [r.created for r in results] == [True, True]
    assert [r.event_type for r in results] == ["license.assigned", "activation.created"]
    assert [r.deliveries for r in results] == [2, 1]
    assert Event.objects.get(pk=first.id).payload == {"n": 1}
    assert Event.objects.get(pk=second.id).event_type == other
    assert deliveries_of(first.id) == {(active.pk, "pending"), (paused.pk, "not_triggered")}
    delivery = Delivery.objects.get(event_id=first.id, webhook=active)
    assert (delivery.event_type, delivery.category, delivery.source) == (kind, "License", "event")
    assert delivery.next_attempt_at == delivery.created_at  # due now
    assert Delivery.objects.get(event_id=first.id, webhook=paused).next_attempt_at is None


def test_an_unknown_event_type_fails_alone(kind):
    make_webhook(event_types=[kind])

    before, unknown, after = emit_many(
        [
            NewEvent("license.assigned", {}),
            NewEvent("no.such_type", {}, "key-1"),
            NewEvent("license.assigned", {}),
        ]
    )

    assert isinstance(unknown.error, UnknownEventType)
    assert (unknown.id, unknown.created, unknown.deliveries) == (None, False, 0)
    assert before.created and after.created and before.id != after.id
    assert Event.objects.count() == 2


def test_a_repeated_key_returns_the_event_recorded_first(kind):
    make_webhook(event_types=[kind])
    [earlier] = emit_many([NewEvent("license.assigned", {"first": True}, "order-1")])

    results = emit_many(
        [
            NewEvent("license.assigned", {"again": True}, "order-1"),
            NewEvent("license.assigned", {"new": True}, "order-2"),
            NewEvent("license.assigned", {"new": "again"}, "order-2"),
        ]
    )

    assert [(r.id, r.created) for r in results] == [
        (earlier.id, False),
        (results[1].id, True),
        (results[1].id, False),
    ]
    assert results[0].deliveries == 1 and results[2].deliveries == 1
    assert Event.objects.get(idempotency_key="order-2").payload == {"new": True}
    assert Delivery.objects.count() == 2


def test_a_key_of_an_unknown_type_does_not_take_the_key(kind):
    bad, good = emit_many(
        [NewEvent("no.such_type", {}, "order-1"), NewEvent("license.assigned", {}, "order-1")]
    )
    assert bad.error is not None
    assert good.created


def test_a_duplicate_answers_with_the_stored_event(kind):
    other = make_event_type(name="license.revoked")
    occurred = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    [first] = emit_many([NewEvent("license.revoked", {}, "k", occurred)])

    [again] = emit_many([NewEvent("license.assigned", {}, "k")])

    assert again == Emitted(first.id, "license.revoked", other.pk, occurred, "k", 0, False)


def test_events_happen_now_unless_given_a_time(kind):
    when = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    now, then = emit_many([NewEvent("license.assigned", {}), NewEvent(kind.name, {}, None, when)])
    assert Event.objects.get(pk=then.id).occurred_at == when == then.occurred_at
    assert Event.objects.get(pk=now.id).occurred_at == now.occurred_at


def test_the_sender_is_woken_once_after_the_commit(kind, django_capture_on_commit_callbacks):
    make_webhook(event_types=[kind])
    with django_capture_on_commit_callbacks() as callbacks:
        emit_many([NewEvent("license.assigned", {}) for _ in range(3)])
    assert len(callbacks) == 1


def test_nothing_to_send_wakes_nobody(kind, django_capture_on_commit_callbacks):
    make_webhook(event_types=[kind], is_active=False)
    with django_capture_on_commit_callbacks() as callbacks:
        emit_many([NewEvent("license.assigned", {}), NewEvent("no.such_type", {})])
    assert callbacks == []


def test_no_events_write_nothing(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert emit_many([]) == []


@only_on_postgresql
def test_a_batch_is_one_statement_once_the_subscriptions_are_cached(
    kind, django_assert_num_queries
):
    for _ in range(5):
        make_webhook(event_types=[kind])
    emit_many([NewEvent("license.assigned", {})])

    with django_assert_num_queries(1):
        results = emit_many([NewEvent("license.assigned", {"n": n}) for n in range(1000)])

    assert all(r.created for r in results)
    assert Delivery.objects.count() == 5 * 1001


@only_on_postgresql
def test_the_statement_and_inserts_write_the_same_rows(kind, monkeypatch):
    make_webhook(event_types=[kind])
    make_webhook(event_types=[kind], is_active=False)
    now = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    recipients = {
        kind.pk: (kind.category, [Subscriber(w.pk, w.is_active) for w in kind.webhooks.all()])
    }

    def write(key):
        return writes.write_events(
            [(kind.pk, {"a": [1, "ü"]}, key, now, ""), (kind.pk, [None, 2.5], "", now, "k")],
            recipients,
            now=now,
        )

    def written(ids):
        # Without what differs by design: ids, keys, and the times Django's ORM sets
        # itself on save (auto_now, auto_now_add).
        drop = ("id", "event_id", "idempotency_key", "updated_at")
        deliveries = Delivery.objects.filter(event_id__in=ids).order_by("event_id", "webhook_id")
        events = Event.objects.filter(pk__in=ids).order_by("pk")
        return [
            [{k: v for k, v in row.items() if k not in drop} for row in rows]
            for rows in (deliveries.values(), events.values("event_type", "payload", "occurred_at"))
        ]

    copied = write("k1")
    monkeypatch.setattr(writes, "_copies", lambda: False)
    inserted = write("k2")

    assert copied.pending == inserted.pending == 2
    assert written(copied.ids) == written(inserted.ids)
    assert len(written(copied.ids)[0]) == 4


def test_emit_returns_the_event_and_raises_for_an_unknown_type(kind):
    make_webhook(event_types=[kind])

    event, created = emit("license.assigned", {"x": 1}, "order-9")
    again, created_again = emit("license.assigned", {"x": 2}, "order-9")

    assert created and not created_again
    assert event == again == Event.objects.get()
    assert (event.event_type, event.payload, event.idempotency_key) == (kind, {"x": 1}, "order-9")
    assert event.deliveries.count() == 1
    with pytest.raises(UnknownEventType):
        emit("no.such_type", {})


def test_emit_takes_part_in_the_callers_transaction(kind):
    make_webhook(event_types=[kind])
    with pytest.raises(RuntimeError), transaction.atomic():
        emit("license.assigned", {})
        raise RuntimeError
    assert not Event.objects.exists() and not Delivery.objects.exists()


@only_on_postgresql
def test_a_key_being_written_elsewhere_waits_for_it_and_is_a_duplicate(transactional_db):
    make_event_type(name="order.paid")
    written, release = threading.Event(), threading.Event()
    first = {}

    def other_request():
        try:
            with transaction.atomic():
                first["event"], _ = emit("order.paid", {"by": "other"}, "order-1")
                written.set()
                release.wait(5)
        finally:
            connection.close()

    thread = threading.Thread(target=other_request)
    thread.start()
    assert written.wait(5)
    # This emit waits on the other's uncommitted key; let it commit a moment later.
    threading.Timer(0.3, release.set).start()
    [result] = emit_many([NewEvent("order.paid", {"by": "me"}, "order-1")])
    thread.join(5)

    assert (result.id, result.created) == (first["event"].pk, False)
    assert Event.objects.get().payload == {"by": "other"}
