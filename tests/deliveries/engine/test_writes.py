"""New deliveries are written in one place: COPY and INSERTs give the same rows, a new
delivery's state follows its webhook, and a body that could not be built is one failed
attempt."""

import json

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from deliveries.engine import writes
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatusCount
from tests.factories import make_campaign, make_event_type, make_webhook
from webhooks.models import Event
from webhooks.subscriptions import Subscriber

PAYLOADS = [
    {"targetId": 7, "profiles": [{"Email": "ünï@example.com", "n": 1.5}]},
    "Hello {{ name }} → rendered <b>as is</b>\n",
    [1, None, True],
]
TEXT = "text/plain; charset=utf-8"

only_on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="COPY: PostgreSQL only"
)


@pytest.fixture
def by_inserts(monkeypatch):
    """Write as on SQLite, whatever the database."""
    monkeypatch.setattr(writes, "_copies", lambda: False)


def campaign_payloads(webhook, payloads=PAYLOADS, **fields) -> list[int]:
    campaign = make_campaign(webhook)
    shared = {"source": "campaign", "campaign": campaign, "category": "Campaign"}
    shared |= {"content_type": TEXT, "query": "utm=spring"}
    return writes.write_payloads(webhook, payloads, **{**shared, **fields})


def rows(ids: list[int]) -> list[dict]:
    """The written rows, in the order of ``ids``, without what differs by design."""
    found = {row["id"]: row for row in Delivery.objects.filter(pk__in=ids).values()}
    return [{k: v for k, v in found[pk].items() if k not in ("id", "updated_at")} for pk in ids]


def test_a_new_delivery_is_due_now_to_an_active_webhook(db):
    now = timezone.now()
    assert writes.initial_state(make_webhook(), now) == ("pending", now)


def test_a_new_delivery_to_a_paused_webhook_is_held_and_never_due(db):
    assert writes.initial_state(make_webhook(is_active=False), timezone.now()) == (
        "not_triggered",
        None,
    )


def test_payloads_are_written_in_order_with_their_shared_columns(db):
    webhook = make_webhook()

    ids = campaign_payloads(webhook)

    written = rows(ids)
    assert [row["payload"] for row in written] == PAYLOADS
    assert {(r["status"], r["attempt_count"], r["content_type"], r["query"]) for r in written} == {
        ("pending", 0, TEXT, "utm=spring")
    }
    assert all(row["next_attempt_at"] == row["created_at"] for row in written)


@only_on_postgresql
def test_copy_and_inserts_write_the_same_rows(db, monkeypatch):
    webhook, now = make_webhook(), timezone.now()
    copied = campaign_payloads(webhook, now=now)
    monkeypatch.setattr(writes, "_copies", lambda: False)

    inserted = campaign_payloads(webhook, now=now)

    # Every column, the campaign's aside (a new one each time).
    assert [{**row, "campaign_id": None} for row in rows(copied)] == [
        {**row, "campaign_id": None} for row in rows(inserted)
    ]
    assert rows(copied)[0]["campaign_id"] is not None


@pytest.mark.parametrize("path", ["default", "inserts"])
def test_encoded_payloads_are_stored_as_the_documents_they_encode(db, request, path):
    if path == "inserts":
        request.getfixturevalue("by_inserts")
    texts = [json.dumps(p) for p in PAYLOADS]

    ids = campaign_payloads(make_webhook(), texts, encoded=True)

    assert [row["payload"] for row in rows(ids)] == PAYLOADS


@pytest.mark.parametrize("path", ["default", "inserts"])
def test_payloads_to_a_paused_webhook_are_not_triggered(db, request, path):
    if path == "inserts":
        request.getfixturevalue("by_inserts")

    ids = campaign_payloads(make_webhook(is_active=False))

    assert {(row["status"], row["next_attempt_at"]) for row in rows(ids)} == {
        ("not_triggered", None)
    }


