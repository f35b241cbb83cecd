"""The stages of ``bench_deliveries``, each timed on its own.

- ``ingest``: events in, from a few threads, with no worker running (events/s).
- ``wait_for_attempts``: until every delivery of the bench webhooks has an attempt (the
  sending and end-to-end stages end with it).
- ``bare_client``: the ceiling a sender is held to, one keep-alive ``requests.Session`` in
  one thread POSTing the same request again and again to the same receiver.
"""

import math
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import requests
from django.db import connections

from deliveries.engine import NewEvent, emit_many
from deliveries.engine.sender import OutgoingRequest
from deliveries.models import Delivery, DeliveryStatus

EVENT_TYPE = "bench.ping"


@dataclass
class Timed:
    """``count`` things done in ``seconds``, and how long each unit of work took (ms)."""

    count: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def line(self, name: str, unit: str) -> str:
        """``name: <unit>=n <unit>_per_s=r latency_ms p50=.. p95=..``"""
        p50, p95 = percentiles(self.latencies_ms)
        return (
            f"{name}: {unit}={self.count} {unit}_per_s={self.rate:.1f} "
            f"latency_ms p50={p50:.1f} p95={p95:.1f}"
        )


def percentiles(values: Sequence[float]) -> tuple[float, float]:
    """(p50, p95) of ``values`` (the median, and the nearest rank); zeros for none."""
    if not values:
        return 0.0, 0.0
    ordered = sorted(values)
    return statistics.median(ordered), ordered[math.ceil(len(ordered) * 0.95) - 1]


def bench_payload(n: int) -> dict:
    return {"n": n, "text": "benchmark payload " * 8}


def run_threads(targets: Sequence[Callable[[], None]]) -> float:
    """Run each of ``targets`` in a thread of its own, all at once; return the seconds
    from the first start to the last end."""
    threads = [threading.Thread(target=target) for target in targets]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def ingest_batch(payloads: list[dict]) -> None:
    """One ingest call's worth of events (``--ingest-batch`` of them): one ``emit_many``,
    as the batch events API makes it."""
    emit_many([NewEvent(EVENT_TYPE, payload) for payload in payloads])


def ingest(events: int, threads: int, batch: int = 1) -> Timed:
    """Emit ``events`` bench events from ``threads`` threads, ``batch`` per ingest call,
    like several API servers; each call's latency is one sample."""
    batches = [
        [bench_payload(n) for n in range(start, min(start + batch, events))]
        for start in range(0, events, batch)
    ]
    latencies: list[float] = []
    errors: list[BaseException] = []

    def run(mine: list[list[dict]]) -> None:
        try:
            for payloads in mine:
                started = time.perf_counter()
                ingest_batch(payloads)
                latencies.append((time.perf_counter() - started) * 1000)
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)
        finally:
            connections.close_all()  # this thread's own

    elapsed = run_threads([lambda i=i: run(batches[i::threads]) for i in range(threads)])
    if errors:
        raise errors[0]
    return Timed(events, elapsed, latencies)


def wait_for_attempts(webhook_ids: list[int], timeout: float) -> float:
    """Wait until every delivery to ``webhook_ids`` has its attempt recorded (none is
    pending or in progress); return the ``time.perf_counter()`` it was seen at. Raises
    ``TimeoutError``.

    It counts what is left through the partial index of due deliveries, which shrinks
    as the sender goes: counting the attempts would scan them all, many times a second,
    on the database the sender writes to.
    """
    waiting = Delivery.objects.filter(
        webhook_id__in=webhook_ids,
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.IN_PROGRESS],
    )
    deadline = time.perf_counter() + timeout
    left = None
    while time.perf_counter() < deadline:
        left = waiting.count()
        if not left:
            return time.perf_counter()
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"{left} deliveries had no attempt after {timeout} s")


# How often the stages look for finished work: a short fraction of a seconds-long stage.
POLL_SECONDS = 0.05


def bare_client(request: OutgoingRequest, count: int) -> Timed:
    """POST ``request`` ``count`` times in a row over one keep-alive session, in this
    thread: what one client with nothing else to do gets out of the receiver."""
    session = requests.Session()
    session.trust_env = False
    latencies = []
    try:
        session.post(request.url, data=request.body, headers=request.headers).close()  # connect
        started = time.perf_counter()
        for _ in range(count):
            sent = time.perf_counter()
            response = session.post(request.url, data=request.body, headers=request.headers)
            response.raise_for_status()
            latencies.append((time.perf_counter() - sent) * 1000)
        elapsed = time.perf_counter() - started
    finally:
        session.close()
    return Timed(count, elapsed, latencies)
