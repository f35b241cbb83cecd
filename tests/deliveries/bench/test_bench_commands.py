"""The log and stats benchmarks run end to end on a small seeded history (their figures
are for the README and notes, never asserted here)."""

from io import StringIO

import pytest
from django.core.management import call_command

# Transactional: the seeder COPYs on a second connection.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seeded():
    call_command("seed_deliveries", attempts=2000, webhooks=5, days=3, seed=1, stdout=StringIO())


def run(command, **options) -> list[str]:
    out = StringIO()
    call_command(command, stdout=out, **options)
    return out.getvalue().splitlines()


def test_bench_log_times_every_view_of_the_log(seeded):
    lines = run("bench_log", repeat=1, page=3)

    assert [line.split(":")[0] for line in lines[:-1]] == [
        "first_page",
        "status_failed",
        "search_webhook_name",
        "event_type_status_sort_code",
        "page_3_by_keyset",
        "attempts_log",
        "detail_view",
    ]
    assert lines[-1].startswith("max_median_ms=")


def test_bench_stats_times_the_api_and_the_pages(seeded):
    lines = run("bench_stats", repeat=1)

    assert lines[-1].startswith("api_median_ms=")
    assert " dashboard_median_ms=" in lines[-1]


def test_demo_traffic_emits_only_the_demos_own_event_types(db):
    from deliveries.management.commands.demo_traffic import demo_event_type
    from webhooks.models import EventType

    EventType.objects.create(name="invoice.paid", category="Billing")
    assert demo_event_type() is None  # none of the demo's types is loaded
    EventType.objects.create(name="license.assigned", category="License")
    assert {demo_event_type() for _ in range(20)} == {"license.assigned"}
