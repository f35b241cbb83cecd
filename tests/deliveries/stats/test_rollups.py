from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from deliveries.models import (
    HISTOGRAM_FIELDS,
    AttemptRollup,
    DailyAttemptRollup,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DeliveryStatusCount,
    FailureReason,
)
from deliveries.rollup_tables import DailyDeliveryStatusCount
from deliveries.stats import recount, rollups
from deliveries.stats.figures import percentile
from tests.factories import make_campaign, make_delivery, make_webhook

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def build_attempt(delivery, at=T0, success=True, code=200, duration=120, reason="", number=1):
    return DeliveryAttempt(
        delivery=delivery,
        webhook_id=delivery.webhook_id,
        number=number,
        attempted_at=at,
        request_url="https://example.com/hook",
        success=success,
        response_code=code,
        duration_ms=duration,
        failure_reason=reason,
    )


def write_attempts(attempts):
    """What deliveries.engine.record does: write the attempts, then add them to the rollups."""
    DeliveryAttempt.objects.bulk_create(attempts)
    rollups.add_attempts(attempts)
    return attempts


ROLLUP_FIELDS = [
    *("bucket", "webhook_id", "campaign_id", "success", "failure_reason", "code_class"),
    *("count", "duration_sum", "duration_max", "last_attempt_at", *HISTOGRAM_FIELDS),
]


def rollup_rows(model=AttemptRollup):
    return sorted(
        model.objects.values_list(*ROLLUP_FIELDS), key=lambda r: (r[0], r[1], r[2] or 0, *r[3:6])
    )


def days_from_hours():
    """The daily rows the hourly rows add up to."""
    days = {}
    for row in rollup_rows():
        key = (row[0].replace(hour=0), *row[1:6])
        if key not in days:
            days[key] = list(row[6:])
            continue
        day = days[key]
        day[0] += row[6]
        day[1] += row[7]
        day[2] = max(day[2], row[8])
        day[3] = max(day[3], row[9])
        for n in range(4, len(day)):
            day[n] += row[6 + n]
    return sorted(
        ((*key, *values) for key, values in days.items()),
        key=lambda r: (r[0], r[1], r[2] or 0, *r[3:6]),
    )


def assert_days_add_up():
    assert rollup_rows(DailyAttemptRollup) == days_from_hours()


def status_counts(**filters):
    rows = DeliveryStatusCount.objects.filter(**filters).values_list("status", "count")
    totals = {}
    for status, count in rows:
        totals[status] = totals.get(status, 0) + count
    return {status: n for status, n in totals.items() if n}


def status_count_sums(model, day=False):
    """The status counts by (bucket, or its day; webhook, campaign, status), nonzero."""
    sums = {}
    for bucket, *key, count in model.objects.values_list(
        "bucket", "webhook_id", "campaign_id", "status", "count"
    ):
        bucket = bucket.replace(hour=0) if day else bucket
        sums[(bucket, *key)] = sums.get((bucket, *key), 0) + count
    return {key: n for key, n in sums.items() if n}


def assert_status_days_add_up():
    """The daily status counts are the sum of the hourly ones, key by key."""
    hourly = status_count_sums(DeliveryStatusCount, day=True)
    assert status_count_sums(DailyDeliveryStatusCount) == hourly


def test_attempts_of_one_hour_webhook_and_outcome_share_a_row(db):
    webhook = make_webhook()
    delivery = make_delivery(webhook)
    write_attempts(
        [
            build_attempt(delivery, at=T0 + timedelta(minutes=5), duration=40),
            build_attempt(delivery, at=T0 + timedelta(minutes=50), duration=300),
            build_attempt(delivery, at=T0 + timedelta(minutes=59), duration=None),
        ]
    )
    row = AttemptRollup.objects.get()
    assert (row.bucket, row.webhook_id, row.campaign_id) == (T0, webhook.pk, None)
    assert (row.success, row.failure_reason, row.code_class) == (True, "", "2xx")
    assert (row.count, row.duration_sum, row.duration_max) == (3, 340, 300)
    assert row.last_attempt_at == T0 + timedelta(minutes=59)
    # Two attempts have a duration: one in (25, 50], one in (250, 500].
    assert (row.le_50, row.le_500, row.le_inf) == (1, 1, 0)
    assert_days_add_up()


