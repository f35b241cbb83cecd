"""After a random workload through the real engine (claims, automatic retries, manual
retries, a retention purge), every figure the stats API and the stats pages show equals a
direct aggregate over the attempts and deliveries tables."""

import math
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from deliveries.engine import partitions, record, retention
from deliveries.engine.sender import AttemptResult, build_request
from deliveries.models import (
    DURATION_EDGES,
    DailyAttemptRollup,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DeliveryStatusCount,
    FailureReason,
)
from deliveries.rollup_tables import DailyDeliveryStatusCount
from deliveries.stats import recount
from deliveries.stats.figures import error_kind
from deliveries.stats.rollups import code_class, histogram_index
from deliveries.stats.windows import day_floor, hour_ceil, hour_floor, period_start
from tests.deliveries.stats.test_rollups import (
    assert_days_add_up,
    assert_status_days_add_up,
    rollup_rows,
    status_count_sums,
)
from tests.factories import make_campaign, make_webhook
from tests.support.sending import claim_due
from webhooks.models import ApiKey, SystemSettings

START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
DAYS = 6

OUTCOMES = [
    # (weight, success, code, reason, durations)
    (60, True, 200, "", (3, 900)),
    (6, True, 204, "", (1, 40)),
    (8, False, 500, FailureReason.HTTP_ERROR, (5, 3000)),
    (4, False, 503, FailureReason.HTTP_ERROR, (5, 200)),
    (4, False, 404, FailureReason.HTTP_ERROR, (2, 100)),
    (2, False, 302, FailureReason.HTTP_ERROR, (2, 50)),
    (5, False, None, FailureReason.TIMEOUT, (10_000, 10_000)),
    (4, False, None, FailureReason.CONNECTION_REFUSED, (0, 3)),
    (2, False, None, FailureReason.DNS_ERROR, (1, 70_000)),
    (1, False, None, FailureReason.TLS_ERROR, (20, 400)),
    (2, False, None, FailureReason.INVALID_URL, None),
    (2, False, None, FailureReason.BLOCKED_DESTINATION, (0, 2)),
]


class Clock:
    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(START)
    monkeypatch.setattr(timezone, "now", clock)
    return clock


def outcome(rng) -> AttemptResult:
    _, success, code, reason, durations = rng.choices(OUTCOMES, [o[0] for o in OUTCOMES])[0]
    result = AttemptResult(success=success, response_code=code, failure_reason=reason)
    result.duration_ms = rng.randint(*durations) if durations else None
    return result


def run_workload(rng, clock, admin_user):
    system = SystemSettings.load()
    system.max_retries, system.retry_window_seconds, system.retention_days = 3, 4 * 3600, 4
    system.save()
    webhooks = [make_webhook(name=f"Hook {n}", url=f"https://example.com/{n}") for n in range(4)]
    campaign = make_campaign(webhooks[0], name="Spring")
    end = START + timedelta(days=DAYS)
    # A partition a day on PostgreSQL: the purges drop them, keeping unsettled deliveries'.
    partitions.ensure(START.date(), end.date())
    while clock.now < end:
        for _ in range(rng.randint(0, 6)):
            webhook = rng.choice(webhooks)
            Delivery.objects.create(
                webhook=webhook,
                campaign=campaign if webhook == webhooks[0] and rng.random() < 0.5 else None,
                payload={"n": rng.random()},
                status=DeliveryStatus.PENDING if rng.random() < 0.95 else "not_triggered",
                next_attempt_at=clock.now,
                created_at=clock.now,
            )
        # Deliveries due now, claimed and recorded by the engine in batches.
        for delivery in claim_due(50):
            clock.now += timedelta(seconds=rng.randint(1, 90))
            record.record([(delivery, build_request(delivery), outcome(rng))], system)
        # Now and then an admin retries a failed delivery by hand.
        failed = list(Delivery.objects.filter(status="failed").order_by("?")[:2])
        for delivery in failed if rng.random() < 0.3 else []:
            Delivery.objects.filter(pk=delivery.pk).update(
                status="in_progress",
                attempt_count=delivery.attempt_count + 1,
                manual_requested_at=clock.now,
                manual_requested_by=admin_user,
            )
            delivery.refresh_from_db()
            result = outcome(rng)
            record.record([(delivery, build_request(delivery), result)], system)
        clock.now += timedelta(minutes=rng.randint(5, 80))
        if rng.random() < 0.02:
            retention.purge_expired()
    retention.purge_expired()
    return webhooks, campaign


# --- Direct aggregates over the attempts ----------------------------------------------


def expected_figures(attempts):
    durations = sorted(a.duration_ms for a in attempts if a.duration_ms is not None)
    total = len(attempts)
    success = sum(a.success for a in attempts)
    maximum = durations[-1] if durations else 0
    p95 = 0
    if durations:
        value = durations[math.ceil(0.95 * len(durations)) - 1]
        index = histogram_index(value)
        p95 = min(DURATION_EDGES[index], maximum) if index < len(DURATION_EDGES) else maximum
    return {
        "total": total,
        "success_count": success,
        "failed_count": total - success,
        "success_rate": success / total if total else 0.0,
        "avg_duration_ms": math.floor(sum(durations) / len(durations) + 0.5) if durations else 0,
        "max_duration_ms": maximum,
        "p95": p95,
        "last_delivery_at": max((a.attempted_at for a in attempts), default=None),
    }


def shown_figures(figures):
    return {
        "total": figures.total,
        "success_count": figures.success_count,
        "failed_count": figures.failed_count,
        "success_rate": figures.success_rate,
        "avg_duration_ms": figures.avg_duration_ms,
        "max_duration_ms": figures.max_duration_ms,
        "p95": figures.p95_duration_ms,
        "last_delivery_at": figures.last_delivery_at,
    }


