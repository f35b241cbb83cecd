import secrets

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from webhooks.demo import EVENT_TYPES, WEBHOOKS
from webhooks.management.commands.create_admin import ensure_admin
from webhooks.models import EventType, SystemSettings, Webhook


class Command(BaseCommand):
    help = "Load demo event types, webhooks pointing at the demo receiver, and an admin login."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    @transaction.atomic
    def handle(self, username, **options):
        receiver = f"http://127.0.0.1:{settings.WEBHOOKS_DEMO_RECEIVER_PORT}"
        types = {}
        for name, category, description in EVENT_TYPES:
            types[name], _ = EventType.objects.get_or_create(
                name=name, defaults={"category": category, "description": description}
            )
        for name, target, subscribed, extra in WEBHOOKS:
            url = target if target.startswith("http") else receiver + target
            webhook, created = Webhook.objects.get_or_create(
                name=name, defaults={"url": url, **extra}
            )
            if created:
                webhook.event_types.set([types[t] for t in subscribed])
        # Retries over 2 minutes instead of 30, so the demo shows them finishing.
        system = SystemSettings.load()
        if system.retry_window_seconds == 1800:
            system.retry_window_seconds = 120
            system.save(update_fields=["retry_window_seconds", "updated_at"])
        password = secrets.token_urlsafe(12)
        # With an address, the admin sees endpoint health emails (printed by the console
        # backend of `make run`).
        ensure_admin(username, password, email=f"{username}@example.com")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "  Webhook Portal demo is ready.",
                    f"  URL:      {settings.PORTAL_URL}/admin/",
                    f"  Username: {username}",
                    f"  Password: {password}",
                    "",
                ]
            )
        )
