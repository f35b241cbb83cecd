import random
import time
import uuid

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from deliveries.engine import emit
from webhooks.demo import EVENT_TYPES
from webhooks.models import EventType

DEMO_TYPES = [name for name, _, _ in EVENT_TYPES]

PRODUCTS = ["Studio Pro", "Analytics Plus", "Team Vault", "Edge Gateway"]
USERS = ["ada@example.com", "grace@example.com", "linus@example.com", "margaret@example.com"]


def demo_event_type() -> str | None:
    """One of the demo's own event types still in the catalogue, at random: an admin's
    new types get no made-up events."""
    names = list(EventType.objects.filter(name__in=DEMO_TYPES).values_list("name", flat=True))
    return random.choice(names) if names else None


def demo_payload(event_type: str) -> dict:
    category = event_type.split(".")[0]
    payload = {"id": str(uuid.uuid4()), "account_id": random.randint(1000, 9999)}
    if category == "license":
        payload |= {
            "license_key": f"LIC-{random.randint(100000, 999999)}",
            "product": random.choice(PRODUCTS),
            "user": random.choice(USERS),
            "seats": random.randint(1, 50),
        }
    elif category == "activation":
        payload |= {"device": f"device-{random.randint(1, 500)}", "user": random.choice(USERS)}
    elif category == "product":
        payload |= {"product": random.choice(PRODUCTS), "price": random.choice([49, 99, 199])}
    else:
        payload |= {"user": random.choice(USERS), "plan": random.choice(["free", "team", "pro"])}
    return payload


class Command(BaseCommand):
    help = "Emit realistic demo events every few seconds (started by `make run`)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--interval", type=float, default=3.0, help="mean seconds between events"
        )

    def handle(self, interval, **options):
        self.stdout.write("Demo traffic: emitting an event every few seconds", ending="\n")
        self.stdout.flush()
        try:
            while True:
                close_old_connections()
                name = demo_event_type()
                if name:
                    event, _ = emit(name, demo_payload(name))
                    self.stdout.write(f"emitted {name} #{event.pk}")
                    self.stdout.flush()
                time.sleep(random.expovariate(1 / interval))
        except KeyboardInterrupt:
            pass
