"""The attempts log's count: summed in the database, one row per part of the window,
equal to the attempts it counts."""

from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone

from deliveries.models import DeliveryAttempt
from deliveries.stats import queries, rollups
from deliveries.stats.windows import Window, hour_floor
from tests.factories import make_delivery, make_webhook


def test_a_window_counts_its_attempts_in_one_row_per_part(db):
    webhooks = [make_webhook() for _ in range(3)]
    start = hour_floor(timezone.now()) - timedelta(days=3, hours=5)
    for n in range(30):  # every 2 hours: partial days at both ends and whole days between
        make_delivery(
            webhooks[n % 3], attempts=1 + n % 2, created_at=start + timedelta(hours=2 * n)
        )
    rollups.add_attempts(DeliveryAttempt.objects.all())  # as the recorder does
    window = Window(start, hour_floor(timezone.now()) + timedelta(hours=1))
    parts = queries._parts(window, None, None)
    assert len(parts) == 3

    rows = queries._grouped(parts, (), total=Sum("count"))

    assert len(rows) == len(parts)  # not one per rollup row
    assert queries.attempt_count(window) == DeliveryAttempt.objects.count() == 45
    failed = DeliveryAttempt.objects.filter(success=False).count()
    assert queries.attempt_count(window, success=False) == failed
    assert queries.attempt_count(window, webhook_id=webhooks[0].pk) == (
        DeliveryAttempt.objects.filter(webhook=webhooks[0]).count()
    )