def test_adding_again_accumulates_into_the_same_rows(db):
    delivery = make_delivery(make_webhook())
    write_attempts([build_attempt(delivery, duration=10)])
    write_attempts([build_attempt(delivery, at=T0 + timedelta(minutes=1), duration=90)])
    row = AttemptRollup.objects.get()
    assert (row.count, row.duration_sum, row.duration_max) == (2, 100, 90)
    assert row.last_attempt_at == T0 + timedelta(minutes=1)


def test_outcomes_hours_and_campaigns_get_their_own_rows(db):
    webhook = make_webhook()
    campaign = make_campaign(webhook, name="Spring")
    plain = make_delivery(webhook)
    from_campaign = make_delivery(webhook, campaign=campaign)
    write_attempts(
        [
            build_attempt(plain),
            build_attempt(plain, success=False, code=503, reason=FailureReason.HTTP_ERROR),
            build_attempt(plain, success=False, code=404, reason=FailureReason.HTTP_ERROR),
            build_attempt(plain, success=False, code=None, reason=FailureReason.TIMEOUT),
            build_attempt(plain, at=T0 + timedelta(hours=1)),
            build_attempt(from_campaign),
        ]
    )
    keys = {
        (r.bucket, r.campaign_id, r.success, r.failure_reason, r.code_class)
        for r in AttemptRollup.objects.all()
    }
    assert keys == {
        (T0, None, True, "", "2xx"),
        (T0, None, False, "http_error", "5xx"),
        (T0, None, False, "http_error", "4xx"),
        (T0, None, False, "timeout", ""),
        (T0 + timedelta(hours=1), None, True, "", "2xx"),
        (T0, campaign.pk, True, "", "2xx"),
    }
    assert_days_add_up()
    assert DailyAttemptRollup.objects.filter(campaign=None, success=True).get().count == 2


def test_rows_without_a_campaign_are_upserted_not_duplicated(db):
    # NULL campaign ids must still meet in the unique key (COALESCE in the constraint).
    delivery = make_delivery(make_webhook())
    for _ in range(3):
        write_attempts([build_attempt(delivery)])
    assert AttemptRollup.objects.get().count == 3


def test_the_campaign_comes_from_the_database_when_the_delivery_is_not_loaded(db):
    webhook = make_webhook()
    campaign = make_campaign(webhook, name="Spring")
    delivery = make_delivery(webhook, campaign=campaign)
    attempt = build_attempt(delivery)
    DeliveryAttempt.objects.bulk_create([attempt])
    rollups.add_attempts(DeliveryAttempt.objects.all())  # fresh instances, delivery not cached
    assert AttemptRollup.objects.get().campaign_id == campaign.pk


@pytest.mark.parametrize(
    ("duration", "field"),
    [(0, "le_5"), (5, "le_5"), (6, "le_10"), (1000, "le_1000"), (60000, "le_60000"),
     (60001, "le_inf")],
)  # fmt: skip
def test_a_duration_counts_in_the_first_bucket_whose_edge_is_not_below_it(db, duration, field):
    delivery = make_delivery(make_webhook())
    write_attempts([build_attempt(delivery, duration=duration)])
    row = AttemptRollup.objects.values(*HISTOGRAM_FIELDS).get()
    assert {name for name, n in row.items() if n} == {field}


def test_the_portable_upsert_gives_the_same_rows(db):
    webhook = make_webhook()
    delivery = make_delivery(webhook)
    attempts = [
        build_attempt(delivery, duration=d, at=T0 + timedelta(minutes=d % 60)) for d in range(90)
    ]
    attempts += [build_attempt(delivery, success=False, code=500, reason="http_error")]
    DeliveryAttempt.objects.bulk_create(attempts)
    rollups.add_attempts(attempts[:50])
    rollups.add_attempts(attempts[50:])
    expected = rollup_rows(), rollup_rows(DailyAttemptRollup)
    AttemptRollup.objects.all().delete()
    DailyAttemptRollup.objects.all().delete()
    vendor = connection.vendor
    try:
        connection.vendor = "sqlite-like"
        rollups.add_attempts(attempts[:50])
        rollups.add_attempts(attempts[50:])
    finally:
        connection.vendor = vendor
    assert (rollup_rows(), rollup_rows(DailyAttemptRollup)) == expected


