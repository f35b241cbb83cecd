from django.core.management.base import BaseCommand

from campaigns import demo, demo_campaigns


class Command(BaseCommand):
    help = (
        "Load the demo audience of `make run`: profiles, 60 days of their app events and "
        "saved segments, then one demo campaign of each delivery type. Loads only what "
        "is not there already."
    )

    def add_arguments(self, parser):
        parser.add_argument("--profiles", type=int, default=demo.PROFILES)
        parser.add_argument("--seed", type=int, default=demo.SEED)

    def handle(self, profiles, seed, **options):
        loaded = demo.load(count=profiles, seed=seed)
        if not loaded.profiles:
            self.stdout.write("Demo audience: already loaded, nothing to do.")
        else:
            self.stdout.write(
                f"Demo audience: {loaded.profiles:,} profiles, {loaded.events:,} events, "
                f"{loaded.segments} segments."
            )
        campaigns = demo_campaigns.load()
        if campaigns.campaigns:
            self.stdout.write(
                f"Demo campaigns: {campaigns.campaigns} published, the one-time one sent "
                f"({campaigns.deliveries:,} payloads queued)."
            )
