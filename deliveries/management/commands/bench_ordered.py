"""Ordered delivery benchmark: what sending in order per key costs against any order.

Each round runs, against the bench receiver with real Celery workers (as
``bench_deliveries`` does; the rounds alternate which run goes first):

1. ordered: ``--deliveries`` deliveries to one endpoint that sends in order per key, over
   ``--keys`` keys dealt round-robin (each key gets deliveries / keys of them);
2. unordered: the same events to an endpoint that sends in any order;
3. with ``--one-key``, ``--one-key-deliveries`` in order over a single key: one line, one
   delivery in flight at a time, bound by the receiver's round trip at best.

A run makes a fresh webhook, emits its events through ``emit_many`` (``--emit-batch`` a
call) in one transaction, wakes one drain per worker child, and times from the commit
until every delivery is settled; then it checks the attempts: per key, in emit order, each
delivery's first successful attempt must have started after those of the earlier ones
(``out_of_order``; in an ordered run each is a violation). ``line_gap_ms`` is the time
between a key's consecutive sends: in an ordered line, what one turn costs.

The receiver's round trip is the median of ``--rtt-requests`` sequential POSTs of one
delivery's request over one keep-alive connection (``throughput.bare_client``); one key
cannot go faster than ``one_key_bound`` = 1 / that round trip.

The last line is ``ordered_per_s=... unordered_per_s=... [one_key_per_s=...
one_key_bound=...] order_violations=<n> ratio=<ordered / unordered>`` (with several
rounds, each rate is the median of the rounds').

Needs PostgreSQL and Redis (DATABASE_URL, CELERY_BROKER_URL). Its webhooks are named
``bench-ordered-*`` and its event type ``bench.ordered``; each run's rows are deleted after
it. Use a scratch database: the workers send whatever else is due too.
"""

import statistics

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from deliveries.bench import ordered, processes
from deliveries.bench.throughput import Timed, bare_client
from deliveries.engine.sender import build_request
from deliveries.models import Delivery


