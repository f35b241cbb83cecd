"""bench_ordered runs its ordered and unordered runs end to end on tiny numbers, and its
order check counts what went out before an earlier delivery of its key (the figures are
for the notes, never asserted here)."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from deliveries.bench.ordered import EVENT_TYPE, PREFIX, check_order, payload
from deliveries.models import Delivery, DeliveryAttempt
from tests.factories import make_delivery, make_event_type, make_webhook
from webhooks.models import Event, EventType, Webhook

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="bench_ordered runs on PostgreSQL and Redis"
)


def test_the_order_check_counts_sends_before_an_earlier_one_of_their_key(db):
    kind = make_event_type()
    hook = make_webhook(event_types=[kind])
    start = timezone.now()

    def delivery(n: int, keys: int, *sent: tuple[float, bool]) -> None:
        """Event ``n`` (key ``n % keys``) and its attempts: (seconds after start, success)."""
        event = Event.objects.create(event_type=kind, payload=payload(n, keys))
        made = make_delivery(hook, event=event, event_type=kind)
        DeliveryAttempt.objects.bulk_create(
            DeliveryAttempt(
                delivery=made,
                webhook=hook,
                number=number,
                attempted_at=start + timedelta(seconds=at),
                request_url=hook.url,
                success=success,
            )
            for number, (at, success) in enumerate(sent, 1)
        )

    delivery(0, 2, (2, True))  # key-0
    delivery(1, 2)  # key-1: never sent
    delivery(2, 2, (1, True))  # key-0, out of order: sent before n=0
    delivery(4, 2, (0, False), (5, True))  # key-0: its first try failed, before all

    out_of_order, unsent, gaps = check_order(hook.pk)

    assert (out_of_order, unsent) == (1, 1)
    assert gaps == [4000.0]  # n=2 to n=4: the only gap where a key's sends went forward


def test_bench_ordered_prints_each_run_and_the_ratio_last(worker_env, monkeypatch):
    for name, value in worker_env.items():
        monkeypatch.setenv(name, value)  # the workers it starts use the test database
    out = StringIO()

    call_command(
        "bench_ordered",
        deliveries=200,
        keys=10,
        one_key=True,
        one_key_deliveries=10,
        rtt_requests=50,
        timeout=60,
        stdout=out,
    )

    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines[1:-1]] == [
        "ordered (10 keys)",
        "unordered",
        "ordered (1 key)",
        "receiver round trip",
    ]
    assert lines[1].startswith("ordered (10 keys): deliveries=200 ")
    assert " failed=0 out_of_order=0" in lines[1]
    assert lines[3].startswith("ordered (1 key): deliveries=10 ")
    figures = dict(re.findall(r"(\w+)=(\S+)", lines[-1]))
    assert figures["order_violations"] == "0"
    assert float(figures["one_key_bound"]) > float(figures["one_key_per_s"]) > 0
    assert re.search(r" ratio=\d+\.\d\d$", lines[-1])
    # It deletes what it wrote.
    assert not Delivery.objects.exists()
    assert not Webhook.objects.filter(name__startswith=PREFIX).exists()
    assert not EventType.objects.filter(name=EVENT_TYPE).exists()
