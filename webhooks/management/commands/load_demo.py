import secrets

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from webhooks.management.commands.create_admin import ensure_admin
from webhooks.models import EventType, SystemSettings, Webhook

EVENT_TYPES = [
    ("license.assigned", "License", "A license was assigned to a user."),
    ("license.revoked", "License", "A license was taken back from a user."),
    ("license.expired", "License", "A license reached its end date."),
    ("activation.created", "Activation", "A device was activated."),
    ("activation.deleted", "Activation", "A device activation was removed."),
    ("product.created", "Product", "A product was added to the catalog."),
    ("product.updated", "Product", "A product's details changed."),
    ("user.created", "User", "A user signed up."),
]

# name, path on the demo receiver (or a full URL), subscribed event types, extra fields
WEBHOOKS = [
    ("Order Sync", "/orders", ["license.assigned", "product.created", "product.updated"], {}),
    ("CRM Contacts", "/crm", ["user.created", "activation.created"], {}),
    ("Billing Service", "/billing", ["license.assigned", "license.revoked", "license.expired"], {}),
    ("Legacy Integration", "/legacy", ["product.updated"], {}),
    (
        "Analytics Pipeline",
        "/analytics",
        [name for name, _, _ in EVENT_TYPES],
        {"timeout_seconds": 3},
    ),
    # Nothing listens on port 9 (discard): every try is refused.
    ("Warehouse (offline)", "http://127.0.0.1:9/hooks", ["license.assigned"], {}),
    ("Partner Portal (paused)", "/crm", ["activation.created"], {"is_active": False}),
]


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
        ensure_admin(username, password)
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "  Webhook Portal demo is ready.",
                    "  URL:      http://127.0.0.1:8000/admin/",
                    f"  Username: {username}",
                    f"  Password: {password}",
                    "",
                ]
            )
        )
