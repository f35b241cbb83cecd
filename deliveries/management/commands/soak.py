import sys

from django.core.management.base import BaseCommand

from deliveries.bench.soak import soak


class Command(BaseCommand):
    help = (
        "Run `make run` with its demo traffic for --minutes, print what flowed every few "
        "minutes, and say whether it held (worker alive, sends flowing, no broken message)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=float, default=120.0)
        parser.add_argument("--every", type=float, default=300.0, help="seconds between lines")

    def handle(self, minutes, every, **options):
        def out(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        if not soak(minutes, every, out):
            sys.exit(1)
