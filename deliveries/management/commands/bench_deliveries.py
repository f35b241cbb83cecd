"""Throughput benchmark: ingest, sending and end to end, each measured on its own, beside
a bare keep-alive client against the same receiver.

1. ingest: emit every event (``--emitters`` threads) with no worker running;
2. bare client: one ``requests.Session``, one thread, the same request POSTed in a row
   (a delivery's, same size and headers), run before and again after 3.;
3. sending: start the workers, wait until they answer, wake them and time until every
   delivery queued in 1. has an attempt;
4. end to end: with the workers running, emit the events again and time from the first
   emit until every delivery has an attempt.

The last line is ``deliveries_per_s=<sending> ... ratio_to_raw=<sending / bare client>``
(the bare client's rate is the mean of its two runs).

Needs PostgreSQL and Redis (DATABASE_URL, CELERY_BROKER_URL). It creates its own event
type and webhooks (named ``bench-*``) pointing at a fast local receiver, and deletes its
rows afterwards. Use a scratch database: the workers send whatever else is due too.
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from deliveries.bench import processes
from deliveries.bench.throughput import (
    EVENT_TYPE,
    Timed,
    bare_client,
    ingest,
    wait_for_attempts,
)
from deliveries.engine import wakeups
from deliveries.engine.sender import build_request
from deliveries.models import Delivery, DeliveryAttempt
from webhooks.models import Event, EventType, Webhook


class Command(BaseCommand):
    help = "Measure ingest, sending and end-to-end throughput against a bare HTTP client."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=2000)
        parser.add_argument("--webhooks", type=int, default=5, help="subscribers per event")
        parser.add_argument("--workers", type=int, default=1, help="worker processes")
        parser.add_argument("--concurrency", type=int, default=2, help="prefork children each")
        parser.add_argument(
            "--emitters", type=int, default=4, help="threads emitting, like API servers"
        )
        parser.add_argument(
            "--ingest-batch", type=int, default=100, help="events per ingest call (latency unit)"
        )
        parser.add_argument(
            "--bare-requests", type=int, default=5000, help="requests of each bare client run"
        )
        parser.add_argument("--timeout", type=float, default=600, help="seconds per stage")

    def handle(self, **options):
        from django.db import connection

        if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"):
            raise CommandError(
                "bench_deliveries runs on PostgreSQL and Redis: set DATABASE_URL and "
                "CELERY_BROKER_URL (e.g. postgres://postgres@127.0.0.1/bench and "
                "redis://127.0.0.1:6379/14)."
            )
        self._purge_broker()
        self._cleanup()
        log = self.stderr.write
        try:
            with processes.receiver(log) as port:
                hooks = self._setup(port, options["webhooks"])
                self._stages(hooks, options, log)
        except TimeoutError as error:  # a stage, or the workers' start, took too long
            raise CommandError(str(error)) from error
        finally:
            self._cleanup()

    def _stages(self, hooks: list[int], options, log) -> None:
        events, timeout = options["events"], options["timeout"]
        expected = events * len(hooks)
        self.stdout.write(
            f"{events} events to {len(hooks)} webhooks ({expected} deliveries); "
            f"{options['workers']} worker(s) x {options['concurrency']} children"
        )
        ingested = ingest(events, options["emitters"], options["ingest_batch"])
        self.stdout.write(ingested.line("ingest", "events") + " (no worker running)")
        self._purge_broker()  # the wake-ups of the emits: the sending stage wakes its own

        sample = Delivery.objects.filter(webhook_id__in=hooks).select_related(
            "webhook", "event", "event_type"
        )[0]
        request = build_request(sample)
        # Just before and just after the sending stage: on a shared machine the load of
        # other processes changes within a minute; the two runs frame the sending.
        bare = [bare_client(request, options["bare_requests"])]
        self.stdout.write(bare[0].line("bare client", "requests") + " (before sending)")

        with processes.workers(options["workers"], options["concurrency"], log) as names:
            processes.wait_ready(names, timeout)
            sending = self._sending(hooks, expected, options, timeout)
            self.stdout.write(sending.line("sending", "deliveries") + " (everything queued)")
            bare.append(bare_client(request, options["bare_requests"]))
            self.stdout.write(bare[1].line("bare client", "requests") + " (after sending)")
            self._delete_deliveries()
            e2e = self._end_to_end(hooks, expected, options, timeout)
            self.stdout.write(e2e.line("end to end", "deliveries") + " (emit to first attempt)")
        bare_rate = sum(run.rate for run in bare) / len(bare)
        self.stdout.write(
            f"deliveries_per_s={sending.rate:.1f} e2e_deliveries_per_s={e2e.rate:.1f} "
            f"ingest_events_per_s={ingested.rate:.1f} bare_requests_per_s={bare_rate:.1f} "
            f"ratio_to_raw={sending.rate / bare_rate:.2f}"
        )

    def _sending(self, hooks, expected, options, timeout) -> Timed:
        """Wake one drain per worker child and time until every delivery has an attempt;
        the latency is each send's own duration."""
        from deliveries.engine.tasks import drain_due

        started = time.perf_counter()
        for _ in range(options["workers"] * options["concurrency"]):
            drain_due.delay()
        finished = wait_for_attempts(hooks, timeout)
        durations = list(
            DeliveryAttempt.objects.filter(webhook_id__in=hooks).values_list(
                "duration_ms", flat=True
            )
        )
        if len(durations) != expected:
            self.stderr.write(f"sending: {len(durations)} attempts for {expected} deliveries")
        return Timed(expected, finished - started, [float(d or 0) for d in durations])

    def _end_to_end(self, hooks, expected, options, timeout) -> Timed:
        """Emit with the workers running; time from the first emit until every delivery
        has an attempt; the latency is from a delivery's creation to its first attempt."""
        started = time.perf_counter()
        ingest(options["events"], options["emitters"], options["ingest_batch"])
        finished = wait_for_attempts(hooks, timeout)
        latencies = [
            (attempted - created).total_seconds() * 1000
            for attempted, created in DeliveryAttempt.objects.filter(
                webhook_id__in=hooks, number=1
            ).values_list("attempted_at", "delivery__created_at")
        ]
        return Timed(expected, finished - started, latencies)

    def _setup(self, port: int, count: int) -> list[int]:
        kind = EventType.objects.create(name=EVENT_TYPE, category="Benchmark")
        hooks = []
        for n in range(count):
            hook = Webhook.objects.create(
                name=f"bench-{n}", url=f"http://127.0.0.1:{port}/hook/{n}"
            )
            hook.event_types.set([kind])
            hooks.append(hook.pk)
        return hooks

    def _purge_broker(self) -> None:
        from config.celery import app

        app.control.purge()
        wakeups.clear()

    def _delete_deliveries(self) -> None:
        Delivery.objects.filter(webhook__name__startswith="bench-").delete()
        Event.objects.filter(event_type__name=EVENT_TYPE).delete()

    def _cleanup(self) -> None:
        self._delete_deliveries()
        Webhook.objects.filter(name__startswith="bench-").delete()
        EventType.objects.filter(name=EVENT_TYPE).delete()
