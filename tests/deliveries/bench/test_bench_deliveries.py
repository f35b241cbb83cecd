"""bench_deliveries measures each stage on its own (its figures are for the README and
notes, never asserted here)."""

from io import StringIO

from django.core.management import call_command

from deliveries.bench.throughput import EVENT_TYPE, Timed, bare_client, ingest, percentiles
from deliveries.engine.sender import OutgoingRequest
from deliveries.models import Delivery
from tests.factories import make_event_type, make_webhook


def test_percentiles_are_the_median_and_the_95th():
    assert percentiles([]) == (0.0, 0.0)
    assert percentiles(range(1, 101)) == (50.5, 95)
    assert percentiles([7.0]) == (7.0, 7.0)


def test_a_stage_line_names_its_rate_and_latency():
    line = Timed(200, 0.5, [1.0, 2.0, 3.0]).line("sending", "deliveries")
    assert line == "sending: deliveries=200 deliveries_per_s=400.0 latency_ms p50=2.0 p95=3.0"


def test_the_bare_client_posts_the_same_request_in_a_row(receiver):
    request = OutgoingRequest(
        url=receiver.url + "/ok",
        body=b'{"n": 1}',
        headers={"X-A": "1"},
        recorded_headers={},
        timeout=5,
    )
    timed = bare_client(request, 20)
    assert timed.count == 20 and len(timed.latencies_ms) == 20 and timed.rate > 0
    received = receiver.received("/ok")
    assert len(received) == 21  # and one to connect before the clock starts
    assert {r.body for r in received} == {b'{"n": 1}'}


def test_ingest_emits_every_event_from_its_threads(transactional_db):
    kind = make_event_type(name=EVENT_TYPE)
    make_webhook(event_types=[kind])
    make_webhook(event_types=[kind])
    timed = ingest(30, threads=3, batch=4)
    assert timed.count == 30 and len(timed.latencies_ms) == 8  # 8 calls of up to 4 events
    assert Delivery.objects.count() == 60


def test_bench_deliveries_prints_every_stage_and_the_ratio_last(worker_env, monkeypatch):
    for name, value in worker_env.items():
        monkeypatch.setenv(name, value)  # the workers it starts use the test database
    out = StringIO()
    call_command(
        "bench_deliveries", events=30, webhooks=2, bare_requests=50, timeout=60, stdout=out
    )
    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines[1:-1]] == [
        "ingest",
        "bare client",
        "sending",
        "bare client",
        "end to end",
    ]
    assert "sending: deliveries=60 " in lines[3]
    assert lines[-1].startswith("deliveries_per_s=")
    assert " ratio_to_raw=" in lines[-1]
    assert not Delivery.objects.exists()  # it deletes its rows
