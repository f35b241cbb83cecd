"""Several hosts, proven: the portal's parts as separate hosts in Linux network
namespaces on this machine, 20,000 events through two web servers, one worker host killed
and another's link cut mid-send, and two beats (``deliveries.bench.hosts`` says how).

Needs root, iproute2 (``ip netns``), and PostgreSQL and Redis in this process's settings:
a scratch database (created and migrated if missing) and a Redis database of its own,
e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/wp_hosts and
CELERY_BROKER_URL=redis://127.0.0.1:6379/11. It prints what happened and last
``deliveries_per_s=<n> lost=<n> duplicated=<n> overlapping=<n> settled=<n>/<n>``, and
fails when a delivery was lost, sent by two hosts at once, or left unsettled.
"""

import os
import shutil

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from deliveries.bench.hosts.run import Options, RunTimeout, run

# Flag, type and meaning of each option (its default is ``Options``').
ARGUMENTS = [
    ("--events", int, "events posted"),
    ("--webhooks", int, "webhooks (receivers) subscribed to each event"),
    ("--clients", int, "threads posting events, half to each web server"),
    ("--web-workers", int, "gunicorn workers per web host"),
    ("--web-threads", int, "threads per gunicorn worker"),
    ("--concurrency", int, "prefork children per worker host"),
    ("--kill-at", float, "share of the events accepted when the first worker host is killed"),
    ("--cut-at", float, "share accepted when the second worker host's link is cut"),
    ("--cut-seconds", float, "how long the link stays cut"),
    ("--restart-after", float, "seconds until the killed host starts again (default: never)"),
    ("--retry-every", int, "seconds between a webhook's retries (a fixed interval)"),
    ("--max-retries", int, "a webhook's retries"),
    ("--receiver-delay", float, "seconds a receiver takes to answer"),
    ("--subnet", str, "the hosts' /24, as its first three octets"),
    ("--time-limit", float, "seconds before the run fails"),
]  # fmt: skip


class Command(BaseCommand):
    help = "Run the portal as several hosts in network namespaces, with faults; judge it."

    def add_arguments(self, parser):
        defaults = Options()
        for flag, kind, what in ARGUMENTS:
            name = flag[2:].replace("-", "_")
            parser.add_argument(flag, type=kind, default=getattr(defaults, name), help=what)
        parser.add_argument(
            "--keep", action="store_true", help="keep the run's rows even if it passed"
        )

    def handle(self, **options):
        self._check_machine()
        chosen = Options(**{name: options[name] for name in Options.__dataclass_fields__})
        try:
            outcome = run(chosen, self.stdout.write)
        except (RunTimeout, RuntimeError, TimeoutError) as error:
            raise CommandError(f"{type(error).__name__}: {error}") from error
        except KeyboardInterrupt:
            raise CommandError("stopped; every host, link and process was removed") from None
        for line in outcome.lines:
            self.stdout.write(line)
        self.stdout.write(outcome.last_line())
        if not outcome.verdict.passed:
            raise CommandError(
                "the run failed: a delivery was lost, sent by two hosts at once, left "
                "unsettled, or an event was refused (see above; logs in var/hosts/)"
            )

    def _check_machine(self) -> None:
        from django.db import connection

        if os.geteuid() != 0 or not shutil.which("ip"):
            raise CommandError(
                "bench_hosts makes network namespaces: run it as root, with iproute2"
            )
        if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"):
            raise CommandError(
                "bench_hosts runs on PostgreSQL and Redis: set DATABASE_URL and "
                "CELERY_BROKER_URL to a scratch database and a Redis database of its own "
                "(e.g. postgres://postgres@127.0.0.1:5432/wp_hosts and redis://127.0.0.1:6379/11)."
            )
