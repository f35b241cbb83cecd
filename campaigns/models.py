from django.db import models


class Campaign(models.Model):
    """A campaign streams batched payloads about a segment of profiles to one webhook.

    Segments, schedules and fan-out arrive with the campaigns issue; deliveries already
    point here so the log can tell campaign deliveries from event deliveries.
    """

    name = models.CharField(max_length=100)
    webhook = models.ForeignKey(
        "webhooks.Webhook", on_delete=models.PROTECT, related_name="campaigns"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name
