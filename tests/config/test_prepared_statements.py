"""The statements of every API request (the API key, the emit) are prepared once per
connection on PostgreSQL: parsing and planning them again was half the database's time an
event. Django's own queries stay unprepared (client-side binding)."""

import pytest
from django.db import connection

from deliveries.engine import NewEvent, emit_many
from tests.factories import make_event_type, make_webhook
from webhooks.models import ApiKey

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements: PostgreSQL only"
)


def prepared() -> list[tuple[str, int]]:
    """This connection's prepared statements: (start of the text, times run from a plan)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT regexp_replace(statement, '\\s+', ' ', 'g'), generic_plans + custom_plans "
            "FROM pg_prepared_statements"
        )
        return cursor.fetchall()


def runs_of(fragment: str) -> int:
    return sum(runs for text, runs in prepared() if fragment in text)


def test_the_emit_and_the_api_key_lookup_run_from_prepared_statements(db):
    kind = make_event_type(name="license.assigned")
    make_webhook(event_types=[kind])
    _, raw = ApiKey.issue("ci")

    emits, lookups = "INSERT INTO webhooks_event", "FROM webhooks_apikey WHERE key_hash"
    # The subscriptions read once (an emit with an outdated cache runs again), and what
    # the connection ran before, maybe in an earlier test.
    emit_many([NewEvent("license.assigned", {})])
    before = runs_of(emits), runs_of(lookups)

    for n in range(3):
        assert ApiKey.authenticate(raw) is not None
        [emitted] = emit_many([NewEvent("license.assigned", {"n": n})])
        assert emitted.created and emitted.deliveries == 1

    assert (runs_of(emits), runs_of(lookups)) == (before[0] + 3, before[1] + 3)


def test_other_queries_are_not_prepared(db):
    make_event_type(name="license.assigned")
    for _ in range(10):
        list(ApiKey.objects.filter(name="nobody"))
    assert not any("nobody" in text or "webhooks_apikey" in text for text, _ in prepared())
