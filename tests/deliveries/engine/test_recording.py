"""Whatever a receiver answers and whatever a webhook is set to, every attempt is recorded
once, and one that cannot be recorded never holds back the others."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from deliveries.engine.emit import emit
from deliveries.engine.record import record
from deliveries.engine.sender import AttemptResult, build_request
from deliveries.models import AttemptRollup, Delivery, DeliveryAttempt
from tests.factories import make_event_type, make_webhook
from tests.support.processes import stop, wait_for
from tests.support.sending import claim_due, send_due_batch
from webhooks.models import SystemSettings


@pytest.fixture
def event_type(db):
    return make_event_type(name="license.assigned", category="License")


def deliver_once(url, event_type, **webhook_fields) -> DeliveryAttempt:
    webhook = make_webhook(url=url, event_types=[event_type], **webhook_fields)
    emit(event_type.name, {"license": "L-1"})
    send_due_batch()
    return DeliveryAttempt.objects.get(webhook=webhook)


def test_a_nul_byte_in_a_response_header_is_stored_and_shown(receiver, event_type, admin_client):
    attempt = deliver_once(receiver.url + "/nul-header", event_type)
    assert attempt.success
    assert attempt.response_headers["X-Poison"] == "a\ufffdb"
    page = admin_client.get(reverse("deliveries:detail", args=[attempt.delivery_id]))
    assert page.status_code == 200
    assert "a\ufffdb" in page.content.decode()


def test_headers_that_are_not_utf_8_are_kept_and_too_many_are_capped(receiver, event_type):
    attempt = deliver_once(receiver.url + "/bad-headers", event_type)
    assert attempt.success
    assert attempt.response_headers["X-Latin"] == "café"  # Latin-1 bytes, as sent
    assert attempt.response_headers["X-Utf8"] == "café"  # UTF-8 bytes, read as UTF-8
    assert attempt.response_headers_truncated
    assert sum(len(k) + len(v) for k, v in attempt.response_headers.items()) <= 16 * 1024


def test_a_header_value_http_cannot_carry_is_an_internal_error(receiver, event_type):
    # Saved before the form refused such values (or straight into the database).
    headers = [{"name": "X-Note", "value": "ok ✓", "secret": False}]
    attempt = deliver_once(receiver.url + "/ok", event_type, custom_headers=headers)
    assert attempt.failure_reason == "internal_error"
    assert "UnicodeEncodeError" in attempt.failure_detail
    assert receiver.received() == []
    assert attempt.delivery.last_failure_reason == "internal_error"


def test_a_basic_auth_username_http_cannot_carry_is_an_internal_error(receiver, event_type):
    attempt = deliver_once(
        receiver.url + "/ok", event_type, basic_auth_username="Łukasz", basic_auth_password="x"
    )
    assert attempt.failure_reason == "internal_error"
    assert "UnicodeEncodeError" in attempt.failure_detail


def test_a_row_the_database_refuses_fails_its_delivery_and_the_others_are_recorded(
    transactional_db, event_type
):
    make_webhook(url="https://example.com/a", event_types=[event_type])
    make_webhook(url="https://example.com/b", event_types=[event_type])
    emit(event_type.name, {})
    good, bad = claim_due(10)
    ok = AttemptResult(success=True, started_at=timezone.now(), response_code=200)
    # No real answer carries a code past smallint; the database refuses this row.
    odd = AttemptResult(success=True, started_at=timezone.now(), response_code=70000)
    record([(good, build_request(good), ok), (bad, build_request(bad), odd)], SystemSettings.load())

    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.status == "success" and good.attempts.get().response_code == 200
    assert bad.status == "failed" and bad.last_failure_reason == "internal_error"
    [attempt] = bad.attempts.all()
    assert attempt.failure_reason == "internal_error"
    assert "could not be recorded" in attempt.failure_detail
    assert claim_due(10) == []  # neither is sent again


def test_a_spent_lease_fails_the_delivery_instead_of_sending_it_again(event_type):
    make_webhook(event_types=[event_type])
    emit(event_type.name, {})
    gone = timezone.now() - timedelta(seconds=1)
    # A worker died mid-send, again and again: 4 claims, the first try and 3 retries.
    Delivery.objects.update(status="in_progress", attempt_count=4, next_attempt_at=gone)

    assert claim_due(10) == []
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.last_failure_reason == "lease_expired"
    [attempt] = delivery.attempts.all()
    assert attempt.number == 4 and attempt.failure_reason == "lease_expired"


def test_a_lease_that_ran_out_with_retries_left_is_claimed_again(event_type):
    make_webhook(event_types=[event_type])
    emit(event_type.name, {})
    gone = timezone.now() - timedelta(seconds=1)
    Delivery.objects.update(status="in_progress", attempt_count=2, next_attempt_at=gone)

    [delivery] = claim_due(10)
    assert delivery.attempt_count == 3 and delivery.status == "in_progress"


@pytest.mark.worker
def test_a_poisoned_answer_beside_a_healthy_one_records_both_once(receiver, start_workers):
    kind = make_event_type(name="license.assigned")
    make_webhook(url=receiver.url + "/nul-header", event_types=[kind])
    make_webhook(url=receiver.url + "/ok", event_types=[kind])
    worker = start_workers()
    for n in range(3):
        emit("license.assigned", {"n": n})

    def done():
        return Delivery.objects.filter(status="success").count() == 6

    assert wait_for(done, timeout=30), stop(worker)
    assert DeliveryAttempt.objects.count() == 6
    assert len(receiver.received("/nul-header")) == 3
    assert len(receiver.received("/ok")) == 3


def recorded_statements(deliveries) -> int:
    ok = AttemptResult(
        success=True,
        started_at=timezone.now(),
        response_code=200,
        response_headers={"Content-Type": "text/plain", "X-Note": "é"},
        response_body="ok",
        duration_ms=3,
    )
    results = [(d, build_request(d), ok) for d in deliveries]
    system = SystemSettings.load()
    with CaptureQueriesContext(connection) as queries:
        record(results, system)
    return len([q for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))])


def test_a_group_is_recorded_in_the_same_statements_whatever_its_size(event_type):
    make_webhook(event_types=[event_type])
    for n in range(35):
        emit(event_type.name, {"n": n})
    assert recorded_statements(claim_due(5)) == recorded_statements(claim_due(30))
    attempt = DeliveryAttempt.objects.order_by("id").last()
    assert attempt.response_headers == {"Content-Type": "text/plain", "X-Note": "é"}
    assert attempt.request_headers["X-Webhook-Event"] == "license.assigned"
    assert attempt.trigger == "automatic" and attempt.success and attempt.duration_ms == 3
    assert Delivery.objects.filter(status="success").count() == 35


# --- A sender whose lease ran out -----------------------------------------------------


def answered(code: int) -> AttemptResult:
    reason = "" if code < 300 else "http_error"
    return AttemptResult(
        success=code < 300, started_at=timezone.now(), response_code=code, failure_reason=reason
    )


def result(delivery, code: int) -> tuple:
    return delivery, build_request(delivery), answered(code)


def record_one(delivery, code: int) -> None:
    record([result(delivery, code)], SystemSettings.load())


@pytest.fixture(params=["sql", "orm"])
def record_by(request):
    """``record``, saving the states by its PostgreSQL statement or by the ORM as on SQLite
    (reached on PostgreSQL by another vendor name, as test_rollups.py does)."""

    def recording(results: list[tuple]) -> None:
        vendor = connection.vendor
        if request.param == "orm" and vendor == "postgresql":
            connection.vendor = "sqlite-like"
        try:
            record(results, SystemSettings.load())
        finally:
            connection.vendor = vendor

    return recording


@pytest.fixture
def clock(monkeypatch):
    """Move ``timezone.now`` on by ``clock(seconds)``, past a lease without waiting for it."""
    offset = timedelta()
    real_now = timezone.now

    def advance(seconds: float) -> None:
        nonlocal offset
        offset += timedelta(seconds=seconds)

    monkeypatch.setattr(timezone, "now", lambda: real_now() + offset)
    return advance


def lease_seconds(delivery) -> float:
    return (delivery.next_attempt_at - timezone.now()).total_seconds()


def test_a_late_result_after_another_worker_recorded_leaves_the_delivery_as_it_is(
    event_type, clock, caplog, record_by
):
    webhook = make_webhook(event_types=[event_type])
    emit(event_type.name, {})
    [first] = claim_due(10)  # worker A, cut off mid-send
    assert claim_due(10) == []  # its lease holds the delivery
    clock(lease_seconds(first) + 1)
    [second] = claim_due(10)  # worker B, once A's lease ran out
    record_by([result(second, 200)])

    record_by([result(first, 500)])  # A comes back

    delivery = Delivery.objects.get()
    assert delivery.status == "success" and delivery.next_attempt_at is None
    assert delivery.attempt_count == 2 and delivery.last_response_code == 200
    attempts = list(delivery.attempts.order_by("number"))
    assert [(a.number, a.success, a.response_code) for a in attempts] == [
        (1, False, 500),
        (2, True, 200),
    ]
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert f"Delivery {delivery.pk} " in warning.getMessage()
    # The late attempt counts in the stats like the attempts table does.
    rolled = AttemptRollup.objects.filter(webhook=webhook).aggregate(n=Sum("count"))["n"]
    assert rolled == DeliveryAttempt.objects.filter(webhook=webhook).count() == 2
    clock(3600)
    assert claim_due(10) == []  # nothing scheduled again


def test_a_late_result_while_another_worker_sends_leaves_the_newer_claim_in_charge(
    event_type, clock
):
    make_webhook(event_types=[event_type])
    emit(event_type.name, {})
    [first] = claim_due(10)
    clock(lease_seconds(first) + 1)
    [second] = claim_due(10)

    record_one(first, 200)  # A's success, while B's send is under way

    delivery = Delivery.objects.get()
    assert delivery.status == "in_progress" and delivery.attempt_count == 2
    assert delivery.next_attempt_at == second.next_attempt_at
    record_one(second, 503)  # B still records its result
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.retry_scheduled
    assert delivery.last_response_code == 503
    assert delivery.attempts.count() == 2


def test_a_late_result_in_a_group_leaves_only_its_own_delivery_alone(
    event_type, clock, caplog, record_by
):
    make_webhook(event_types=[event_type])
    emit(event_type.name, {"n": 1})
    [stale] = claim_due(10)
    clock(lease_seconds(stale) + 1)
    [newer] = claim_due(10)
    record_by([result(newer, 200)])
    emit(event_type.name, {"n": 2})
    [fresh] = claim_due(10)

    record_by([result(stale, 500), result(fresh, 500)])

    assert Delivery.objects.get(pk=stale.pk).status == "success"
    fresh.refresh_from_db()
    assert fresh.status == "failed" and fresh.retry_scheduled and fresh.last_response_code == 500
    assert DeliveryAttempt.objects.count() == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and f"Delivery {stale.pk} " in warnings[0]


def test_a_result_recorded_after_its_lease_ran_out_counts_if_no_one_claimed_again(
    event_type, clock, caplog
):
    make_webhook(event_types=[event_type])
    emit(event_type.name, {})
    [delivery] = claim_due(10)
    clock(lease_seconds(delivery) + 1)  # late, but its claim is still the latest

    record_one(delivery, 200)

    delivery.refresh_from_db()
    assert delivery.status == "success" and delivery.attempts.get().success
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_a_result_in_time_sets_the_next_state(event_type, caplog, record_by):
    make_webhook(event_types=[event_type])
    emit(event_type.name, {})
    [delivery] = claim_due(10)

    record_by([result(delivery, 500)])

    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.retry_scheduled
    assert delivery.attempt_count == 1 and delivery.last_response_code == 500
    assert delivery.attempts.get().response_code == 500
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite stores any integer")
def test_a_late_result_the_database_refuses_leaves_the_delivery_alone(
    transactional_db, event_type, clock
):
    make_webhook(event_types=[event_type])
    emit(event_type.name, {})
    [first] = claim_due(10)
    clock(lease_seconds(first) + 1)
    [second] = claim_due(10)
    record_one(second, 200)

    record_one(first, 70000)  # refused as it is: recorded as an internal error instead

    delivery = Delivery.objects.get()
    assert delivery.status == "success" and delivery.last_response_code == 200
    late = delivery.attempts.get(number=1)
    assert late.failure_reason == "internal_error"


def test_a_late_result_after_the_delivery_was_given_up_leaves_it_given_up(event_type, clock):
    make_webhook(event_types=[event_type], max_retries=0)
    emit(event_type.name, {})
    [first] = claim_due(10)
    clock(lease_seconds(first) + 1)
    assert claim_due(10) == []  # its one attempt is spent: failed as lease_expired

    record_one(first, 200)

    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.last_failure_reason == "lease_expired"
    assert sorted(delivery.attempts.values_list("success", flat=True)) == [False, True]
