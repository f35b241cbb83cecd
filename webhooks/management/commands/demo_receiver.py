import contextlib

from django.conf import settings
from django.core.management.base import BaseCommand

from webhooks.demo_receiver import serve


class Command(BaseCommand):
    help = "Run the demo webhook receiver on 127.0.0.1 (started by `make run`)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.WEBHOOKS_DEMO_RECEIVER_PORT)

    def handle(self, port, **options):
        self.stdout.write(f"Demo receiver listening on http://127.0.0.1:{port}/", ending="\n")
        self.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            serve(port)
