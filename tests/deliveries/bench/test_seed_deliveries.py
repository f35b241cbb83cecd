import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from deliveries.bench import seeding
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, FailureReason, Trigger
from tests.factories import make_event_type, make_webhook
from webhooks.models import Event, EventType, Webhook
from webhooks.signing import signature_headers

# Transactional: on PostgreSQL the seeder COPYs on a second connection, which must see
# the webhooks it created and commits chunk by chunk.
pytestmark = pytest.mark.django_db(transaction=True)

ATTEMPTS = 2000


def seed(**options):
    out = StringIO()
    options = {"attempts": ATTEMPTS, "seed": 7, **options}
    call_command("seed_deliveries", stdout=out, **options)
    return out.getvalue()


def attempts_by_delivery():
    grouped = defaultdict(list)
    for attempt in DeliveryAttempt.objects.order_by("delivery_id", "number"):
        grouped[attempt.delivery_id].append(attempt)
    return grouped


def test_it_writes_exactly_the_attempts_asked_for():
    output = seed()

    assert DeliveryAttempt.objects.count() == ATTEMPTS
    assert f"seeded {ATTEMPTS:,} attempts" in output
    assert Webhook.objects.filter(description__startswith=seeding.SEED_MARK).count() == 50
    assert Delivery.objects.count() > Event.objects.count() > 0


def test_about_a_tenth_of_attempts_fail_for_mixed_reasons():
    seed()

    failed = DeliveryAttempt.objects.filter(success=False)
    assert 0.07 <= failed.count() / ATTEMPTS <= 0.13
    reasons = Counter(failed.values_list("failure_reason", flat=True))
    assert {FailureReason.HTTP_ERROR, FailureReason.TIMEOUT} <= set(reasons)
    assert len(reasons) >= 4
    codes = set(failed.exclude(response_code=None).values_list("response_code", flat=True))
    assert len(codes & {500, 502, 503, 404, 401, 410}) >= 4
    assert not DeliveryAttempt.objects.filter(success=True, failure_reason__gt="").exists()


def test_every_delivery_matches_its_last_attempt():
    seed()

    grouped = attempts_by_delivery()
    for delivery in Delivery.objects.select_related("event__event_type"):
        attempts = grouped.get(delivery.pk, [])
        assert [a.number for a in attempts] == list(range(1, len(attempts) + 1))
        assert all(a.webhook_id == delivery.webhook_id for a in attempts)
        assert delivery.source == "event"
        assert delivery.event_type_id == delivery.event.event_type_id
        assert delivery.category == delivery.event.event_type.category
        assert delivery.created_at == delivery.event.created_at
        if not attempts:
            assert delivery.status in ("not_triggered", "pending", "in_progress")
            assert delivery.last_attempt_at is None and delivery.last_failure_reason == ""
            # A claimed delivery counts the attempt it is sending (deliveries.dispatch.claim).
            assert delivery.attempt_count == (delivery.status == "in_progress")
            continue
        last = attempts[-1]
        assert delivery.attempt_count == len(attempts)
        assert delivery.last_attempt_at == last.attempted_at
        assert delivery.last_response_code == last.response_code
        assert delivery.last_failure_reason == last.failure_reason
        assert delivery.updated_at == last.attempted_at
        if last.success:
            assert delivery.status == DeliveryStatus.SUCCESS
        else:
            assert delivery.status == DeliveryStatus.FAILED  # a retry scheduled or given up
        if delivery.next_attempt_at is not None:
            assert delivery.next_attempt_at > last.attempted_at
        assert all(a.attempted_at >= delivery.created_at for a in attempts)


def test_retries_manual_attempts_and_idle_deliveries_are_there():
    seed()

    counts = Counter(Delivery.objects.values_list("attempt_count", flat=True))
    assert counts[2] and counts[3] and counts[4]
    assert DeliveryAttempt.objects.filter(trigger=Trigger.MANUAL).exists()
    statuses = set(Delivery.objects.values_list("status", flat=True))
    assert set(DeliveryStatus.values) <= statuses
    # Not triggered only for webhooks that are disabled now.
    assert not Delivery.objects.filter(status="not_triggered", webhook__is_active=True).exists()
    # An event fans out to one to three webhooks.
    fanout = Counter(Delivery.objects.values_list("event_id", flat=True))
    assert set(fanout.values()) == {1, 2, 3}