def in_window(attempts, start, end):
    return [a for a in attempts if (start is None or a.attempted_at >= start)
            and (end is None or a.attempted_at < end)]  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_figure_equals_a_direct_aggregate(
    seed, clock, admin_user, client, django_assert_max_num_queries
):
    rng = random.Random(seed)
    webhooks, campaign = run_workload(rng, clock, admin_user)

    attempts = list(DeliveryAttempt.objects.select_related("delivery"))
    triggers = Counter(a.trigger for a in attempts)
    assert triggers["manual"] > 0 and triggers["automatic"] > 100
    assert max(a.number for a in attempts) >= 3  # automatic retries happened
    cutoff = day_floor(clock.now - timedelta(days=4))  # the purge keeps whole days
    assert min(a.attempted_at for a in attempts) >= cutoff  # the purge ran
    if partitions.enabled():
        assert min(partitions.days()) == cutoff.date()  # by dropping the old days
    assert Counter(a.failure_reason for a in attempts if not a.success).keys() >= {
        "http_error",
        "timeout",
    }

    # A rebuild from the tables finds what the incremental upkeep wrote, hourly and daily:
    # the attempt rollups, and the status counts the triggers kept through the purges.
    assert_days_add_up()
    assert_status_days_add_up()
    incremental = rollup_rows(), rollup_rows(DailyAttemptRollup), status_counts_by_day()
    recount.compact()
    assert_status_days_add_up()
    recount.rebuild()
    assert (rollup_rows(), rollup_rows(DailyAttemptRollup), status_counts_by_day()) == incremental
    assert_status_days_add_up()

    # The JSON API, all time and over windows that cut through the data.
    key = ApiKey.issue("consistency")[1]
    windows = [
        (None, None),
        (cutoff + timedelta(hours=7, minutes=20), None),
        (None, clock.now - timedelta(days=1, minutes=30)),
        (clock.now - timedelta(days=2, hours=3), clock.now - timedelta(hours=5, minutes=1)),
    ]
    for webhook in webhooks:
        mine = [a for a in attempts if a.webhook_id == webhook.pk]
        for start, end in windows:
            params = {}
            if start:
                params["from"] = start.isoformat()
            if end:
                params["to"] = end.isoformat()
            body = client.get(
                f"/api/v1/workspace/webhooks/{webhook.pk}/stats",
                params,
                headers={"Authorization": f"Bearer {key}"},
            ).json()
            expected = expected_figures(
                in_window(mine, start and hour_floor(start), end and hour_ceil(end))
            )
            last = expected.pop("last_delivery_at")
            expected.pop("p95")
            assert body.pop("last_delivery_at") == (
                last and last.isoformat().replace("+00:00", "Z")
            )
            assert body == expected, (webhook.name, start, end)

    # The pages, over custom windows in dates, for the workspace and each webhook.
    client.force_login(admin_user)
    zone = timezone.get_current_timezone()
    for since, until in [(START.date(), clock.now.date()), (clock.now.date(), clock.now.date())]:
        params = {"range": "custom", "since": str(since), "until": str(until)}
        for webhook in [None, *webhooks]:
            url = f"/admin/webhooks/{webhook.pk}/stats" if webhook else "/admin/"
            for granularity in ["daily", "weekly", "hourly"]:
                with django_assert_max_num_queries(10):
                    response = client.get(url, {**params, "granularity": granularity})
                assert response.status_code == 200
                context = response.context
                window = context["window"]
                shown = [
                    a for a in in_window(attempts, window.start, window.end)
                    if webhook is None or a.webhook_id == webhook.pk
                ]  # fmt: skip
                assert shown_figures(context["figures"]) == expected_figures(shown)
                check_trend(context, shown, zone)
            check_errors(context, shown)
            check_statuses(context, window, webhook)
            if webhook is None:
                check_webhooks(context, shown)


def status_counts_by_day():
    return status_count_sums(DeliveryStatusCount), status_count_sums(DailyDeliveryStatusCount)


def check_trend(context, shown, zone):
    expected = defaultdict(lambda: [0, 0])
    for attempt in shown:
        start = period_start(attempt.attempted_at, context["granularity"], zone)
        expected[start][0 if attempt.success else 1] += 1
    points = {p.start: [p.delivered, p.failed] for p in context["points"] if p.total}
    assert points == dict(expected)
    chart = context["chart"]
    assert (chart["delivered"], chart["failed"]) == (
        sum(a.success for a in shown),
        sum(not a.success for a in shown),
    )


def check_errors(context, shown):
    expected = Counter(
        error_kind(a.failure_reason, code_class(a.response_code)).label
        for a in shown
        if not a.success
    )
    found = Counter()
    for group in context["errors"]:
        assert group["count"] == sum(kind["count"] for kind in group["kinds"])
        for kind in group["kinds"]:
            found[kind["label"]] += kind["count"]
    assert found == expected


def check_statuses(context, window, webhook):
    deliveries = Delivery.objects.filter(created_at__gte=window.start, created_at__lt=window.end)
    if webhook:
        deliveries = deliveries.filter(webhook=webhook)
    expected = Counter(deliveries.values_list("status", flat=True))
    assert {s["value"]: s["count"] for s in context["statuses"]} == {
        status: expected.get(status, 0) for status in DeliveryStatus.values
    }


def check_webhooks(context, shown):
    by_webhook = defaultdict(list)
    for attempt in shown:
        by_webhook[attempt.webhook_id].append(attempt)
    assert {row["webhook"].pk for row in context["webhooks"]} == set(by_webhook)
    for row in context["webhooks"]:
        assert shown_figures(row["figures"]) == expected_figures(by_webhook[row["webhook"].pk])
