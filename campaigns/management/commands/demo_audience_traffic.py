import random
import signal
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from campaigns import demo


class Command(BaseCommand):
    help = (
        "Keep the demo audience active (started by `make run`): every few seconds a few "
        "profiles use the app, and now and then someone new signs up. Stops on SIGTERM."
    )

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=2.0, help="seconds between visits")
        parser.add_argument("--ticks", type=int, default=0, help="stop after this many (0: never)")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, interval, ticks, seed, **options):
        stop = threading.Event()
        previous = {
            sig: signal.signal(sig, lambda *_: stop.set())
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        rng = random.Random(seed)
        done = events = joined = 0
        self.stdout.write("Demo audience traffic: a few user events every few seconds")
        self.stdout.flush()
        try:
            while not stop.is_set():
                close_old_connections()
                result = demo.tick(rng)
                done += 1
                events += result.events
                if result.new_profile:
                    joined += 1
                    self.stdout.write(f"new profile {result.new_profile}")
                    self.stdout.flush()
                if ticks and done >= ticks:
                    break
                stop.wait(rng.uniform(0.5, 1.5) * interval)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stdout.write(
                f"Demo audience traffic stopped: {events:,} events, {joined} new profiles."
            )