def test_rebuild_gives_what_adding_gave(db):
    webhook, other = make_webhook(), make_webhook()
    campaign = make_campaign(other, name="Spring")
    deliveries = [make_delivery(webhook), make_delivery(other, campaign=campaign)]
    attempts = []
    for n in range(200):
        success = n % 3 != 0
        attempts.append(
            build_attempt(
                deliveries[n % 2],
                at=T0 + timedelta(minutes=7 * n),
                success=success,
                code=200 if success else [500, 404, None][n % 3 and 2],
                reason="" if success else FailureReason.HTTP_ERROR,
                duration=None if n % 17 == 0 else (n * 37) % 12000,
            )
        )
    write_attempts(attempts)
    expected = rollup_rows(), rollup_rows(DailyAttemptRollup)
    assert recount.rebuild() == (len(expected[0]), DeliveryStatusCount.objects.count())
    assert (rollup_rows(), rollup_rows(DailyAttemptRollup)) == expected
    assert_days_add_up()


def test_rebuild_since_leaves_older_hours_alone(db):
    delivery = make_delivery(make_webhook())
    write_attempts([build_attempt(delivery), build_attempt(delivery, at=T0 + timedelta(hours=3))])
    AttemptRollup.objects.update(count=99)  # damage both rows
    recount.rebuild(since=T0 + timedelta(hours=2, minutes=30))
    assert dict(AttemptRollup.objects.values_list("bucket", "count")) == {
        T0: 99,
        T0 + timedelta(hours=3): 1,
    }
    # The day is summed again from its hours, the untouched one included.
    assert DailyAttemptRollup.objects.get().count == 100


def test_removing_attempts_recounts_their_hours_from_what_stays(db):
    delivery = make_delivery(make_webhook())
    old = build_attempt(delivery, at=T0 + timedelta(minutes=1), duration=9000)
    kept = build_attempt(delivery, at=T0 + timedelta(minutes=40), duration=20)
    gone_hour = build_attempt(delivery, at=T0 - timedelta(hours=5))
    write_attempts([old, kept, gone_hour])
    doomed = DeliveryAttempt.objects.filter(pk__in=[old.pk, gone_hour.pk])

    assert recount.remove_attempts(doomed) == 2
    doomed.delete()

    row = AttemptRollup.objects.get()  # the emptied hour's row is gone
    assert (row.bucket, row.count, row.duration_sum, row.duration_max) == (T0, 1, 20, 20)
    assert row.last_attempt_at == kept.attempted_at
    assert (row.le_25, row.le_10000) == (1, 0)
    assert_days_add_up()


def test_removing_accepts_ids_instances_and_sliced_querysets(db):
    delivery = make_delivery(make_webhook())
    attempts = write_attempts([build_attempt(delivery, number=n) for n in range(1, 5)])
    assert recount.remove_attempts([attempts[0].pk]) == 1
    assert recount.remove_attempts([attempts[1]]) == 1
    assert recount.remove_attempts(DeliveryAttempt.objects.order_by("number")[:2]) == 1
    assert recount.remove_attempts([]) == 0
    # Nothing was deleted in between, so each recount excluded only its own rows.
    assert AttemptRollup.objects.get().count == 2


def test_a_purge_keeps_the_rollups_equal_to_a_rebuild(db):
    delivery = make_delivery(make_webhook())
    write_attempts(
        [build_attempt(delivery, at=T0 + timedelta(minutes=13 * n), duration=n) for n in range(30)]
    )
    cutoff = T0 + timedelta(minutes=200)
    doomed = DeliveryAttempt.objects.filter(attempted_at__lt=cutoff)
    recount.remove_attempts(doomed)
    doomed.delete()
    after_purge = rollup_rows(), rollup_rows(DailyAttemptRollup)
    recount.rebuild()
    assert (rollup_rows(), rollup_rows(DailyAttemptRollup)) == after_purge
    assert_days_add_up()


def test_status_counts_follow_every_change_of_a_delivery(db):
    webhook, other = make_webhook(), make_webhook()
    first = make_delivery(webhook, status=DeliveryStatus.PENDING, created_at=T0)
    second = make_delivery(webhook, status=DeliveryStatus.PENDING, created_at=T0)
    assert status_counts() == {"pending": 2}

    Delivery.objects.filter(pk__in=[first.pk, second.pk]).update(status="in_progress")
    assert status_counts() == {"in_progress": 2}

    Delivery.objects.filter(pk=first.pk).update(status="success")
    Delivery.objects.filter(pk=second.pk).update(status="failed", webhook=other)
    assert status_counts() == {"success": 1, "failed": 1}
    assert status_counts(webhook_id=other.pk) == {"failed": 1}

    Delivery.objects.filter(pk=first.pk).update(created_at=T0 + timedelta(hours=5))
    assert status_counts(bucket=T0 + timedelta(hours=5)) == {"success": 1}
    assert status_counts(bucket=T0) == {"failed": 1}

    Delivery.objects.filter(pk=second.pk).delete()
    assert status_counts() == {"success": 1}
    assert_status_days_add_up()


