"""Ingest benchmark: how many events a second go in, with no worker sending them.

1. ``emit_many``: ``--events`` events in batches of ``--batch``, in this process;
2. ``POST /api/v1/events``: ``--posts`` events, one a request, from ``--clients``
   threads with keep-alive connections, to gunicorn (``--web-workers`` processes) on
   127.0.0.1;
3. ``POST /api/v1/events/batch``: ``--batch-posts`` batches of ``--batch`` events from
   the same threads.

Each stage prints its events/s, the p50/p95 latency of one call (a batch, or a
request) and the CPU time an event cost in each process (Linux ``/proc``): the web
server's workers, the database's backends serving this database, and this process
(the client threads, or ``emit_many`` itself). The clients speak HTTP with the standard
library's ``http.client`` on kept-alive connections: they share the machine with the
server, and ``requests`` cost a millisecond of CPU a call. On a shared machine the rate says how
busy the machine was; the CPU times say what the work costs. The last line is
``emit_many_per_s=... post_per_s=... batch_per_s=...``.

It creates its own event type, ``--webhooks`` webhooks subscribed to it (named
``bench-ingest-*``, to an address nothing listens on) and an API key; every event gets
a delivery per webhook, left pending (no worker runs), and all of it is deleted
afterwards, with the wake-ups left in the broker. Runs on PostgreSQL (DATABASE_URL);
use a scratch database and broker.
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from config.celery import app
from deliveries.bench.processes import free_port
from deliveries.bench.throughput import run_threads
from deliveries.engine import NewEvent, emit_many, wakeups
from webhooks.models import ApiKey, EventType, Webhook

EVENT_TYPE = "bench_ingest.happened"
PREFIX = "bench-ingest-"
PAYLOAD = {"account": 1842, "user": "ada@example.com", "plan": "pro", "seats": 12}


class Command(BaseCommand):
    help = "Measure events in per second: emit_many, POST /api/v1/events and its batch."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=20_000, help="for emit_many")
        parser.add_argument("--batch", type=int, default=1000, help="events per batch")
        parser.add_argument("--webhooks", type=int, default=5, help="subscribers per event")
        parser.add_argument("--posts", type=int, default=4000, help="single POSTs")
        parser.add_argument("--batch-posts", type=int, default=20, help="batch POSTs")
        parser.add_argument("--clients", type=int, default=4, help="client threads")
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers")
        parser.add_argument("--web-threads", type=int, default=4, help="threads per worker")
        parser.add_argument(
            "--worker-class", default="gthread", help="gunicorn's (sync: one request at a time)"
        )

    def handle(self, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_ingest runs on PostgreSQL: set DATABASE_URL.")
        self._cleanup()
        try:
            raw_key = self._setup(options["webhooks"])
            emitted = self._emit_many(options["events"], options["batch"])
            self.web = _Gunicorn(
                options["web_workers"], options["web_threads"], options["worker_class"]
            )
            with self.web as base:
                posted = self._post_single(base, raw_key, options)
                batched = self._post_batches(base, raw_key, options)
        finally:
            self._cleanup()
        self.stdout.write(
            f"emit_many_per_s={emitted:.0f} post_per_s={posted:.0f} batch_per_s={batched:.0f}"
        )

    def _setup(self, webhooks: int) -> str:
        kind = EventType.objects.create(name=EVENT_TYPE, category="Bench")
        for n in range(1, webhooks + 1):
            hook = Webhook.objects.create(name=f"{PREFIX}{n}", url=f"http://127.0.0.1:9/{n}")
            hook.event_types.add(kind)
        _, raw_key = ApiKey.issue(f"{PREFIX}key")
        return raw_key

    def _emit_many(self, events: int, batch: int) -> float:
        emit_many([NewEvent(EVENT_TYPE, PAYLOAD)])  # the cache and the connection warm
        latencies = []
        self.cpu = _Cpu(web=None)
        started = time.perf_counter()
        for first in range(0, events, batch):
            items = [
                NewEvent(EVENT_TYPE, {**PAYLOAD, "n": n})
                for n in range(first, min(first + batch, events))
            ]
            began = time.perf_counter()
            emit_many(items)
            latencies.append(time.perf_counter() - began)
        return self._report("emit_many", events, time.perf_counter() - started, latencies)

    def _post_single(self, base: str, raw_key: str, options) -> float:
        posts, clients = options["posts"], options["clients"]

        def work(post: Post, n: int) -> None:
            body = {"event_type": EVENT_TYPE, "payload": {**PAYLOAD, "n": n}}
            status, answer = post("/api/v1/events", body)
            if status != 202:
                raise CommandError(f"POST /api/v1/events: {status} {answer}")

        self.cpu = _Cpu(web=self.web)
        elapsed, latencies = _run(base, clients, posts, raw_key, work)
        return self._report(f"POST /api/v1/events ({clients} clients)", posts, elapsed, latencies)

    def _post_batches(self, base: str, raw_key: str, options) -> float:
        batches, batch, clients = options["batch_posts"], options["batch"], options["clients"]

        def work(post: Post, n: int) -> None:
            body = {
                "events": [
                    {"event_type": EVENT_TYPE, "payload": {**PAYLOAD, "n": i}} for i in range(batch)
                ]
            }
            status, answer = post("/api/v1/events/batch", body)
            if status != 202 or json.loads(answer)["created"] != batch:
                raise CommandError(f"POST /api/v1/events/batch: {status}")

        self.cpu = _Cpu(web=self.web)
        elapsed, latencies = _run(base, clients, batches, raw_key, work)
        label = f"POST /api/v1/events/batch ({batch} each, {clients} clients)"
        return self._report(label, batches * batch, elapsed, latencies)

    def _report(self, stage: str, events: int, elapsed: float, latencies: list[float]) -> float:
        rate = events / elapsed
        ordered = sorted(latencies)
        p50 = statistics.median(ordered) * 1000
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000
        cpu = ", ".join(
            f"{name} {seconds / events * 1e6:,.0f} us" for name, seconds in self.cpu.spent()
        )
        self.stdout.write(
            f"{stage}: {events} events in {elapsed:.2f} s = {rate:,.0f} events/s; "
            f"per call p50 {p50:.1f} ms, p95 {p95:.1f} ms; CPU per event: {cpu}"
        )
        return rate

    def _cleanup(self) -> None:
        """Delete what a run (this one or one that was interrupted) left: raw DELETEs,
        since a run's deliveries have no attempts and can be many."""
        hooks = list(Webhook.objects.filter(name__startswith=PREFIX).values_list("id", flat=True))
        kinds = list(EventType.objects.filter(name=EVENT_TYPE).values_list("id", flat=True))
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM deliveries_delivery WHERE webhook_id = ANY(%s)", [hooks])
            cursor.execute("DELETE FROM webhooks_event WHERE event_type_id = ANY(%s)", [kinds])
        Webhook.objects.filter(pk__in=hooks).delete()
        EventType.objects.filter(pk__in=kinds).delete()
        ApiKey.objects.filter(name=f"{PREFIX}key").delete()
        # The emits' wake-ups, which no worker took: a worker started later finds none.
        app.control.purge()
        wakeups.clear()


