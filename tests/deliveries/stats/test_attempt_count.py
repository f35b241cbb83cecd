"""The attempts log's count: summed in the database, one row for all the parts of the
window, equal to the attempts it counts."""

from datetime import timedelta

from django.utils import timezone

from deliveries.models import DeliveryAttempt
from deliveries.stats import parts, queries, rollups
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
    found = parts.parts(window)
    assert len(found) == 3

    rows = parts.grouped(found, (), (parts.total("total"),))

    # Not one per rollup row, nor one per part: the parts merge in the query.
    assert rows == [{"total": 45}]
    assert queries.attempt_count(window) == DeliveryAttempt.objects.count() == 45
    failed = DeliveryAttempt.objects.filter(success=False).count()
    assert queries.attempt_count(window, success=False) == failed
    assert queries.attempt_count(window, webhook_id=webhooks[0].pk) == (
        DeliveryAttempt.objects.filter(webhook=webhooks[0]).count()
    )


def test_groups_of_several_parts_merge_into_the_raw_figures(db):
    """The breakdown over partial days and whole days: each webhook's figures equal its
    attempts, counts are ints and the latest attempt is the latest of every part."""
    webhooks = [make_webhook() for _ in range(2)]
    start = hour_floor(timezone.now()) - timedelta(days=3, hours=5)
    for n in range(24):
        make_delivery(
            webhooks[n % 2], attempts=1 + n % 3, created_at=start + timedelta(hours=3 * n)
        )
    rollups.add_attempts(DeliveryAttempt.objects.all())
    window = Window(start, hour_floor(timezone.now()) + timedelta(hours=1))

    result = queries.breakdown(window)

    for hook in webhooks:
        attempts = DeliveryAttempt.objects.filter(webhook=hook)
        figures = result.by_webhook[hook.pk]
        assert figures.total == attempts.count()
        assert type(figures.total) is int
        assert figures.success_count == attempts.filter(success=True).count()
        assert figures.last_delivery_at == max(a.attempted_at for a in attempts)
    assert result.figures.total == DeliveryAttempt.objects.count()