def test_daily_status_counts_follow_hours_across_days(db):
    webhook = make_webhook()
    campaign = make_campaign(webhook, name="Spring")
    late = make_delivery(webhook, status="pending", created_at=T0 + timedelta(hours=13, minutes=59))
    make_delivery(webhook, status="pending", created_at=T0 + timedelta(hours=14), campaign=campaign)
    Delivery.objects.filter(pk=late.pk).update(created_at=T0 - timedelta(days=2))
    Delivery.objects.update(status="success")
    assert_status_days_add_up()
    day = T0.replace(hour=0)
    assert status_count_sums(DailyDeliveryStatusCount) == {
        (day - timedelta(days=2), webhook.pk, None, "success"): 1,
        (day + timedelta(days=1), webhook.pk, campaign.pk, "success"): 1,
    }


def test_status_counts_survive_deleting_a_webhook_or_campaign(db):
    webhook, kept = make_webhook(), make_webhook()
    campaign = make_campaign(kept, name="Spring")
    make_delivery(webhook)
    from_campaign = make_delivery(kept, campaign=campaign)
    webhook.delete()
    assert status_counts() == {"success": 1}
    campaign.delete()
    from_campaign.refresh_from_db()
    assert from_campaign.campaign_id is None
    assert status_counts(campaign_id=None) == {"success": 1}


def test_compacting_merges_rows_without_changing_sums(db):
    webhook = make_webhook()
    deliveries = [make_delivery(webhook, status="pending") for _ in range(5)]
    for status in ["in_progress", "success"]:
        for delivery in deliveries:
            Delivery.objects.filter(pk=delivery.pk).update(status=status)
    Delivery.objects.filter(pk=deliveries[0].pk).delete()
    before = status_counts()
    assert DeliveryStatusCount.objects.count() > 2

    assert recount.compact() > 0

    assert status_counts() == before == {"success": 4}
    for model in (DeliveryStatusCount, DailyDeliveryStatusCount):
        assert list(model.objects.values_list("status", "count", "compacted")) == [
            ("success", 4, True)
        ]
    assert recount.compact() == 0
    # New deltas after a compaction reach the days again, and only once.
    Delivery.objects.filter(pk=deliveries[1].pk).update(status="failed")
    assert_status_days_add_up()


def test_rebuild_recounts_statuses(db):
    webhook = make_webhook()
    make_delivery(webhook, status="pending")
    make_delivery(webhook, status="failed")
    DeliveryStatusCount.objects.all().delete()
    DailyDeliveryStatusCount.objects.all().delete()
    recount.rebuild()
    assert status_counts() == {"pending": 1, "failed": 1}
    assert not DeliveryStatusCount.objects.filter(compacted=False).exists()
    assert_status_days_add_up()


def test_rebuild_since_recounts_the_days_of_status_counts(db):
    webhook = make_webhook()
    for hours in (1, 3, 26):
        make_delivery(webhook, status="pending", created_at=T0 + timedelta(hours=hours))
    before = status_count_sums(DailyDeliveryStatusCount)
    recount.rebuild(since=T0 + timedelta(hours=2))
    assert status_count_sums(DailyDeliveryStatusCount) == before
    assert_status_days_add_up()


@pytest.mark.parametrize(
    ("durations", "expected"),
    [
        ([], 0),
        ([3], 3),  # capped at the maximum
        ([3] * 95 + [700] * 5, 5),
        ([3] * 94 + [700] * 6, 700),  # (500, 1000] bucket, capped at the max 700
        ([3] * 94 + [700] * 5 + [900], 900),
        ([70000] * 20, 70000),  # the open-ended bucket answers the maximum
    ],
)
def test_p95_is_the_upper_edge_of_the_bucket_of_the_nearest_rank(durations, expected):
    histogram = [0] * len(HISTOGRAM_FIELDS)
    for duration in durations:
        histogram[rollups.histogram_index(duration)] += 1
    assert percentile(histogram, 0.95, max(durations, default=0)) == expected