class Command(BaseCommand):
    help = "Measure deliveries/s in order per key against any order, to one endpoint."

    def add_arguments(self, parser):
        parser.add_argument("--deliveries", type=int, default=10_000)
        parser.add_argument("--keys", type=int, default=100, help="ordering keys")
        parser.add_argument(
            "--one-key", action="store_true", help="also run in order over a single key"
        )
        parser.add_argument(
            "--one-key-deliveries",
            type=int,
            default=500,
            help="deliveries of the one-key run (one at a time: keep it small)",
        )
        parser.add_argument("--rounds", type=int, default=1, help="runs of each, alternated")
        parser.add_argument("--workers", type=int, default=1, help="worker processes")
        parser.add_argument("--concurrency", type=int, default=2, help="prefork children each")
        parser.add_argument("--emit-batch", type=int, default=100, help="events per emit_many")
        parser.add_argument(
            "--rtt-requests", type=int, default=300, help="POSTs timing the round trip"
        )
        parser.add_argument("--timeout", type=float, default=600, help="seconds per run")

    def handle(self, **options):
        from django.db import connection

        if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"):
            raise CommandError(
                "bench_ordered runs on PostgreSQL and Redis: set DATABASE_URL and "
                "CELERY_BROKER_URL (e.g. postgres://postgres@127.0.0.1/bench and "
                "redis://127.0.0.1:6379/14)."
            )
        for name in ("deliveries", "keys", "one_key_deliveries", "rounds", "emit_batch"):
            if options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1.")
        if options["deliveries"] % options["keys"]:
            raise CommandError("--deliveries must be a multiple of --keys (as many for each).")
        ordered.purge_broker()
        ordered.cleanup()
        log = self.stderr.write
        try:
            with processes.receiver(log) as port:
                ordered.setup()
                workers, concurrency = options["workers"], options["concurrency"]
                with processes.workers(workers, concurrency, log) as names:
                    processes.wait_ready(names, options["timeout"])
                    self._rounds(port, options)
        except TimeoutError as error:  # a run, or the workers' start, took too long
            raise CommandError(str(error)) from error
        finally:
            ordered.cleanup()

    def _plan(self, options) -> list[tuple[str, str, bool, int, int]]:
        """The runs of a round: (name, slug, in order, deliveries, keys)."""
        keys, count = options["keys"], options["deliveries"]
        plural = "key" if keys == 1 else "keys"
        plan = [
            (f"ordered ({keys} {plural})", "ordered", True, count, keys),
            ("unordered", "unordered", False, count, keys),
        ]
        if options["one_key"] and keys != 1:
            plan.append(("ordered (1 key)", "one-key", True, options["one_key_deliveries"], 1))
        return plan

    def _rounds(self, port: int, options) -> None:
        plan = self._plan(options)
        drains = options["workers"] * options["concurrency"]
        one_key = next((slug for _, slug, _, _, keys in plan if keys == 1), None)
        # The round trip is timed right after the one-key run (else the ordered one), with
        # the workers idle, on a request of that run.
        rtt_after = one_key or "ordered"
        self.stdout.write(
            f"{options['deliveries']} deliveries to one endpoint, ordered over "
            f"{options['keys']} key(s) vs unordered; {options['workers']} worker(s) x "
            f"{options['concurrency']} children, {options['rounds']} round(s)"
        )
        runs: dict[str, list[ordered.Run]] = {slug: [] for _, slug, *_ in plan}
        trips: list[Timed] = []
        for round_number in range(options["rounds"]):
            for name, slug, in_order, count, keys in plan if round_number % 2 == 0 else plan[::-1]:
                ordered.purge_broker()  # wake-ups left by the last run: each wakes its own
                hook = ordered.make_webhook(port, f"{slug}-{round_number}", in_order)
                try:
                    result = ordered.run(
                        hook,
                        name,
                        count,
                        keys,
                        batch=options["emit_batch"],
                        drains=drains,
                        timeout=options["timeout"],
                    )
                    note = "" if in_order else " (any order: not a violation)"
                    self.stdout.write(result.line() + note)
                    runs[slug].append(result)
                    if in_order and (result.out_of_order or result.unsent or result.failed):
                        self.stderr.write(
                            f"{name}: {result.out_of_order} out of order, {result.unsent} "
                            f"never sent successfully, {result.failed} failed"
                        )
                    if slug == rtt_after:
                        trips.append(self._round_trip(hook, options["rtt_requests"]))
                        self.stdout.write(trips[-1].line("receiver round trip", "requests"))
                finally:
                    ordered.delete_run(hook.pk)
        self.stdout.write(self._summary(runs, trips, one_key))

    def _round_trip(self, hook, requests: int) -> Timed:
        """Sequential POSTs of one of ``hook``'s deliveries over one keep-alive session."""
        sample = Delivery.objects.filter(webhook=hook).select_related(
            "webhook", "event", "event_type"
        )[0]
        return bare_client(build_request(sample), requests)

    def _summary(self, runs, trips: list[Timed], one_key: str | None) -> str:
        rate = {slug: statistics.median(run.rate for run in done) for slug, done in runs.items()}
        violations = sum(
            run.out_of_order for slug, done in runs.items() if slug != "unordered" for run in done
        )
        figures = f"ordered_per_s={rate['ordered']:.1f} unordered_per_s={rate['unordered']:.1f} "
        if one_key:
            rtt_ms = statistics.median(statistics.median(trip.latencies_ms) for trip in trips)
            bound = 1000 / rtt_ms if rtt_ms > 0 else 0.0
            figures += (
                f"one_key_per_s={rate[one_key]:.1f} rtt_ms={rtt_ms:.2f} "
                f"one_key_bound={bound:.1f} one_key_of_bound={rate[one_key] / bound:.3f} "
            )
        ratio = rate["ordered"] / rate["unordered"] if rate["unordered"] else 0.0
        return figures + f"order_violations={violations} ratio={ratio:.2f}"