def test_times_fall_within_the_window():
    start = timezone.now() - timedelta(days=10)
    seed(days=10)
    end = timezone.now()

    for column in ("created_at", "last_attempt_at"):
        times = Delivery.objects.exclude(**{column: None}).values_list(column, flat=True)
        assert start <= min(times) and max(times) <= end
    attempted = DeliveryAttempt.objects.values_list("attempted_at", flat=True)
    assert start <= min(attempted) and max(attempted) <= end
    assert start <= min(Event.objects.values_list("occurred_at", flat=True))
    # Spread over the window, not bunched at one end.
    assert min(attempted) < start + timedelta(days=1) and max(attempted) > end - timedelta(days=1)


def test_requests_are_signed_and_credentials_redacted():
    seed(attempts=300)

    secrets = dict(Webhook.objects.values_list("id", "secret"))
    for attempt in DeliveryAttempt.objects.all():
        headers = attempt.request_headers
        expected = signature_headers(
            [secrets[attempt.webhook_id]],
            f"msg_{attempt.delivery_id}",
            int(headers["webhook-timestamp"]),
            attempt.request_body.encode(),
        )
        assert {name: headers[name] for name in expected} == expected
        assert headers["X-Webhook-Event"] == json.loads(attempt.request_body)["type"]
        assert headers.get("Authorization", "[redacted]").endswith("[redacted]")
        assert headers.get("X-Api-Key", "[redacted]") == "[redacted]"
        assert 150 < len(attempt.request_body) < 1000
    assert DeliveryAttempt.objects.filter(request_headers__has_key="Authorization").exists()


def test_clear_removes_only_seeded_rows():
    kind = make_event_type()
    real = make_webhook(event_types=[kind])
    event = Event.objects.create(event_type=kind, payload={"real": True})
    delivery = Delivery.objects.create(webhook=real, event=event, event_type=kind)
    DeliveryAttempt.objects.create(delivery=delivery, webhook=real, number=1, request_url="x")
    seed(attempts=500)

    output = seed(attempts=0, clear=True)

    assert "cleared 50 seeded webhooks" in output
    assert list(Webhook.objects.all()) == [real]
    assert list(Event.objects.all()) == [event]
    assert list(Delivery.objects.all()) == [delivery]
    assert DeliveryAttempt.objects.count() == 1
    assert EventType.objects.filter(name="license.assigned").exists()  # the catalog stays


def test_the_same_seed_gives_the_same_history():
    def history():
        return list(
            Delivery.objects.order_by("id").values_list(
                "webhook__name", "event_type__name", "status", "attempt_count", "last_response_code"
            )
        )

    seed(attempts=500, seed=3)
    first = history()
    seed(attempts=500, seed=3, clear=True)

    assert history() == first


@pytest.mark.django_db(transaction=False)
def test_it_seeds_inside_a_transaction():
    summary = seeding.seed(300, webhooks=5, days=3, random_seed=1)

    assert summary.attempts == DeliveryAttempt.objects.count() == 300
    assert summary.deliveries == Delivery.objects.count()


def test_it_runs_on_sqlite(tmp_path):
    env = {**os.environ, "DEBUG": "true", "VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL")
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]

    def run(*args):
        return subprocess.run(
            [*manage, *args], env=env, capture_output=True, text=True, timeout=120, check=True
        )

    run("migrate", "-v0")
    result = run("seed_deliveries", "--attempts", "400", "--webhooks", "10", "--seed", "1")
    run("seed_deliveries", "--attempts", "300", "--webhooks", "10", "--clear")

    assert "seeded 400 attempts" in result.stdout
    with sqlite3.connect(tmp_path / "portal.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM deliveries_deliveryattempt").fetchone() == (300,)
        assert db.execute("SELECT COUNT(*) FROM webhooks_webhook").fetchone() == (10,)
