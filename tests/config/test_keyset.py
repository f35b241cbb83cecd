"""The keyset paginator of every list page: exact pages, whatever the timestamps."""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from config.keyset import InvalidCursor, decode, encode, paginate
from deliveries.models import Delivery
from tests.factories import make_webhook


def walk(rows) -> tuple[list[int], list[int]]:
    """Every page forward, then back from the last one: the ids each way saw."""
    seen, cursor = [], None
    for _ in range(rows.count()):  # a paginator that repeats itself stops here
        page = paginate(rows, after=cursor, per_page=50)
        seen += [d.pk for d in page.rows]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    back, cursor = [], page.previous_cursor
    while cursor and len(back) < len(seen):
        page = paginate(rows, before=cursor, per_page=50)
        back = [d.pk for d in page.rows] + back
        cursor = page.previous_cursor
    return seen, back


def shared_timestamp_deliveries(count: int, moment: datetime) -> None:
    webhook = make_webhook()
    Delivery.objects.bulk_create(Delivery(webhook=webhook, created_at=moment) for _ in range(count))


@pytest.mark.parametrize("microsecond", [0, 123456])
def test_pages_are_exact_when_rows_share_a_timestamp(db, microsecond):
    shared_timestamp_deliveries(120, timezone.now().replace(microsecond=microsecond))
    seen, back = walk(Delivery.objects.all())

    newest_first = list(
        Delivery.objects.order_by("-created_at", "-id").values_list("id", flat=True)
    )
    assert seen == newest_first
    assert back == newest_first[:-20]  # every page before the last one, in order


def test_pages_are_exact_on_sqlite_when_rows_share_a_timestamp(tmp_path):
    # SQLite keeps datetimes as text: a cursor's time must be compared as stored.
    env = {**os.environ, "DEBUG": "true", "VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL")
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, timeout=120)
    script = """
from django.utils import timezone
from deliveries.models import Delivery
from tests.config.test_keyset import shared_timestamp_deliveries, walk
shared_timestamp_deliveries(120, timezone.now().replace(microsecond=0))
seen, back = walk(Delivery.objects.all())
ids = list(Delivery.objects.order_by("-created_at", "-id").values_list("id", flat=True))
print(seen == ids, back == ids[:-20])
"""
    result = subprocess.run(
        [*manage, "shell", "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.splitlines()[-1:] == ["True True"], result.stderr


def test_a_cursor_round_trips_with_a_sort_key():
    moment = datetime(2026, 3, 1, 12, 0, 0, 654321, tzinfo=UTC)
    assert decode(encode(["failed", moment, 7]), with_key=True) == ["failed", moment, 7]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        encode([datetime(2026, 3, 1, tzinfo=UTC), 1]) + "x",
        encode(["2026-03-01T00:00:00", 1]),  # no time zone
        encode([datetime(2026, 3, 1, tzinfo=UTC), True]),
        encode([datetime(2026, 3, 1, tzinfo=UTC), 2**63]),
        encode(["failed", datetime(2026, 3, 1, tzinfo=UTC), 1]),  # a key the sort has not
    ],
)
def test_a_cursor_that_is_not_ours_is_refused(cursor):
    with pytest.raises(InvalidCursor):
        decode(cursor)
