from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from webhooks.models import ActivityEntry, ApiKey


class Command(BaseCommand):
    help = (
        "Create a key for the JSON API and print it on the last line. The key is shown "
        "only this once: only its hash is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the key is for, e.g. the system that uses it.")

    def handle(self, name, **options):
        name = name.strip()
        if not name:
            raise CommandError("The name cannot be blank.")
        max_length = ApiKey._meta.get_field("name").max_length
        if len(name) > max_length:
            raise CommandError(f"The name can be at most {max_length} characters.")
        with transaction.atomic():
            key, raw_key = ApiKey.issue(name)
            ActivityEntry.record("api_key.created", f"API key “{key}” created")
        self.stdout.write(f"API key “{name}” created. Store it now; it is not shown again:")
        self.stdout.write(raw_key)
