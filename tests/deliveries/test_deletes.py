"""What goes with a deleted webhook, event or event type. The copied columns (a delivery's
event type, an attempt's webhook) and a delivery's event (written with it) have no
database constraint on PostgreSQL: Django's on_delete must still do what a constraint
would have guarded."""

from deliveries.models import Delivery, DeliveryAttempt
from tests.factories import make_delivery, make_event_type, make_webhook
from webhooks.models import Event


def test_deleting_a_webhook_deletes_its_deliveries_and_attempts(db):
    gone, kept = make_webhook(), make_webhook()
    make_delivery(gone, attempts=2)
    make_delivery(kept, attempts=1)

    gone.delete()

    assert list(Delivery.objects.values_list("webhook_id", flat=True)) == [kept.pk]
    assert list(DeliveryAttempt.objects.values_list("webhook_id", flat=True)) == [kept.pk]


def test_deleting_an_event_type_keeps_its_deliveries_without_a_type(db):
    kind = make_event_type()
    delivery = make_delivery(attempts=1, event_type=kind)

    kind.delete()

    delivery.refresh_from_db()
    assert delivery.event_type_id is None
    assert delivery.attempts.count() == 1


def test_deleting_an_event_deletes_its_deliveries_and_attempts(db):
    kind = make_event_type()
    gone, kept = (Event.objects.create(event_type=kind, payload={}) for _ in range(2))
    make_delivery(event=gone, event_type=kind, attempts=2)
    survivor = make_delivery(event=kept, event_type=kind, attempts=1)

    gone.delete()

    assert list(Delivery.objects.values_list("pk", flat=True)) == [survivor.pk]
    assert list(DeliveryAttempt.objects.values_list("delivery_id", flat=True)) == [survivor.pk]
