from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        # The events API hands user events over by signal: deliveries may not import us.
        from deliveries.signals import user_event

        user_event.connect(record_user_event, dispatch_uid="campaigns.record_user_event")


def record_user_event(sender, identity, name, properties, occurred_at, **kwargs):
    from campaigns import tasks
    from campaigns.profiles import records

    event = records.record_event(identity, name, properties, occurred_at)
    tasks.queue_live(event)  # its live triggers, in this transaction
    return event