# POST a JSON body to a path of the server; (status, response body).
Post = Callable[[str, dict], tuple[int, bytes]]


def _run(
    base: str, clients: int, calls: int, raw_key: str, work: Callable[[Post, int], None]
) -> tuple[float, list[float]]:
    """Make ``calls`` calls of ``work`` from ``clients`` threads, each with its own
    kept-alive connection to ``base``; return the time they took and each call's latency."""
    latencies: list[float] = []
    failures: list[BaseException] = []
    counter = iter(range(calls))
    lock = threading.Lock()

    host, port = base.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"}

    def client() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=120)

        def post(path: str, body: dict) -> tuple[int, bytes]:
            connection.request("POST", path, json.dumps(body).encode(), headers)
            response = connection.getresponse()
            return response.status, response.read()

        try:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None or failures:
                    return
                began = time.perf_counter()
                try:
                    work(post, n)
                except Exception as error:  # noqa: BLE001 - reported after the threads stop
                    failures.append(error)
                    return
                latencies.append(time.perf_counter() - began)
        finally:
            connection.close()

    elapsed = run_threads([client] * clients)
    if failures:
        raise CommandError(str(failures[0]))
    return elapsed, latencies


class _Cpu:
    """CPU seconds spent since it was made, by process group: this process, the web
    server's workers, and the database backends connected to this database."""

    def __init__(self, web: "_Gunicorn | None"):
        self.web = web
        self.start = self._now()

    def spent(self) -> list[tuple[str, float]]:
        now = self._now()
        return [(name, now[name] - self.start.get(name, 0.0)) for name in now]

    def _now(self) -> dict[str, float]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            backends = [pid for (pid,) in cursor.fetchall()]
        times = {"database": sum(_cpu_seconds(pid) for pid in backends)}
        if self.web is not None:
            times["web"] = sum(_cpu_seconds(pid) for pid in self.web.workers_pids())
        times["this process"] = time.process_time()
        return times


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Gunicorn:
    """gunicorn serving this project on 127.0.0.1 (DEBUG off), as production runs it."""

    def __init__(self, workers: int, threads: int, worker_class: str):
        self.workers, self.threads, self.worker_class = workers, threads, worker_class

    def __enter__(self) -> str:
        port = free_port()
        # The web server's settings: this process's environment (the database), with
        # DEBUG off and plain HTTP on 127.0.0.1.
        env = {
            **os.environ,
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "SECRET_KEY": settings.SECRET_KEY,
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                f"--bind=127.0.0.1:{port}",
                f"--workers={self.workers}",
                f"--worker-class={self.worker_class}",
                f"--threads={self.threads}",
                "--timeout=120",
                "--keep-alive=30",
                "--log-level=warning",
            ],  # fmt: skip
            cwd=settings.BASE_DIR,
            env=env,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CommandError("gunicorn exited at start")
            try:
                requests.get(f"{base}/healthz", timeout=5)
                return base
            except requests.ConnectionError:
                time.sleep(0.2)
        self.__exit__()
        raise CommandError("gunicorn did not answer within 60 s")

    def workers_pids(self) -> list[int]:
        """The worker processes: the master's children."""
        with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as children:
            return [int(pid) for pid in children.read().split()]

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