def test_no_payloads_or_failures_take_no_query(db, django_assert_num_queries):
    webhook = make_webhook()

    with django_assert_num_queries(0):
        assert writes.write_payloads(webhook, [], source="campaign", content_type=TEXT) == []
        assert writes.write_unsent(webhook, [], source="campaign", content_type=TEXT) == []


@pytest.mark.parametrize("active", [True, False])
def test_an_unsent_body_is_one_failed_attempt(db, active):
    webhook = make_webhook(url="https://example.com/hook", is_active=active)

    [delivery_id] = writes.write_unsent(
        webhook,
        [("template_error", "line 2: Unknown variable 'x'.")],
        source="campaign",
        category="Campaign",
        content_type=TEXT,
        query="utm=spring",
    )

    delivery = Delivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.next_attempt_at, delivery.attempt_count) == (
        "failed",
        None,
        1,
    )
    assert delivery.last_failure_reason == "template_error"
    assert delivery.payload is None and delivery.last_attempt_at is not None
    [attempt] = DeliveryAttempt.objects.filter(delivery=delivery)
    assert (attempt.number, attempt.success, attempt.failure_reason) == (1, False, "template_error")
    assert attempt.failure_detail == "line 2: Unknown variable 'x'."
    assert attempt.request_url == "https://example.com/hook?utm=spring"


def test_unsent_bodies_count_as_failed_deliveries_only(db):
    webhook = make_webhook()

    failures = [("template_error", "a"), ("linked_content_error", "b")]
    writes.write_unsent(webhook, failures, source="campaign", content_type=TEXT)

    counts = dict(
        DeliveryStatusCount.objects.filter(webhook_id=webhook.pk)
        .values_list("status")
        .annotate(n=Sum("count"))
        .filter(n__gt=0)
    )
    assert counts == {"failed": 2}


def event_rows(kind, *keys):
    now = timezone.now()
    return [(kind.pk, {"key": key}, key, now, "") for key in keys]


@pytest.mark.parametrize("path", ["default", "inserts"])
def test_events_get_a_delivery_per_recipient_in_its_initial_state(db, request, path):
    if path == "inserts":
        request.getfixturevalue("by_inserts")
    kind = make_event_type()
    active, paused = make_webhook(), make_webhook(is_active=False)
    recipients = {
        kind.pk: (kind.category, [Subscriber(active.pk, True), Subscriber(paused.pk, False)])
    }

    written = writes.write_events(event_rows(kind, "a", ""), recipients)

    assert written.pending == 2
    assert all(written.ids)
    states = set(Delivery.objects.values_list("event_id", "webhook_id", "status", "source"))
    assert states == {
        (event_id, webhook.pk, status, "event")
        for event_id in written.ids
        for webhook, status in ((active, "pending"), (paused, "not_triggered"))
    }


@pytest.mark.parametrize("path", ["default", "inserts"])
def test_an_event_whose_key_is_stored_is_skipped(db, request, path):
    if path == "inserts":
        request.getfixturevalue("by_inserts")
    kind, webhook = make_event_type(), make_webhook()
    recipients = {kind.pk: (kind.category, [Subscriber(webhook.pk, True)])}
    [first] = writes.write_events(event_rows(kind, "a"), recipients).ids

    written = writes.write_events(event_rows(kind, "b", "a"), recipients)

    assert written.ids[1] is None and written.ids[0] not in (None, first)
    assert written.pending == 1
    assert Event.objects.get(idempotency_key="a").pk == first
    assert Delivery.objects.count() == 2


@only_on_postgresql
def test_events_are_written_only_while_the_guard_holds(db, django_assert_num_queries):
    kind, webhook = make_event_type(), make_webhook()
    recipients = {kind.pk: (kind.category, [Subscriber(webhook.pk, True)])}

    with django_assert_num_queries(1):
        refused = writes.write_events(event_rows(kind, "a"), recipients, guard=("%s = 2", 1))
        assert refused is None
    assert not Event.objects.exists() and not Delivery.objects.exists()

    written = writes.write_events(event_rows(kind, "a"), recipients, guard=("%s = 2", 2))
    assert written.pending == 1 and Delivery.objects.count() == 1
