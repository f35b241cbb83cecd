from django.apps import AppConfig


class DeliveriesConfig(AppConfig):
    name = "deliveries"
    verbose_name = "Deliveries"

    def ready(self):
        # Register the engine's tasks in every process (web, worker, shell): the engine
        # queues some by name (wake-ups, health emails) and cannot import them itself.
        from deliveries.engine import tasks  # noqa: F401
